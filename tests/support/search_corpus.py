"""Pages for the search tests, at known capture times: WARC files written with warcio and
brought in with `refuge import` (storage.imports), which indexes them as a capture's end does.

The corpus (`import_corpus`): two news targets and their pages in Khmer and English, captured
in 2019, 2021, 2023 and 2024; the 2024 capture has one page unchanged since 2019 and one
changed. Every page carries the same navigation and footer (NAV_WORD, FOOTER_WORD), which
search must not see.
"""

from __future__ import annotations

import uuid
from io import BytesIO
from pathlib import Path

from sqlalchemy import Engine
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refuge.config.settings import Settings
from refuge.storage.imports.importer import import_archives

KM, EN = "https://km.example/", "https://en.example/"
LAND_GRAB = "ការរំលោភយកដីធ្លី"  # "land grabbing"
ABSENT = "ព្រះរាជក្រឹត្យ"  # "royal decree": on no page of the corpus
NAV_WORD, FOOTER_WORD = "ម៉ឺនុយដើម", "footerword"
OLD_SCHOOL, NEW_SCHOOL = "ត្រឡប់ទៅសាលារៀនវិញ", "សាលារៀនថ្មីមួយ"


def html(title: str, body: str, lang: str = "km") -> bytes:
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
            f'<script>var x = "scriptword";</script></head><body>'
            f'<header><nav><a href="/">{NAV_WORD}</a> menu</nav></header>'
            f'<article><h1>{title}</h1>{body}</article>'
            f'<aside>asideword</aside><footer>© {FOOTER_WORD}</footer></body></html>').encode()


PAGES_2019 = {
    KM + "land.html": html("ជម្លោះដីធ្លីនៅកោះកុង",
                           f"<p>នៅខេត្តកោះកុង ប្រជាពលរដ្ឋបានតវ៉ាប្រឆាំងនឹង{LAND_GRAB}របស់ក្រុមហ៊ុនឯកជន"
                           "ដែលបានកាប់ឆ្ការព្រៃឈើជាច្រើនហិកតា។</p>"),
    KM + "school.html": html("ការអប់រំ", f"<p>សិស្សានុសិស្សបាន{OLD_SCHOOL}បន្ទាប់ពីវិស្សមកាល។</p>"),
    KM + "market.html": html("ផ្សារ", "<p>តម្លៃស្រូវនៅ Battambang បានកើនឡើងខ្លាំង។</p>"),
}
PAGES_2021 = {
    EN + "harvest.html": html("A late harvest", "<p>Farmers said the harvest came late this year.</p>", "en"),
}
PAGES_2023 = {
    EN + "land-grab.html": html("Land grab in Koh Kong",
                                f"<p>Villagers in Koh Kong protested against the land grab ({LAND_GRAB}) "
                                "by a private company. Farmers lost their fields.</p>", "en"),
    EN + "rice.html": html("Rice prices in Battambang", "<p>Prices rose again, 50% in_all, traders said.</p>", "en"),
}
PAGES_2024 = {
    KM + "land.html": PAGES_2019[KM + "land.html"],  # unchanged
    KM + "school.html": html("ការអប់រំ", f"<p>ក្រសួងបានបើក{NEW_SCHOOL}នៅខេត្តកំពត។</p>"),
}


def utf8_database(postgres_server) -> str:
    """A new database on POSTGRES_SERVER (conftest's fixture) whose LC_CTYPE is C.UTF-8, as
    docs/search.md asks: pg_trgm reads Khmer letters as letters there. Its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    name = "s" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server.admin_dsn(), autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' "
                             "LC_CTYPE 'C.UTF-8'").format(sql.Identifier(name)))
    return postgres_server.url_for(name)


def write_warc(path: Path, date: str, pages: dict[str, bytes],
               content_type: str = "text/html; charset=utf-8") -> Path:
    """A WARC file at PATH of request/response pairs for PAGES (URL -> body), all dated DATE
    (ISO 8601); a body given as (bytes, content type) is served with that type."""
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body in pages.items():
            ctype = content_type
            if isinstance(body, tuple):
                body, ctype = body
            head = StatusAndHeaders("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            response = writer.create_warc_record(url, "response", payload=BytesIO(body), length=len(body),
                                                 http_headers=head, warc_headers_dict={"WARC-Date": date})
            request = writer.create_warc_record(url, "request", payload=BytesIO(b""), length=0, http_headers=(
                StatusAndHeaders("GET / HTTP/1.1", [("Host", url.split("/")[2])], is_http_request=True)),
                warc_headers_dict={"WARC-Date": date})
            writer.write_request_response_pair(request, response)
    return path


def import_pages(settings: Settings, engine: Engine, name: str, date: str, pages: dict[str, bytes],
                 folder: Path) -> dict:
    """PAGES imported as one capture of target NAME dated DATE: its summary."""
    folder.mkdir(parents=True, exist_ok=True)
    warc = write_warc(folder / f"{name}-{date[:10]}.warc.gz", date, pages)
    return import_archives(settings, engine, name, [warc])


def import_corpus(settings: Settings, engine: Engine, folder: Path) -> dict[str, dict]:
    """The corpus as captures of targets km-news and en-news: {label: capture summary}."""
    return {
        "km-2019": import_pages(settings, engine, "km-news", "2019-06-01T08:00:00Z", PAGES_2019, folder),
        "en-2021": import_pages(settings, engine, "en-news", "2021-11-05T08:00:00Z", PAGES_2021, folder),
        "en-2023": import_pages(settings, engine, "en-news", "2023-07-01T08:00:00Z", PAGES_2023, folder),
        "km-2024": import_pages(settings, engine, "km-news", "2024-02-10T08:00:00Z", PAGES_2024, folder),
    }
