"""A fixture site that looks like Kamnotra (kamnotra.io), for the ``database`` target kind.

Kamnotra (Cambodian Center for Independent Media) is a public-records database in Khmer
and English. Its "Gazetteer" indexes Royal Gazette documents (sub-decrees, land grants,
appointments) with a scanned image or a PDF each; "In Dispute" maps land conflicts from a
JSON API. Everything here is generated in Python, deterministically, with invented figures.

A threaded HTTP/1.1 server (keep-alive) on 127.0.0.1 on a free port. State (``records``,
``disputes``) is read on every request, so the mutators take effect at once.

URL map (LANG is ``en`` or ``km``):

===============================  ===========================================================
/robots.txt                      ``Allow: /`` for everyone
/moved/PATH                      301 to /PATH (a page that moved: http to https, a new slug)
/                                home: links to both sections in both languages
/LANG/gazetteer?page=N           10 records a page in id order: ``a.record-link`` (href
                                 ``/LANG/gazetteer/records/ID``), ``p.result-count`` ("Showing
                                 1–10 of 23 documents" / "បង្ហាញ ១–១០ នៃឯកសារ ២៣", Khmer digits),
                                 ``<a rel="next" href="?page=N+1">`` while there is a next page;
                                 past the end (or after ``stop_listing_after``): 200, no records
/LANG/gazetteer/records/ID       ``<h1>`` title, ``<time datetime>``, ``span.ministry``,
                                 ``span.kind``, ``a.attachment`` (pdf) or ``img.scan`` (image);
                                 404 for unknown or removed ids
/files/gazette-ID.pdf            a small valid PDF carrying the English title
/scans/gazette-ID.jpg            an 8x8 grey baseline JPEG (image/jpeg)
/api/disputes?page=N             JSON, 3 items a page: {"data": [...], "meta": {"total", "page"},
                                 "links": {"next": "/api/disputes?page=N+1" | null}}
/LANG/in-dispute                 the map page (JS-driven: no links to the disputes)
/LANG/in-dispute/ID              one dispute, ``<h1>`` name
/static/site.css, /static/logo.png   shared by every HTML page
===============================  ===========================================================
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import html
import http.server
import json
import re
import struct
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from typing import Any, Self

from servers import free_port

PAGE_SIZE = 10
API_PAGE_SIZE = 3
UNIQUE_KM_WORD = "ស្វាយចន្ទី"  # "cashew": in the middle of record 17's Khmer title only
UNIQUE_RECORD_ID = 17
LANGS = ("km", "en")
HTML_TYPE = "text/html; charset=utf-8"

KINDS = {"sub-decree": ("អនុក្រឹត្យ", "Sub-Decree"), "royal decree": ("ព្រះរាជក្រឹត្យ", "Royal Decree"),
         "prakas": ("ប្រកាស", "Prakas"), "decision": ("សេចក្តីសម្រេច", "Decision"),
         "royal kram": ("ព្រះរាជក្រម", "Royal Kram")}
_MINISTRIES = [("ក្រសួងកសិកម្ម រុក្ខាប្រមាញ់ និងនេសាទ", "Ministry of Agriculture, Forestry and Fisheries"),
               ("ក្រសួងបរិស្ថាន", "Ministry of Environment"),
               ("ក្រសួងរៀបចំដែនដី នគរូបនីយកម្ម និងសំណង់",
                "Ministry of Land Management, Urban Planning and Construction"),
               ("ក្រសួងមហាផ្ទៃ", "Ministry of Interior"),
               ("ក្រសួងសេដ្ឋកិច្ច និងហិរញ្ញវត្ថុ", "Ministry of Economy and Finance")]
# (subject km, subject en, ministry, kind, has an area)
_SUBJECTS = [("ការផ្តល់ដីសម្បទានសេដ្ឋកិច្ច", "the Granting of an Economic Land Concession", 0, "sub-decree", True),
             ("ការផ្ទេរដីរដ្ឋសាធារណៈទៅជាដីរដ្ឋឯកជន", "the Transfer of State Public Land to State Private Land",
              4, "sub-decree", True),
             ("ការតែងតាំងអភិបាលរង", "the Appointment of a Deputy Governor", 3, "royal decree", False),
             ("ការបង្កើតតំបន់ការពារធម្មជាតិ", "the Establishment of a Natural Protected Area", 1, "royal decree", True),
             ("ការផ្តល់ដីសម្បទានសង្គមកិច្ច", "the Granting of a Social Land Concession", 2, "prakas", True),
             ("ការកែសម្រួលព្រំប្រទល់ដែនជម្រកសត្វព្រៃ", "the Adjustment of Wildlife Sanctuary Boundaries",
              1, "sub-decree", True),
             ("ការចុះបញ្ជីដីសមូហភាពសហគមន៍ជនជាតិដើមភាគតិច",
              "the Collective Land Registration of an Indigenous Community", 2, "prakas", True),
             ("ការដកហូតដីសម្បទានសេដ្ឋកិច្ចមកវិញ", "the Revocation of an Economic Land Concession", 0, "decision", True)]
_PROVINCES = [("រតនគិរី", "Ratanakiri"), ("មណ្ឌលគិរី", "Mondulkiri"), ("កោះកុង", "Koh Kong"),
              ("ព្រះវិហារ", "Preah Vihear"), ("កំពង់ស្ពឺ", "Kampong Speu"), ("ស្ទឹងត្រែង", "Stung Treng"),
              ("ពោធិ៍សាត់", "Pursat"), ("សៀមរាប", "Siem Reap"), ("ក្រចេះ", "Kratie"),
              ("ឧត្តរមានជ័យ", "Oddar Meanchey"), ("កំពត", "Kampot")]
_KM_MONTHS = ["មករា", "កុម្ភៈ", "មីនា", "មេសា", "ឧសភា", "មិថុនា", "កក្កដា", "សីហា", "កញ្ញា", "តុលា", "វិច្ឆិកា", "ធ្នូ"]
_EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December"]


def km_digits(value: int | str) -> str:
    """'23' -> '២៣'."""
    return str(value).translate({ord("0") + i: 0x17E0 + i for i in range(10)})


@dataclass
class Record:
    id: int
    title_km: str
    title_en: str
    kind: str  # a key of KINDS, e.g. "sub-decree"
    date: str  # yyyy-mm-dd
    ministry_km: str
    ministry_en: str
    attachment: str  # "pdf" or "image"


@dataclass
class Dispute:
    id: int
    name_km: str
    name_en: str
    province: str
    lat: float
    lng: float
    households: int
    status: str


def make_record(rid: int) -> Record:
    """The deterministic default record number ``rid``."""
    s_km, s_en, ministry, kind, has_area = _SUBJECTS[(rid - 1) % len(_SUBJECTS)]
    p_km, p_en = _PROVINCES[(rid - 1) % len(_PROVINCES)]
    kind_km, kind_en = KINDS[kind]
    area = 500 + rid * 1237 % 9000
    crop_km, crop_en = (f" សម្រាប់ដាំដំណាំ {UNIQUE_KM_WORD}", " for a Cashew Plantation") \
        if rid == UNIQUE_RECORD_ID else ("", "")
    day = dt.date(2011, 1, 3) + dt.timedelta(days=rid * 97 + rid * rid % 13)
    if has_area:
        title_km = f"{kind_km}ស្តីពី{s_km}{crop_km} ផ្ទៃដី {km_digits(area)} ហិកតា ស្ថិតនៅខេត្ត{p_km}"
        title_en = f"{kind_en} on {s_en}{crop_en} of {area:,} Hectares in {p_en} Province"
    else:
        title_km = f"{kind_km}ស្តីពី{s_km} នៃគណៈអភិបាលខេត្ត{p_km} ឆ្នាំ{km_digits(day.year)}"
        title_en = f"{kind_en} on {s_en} of the {p_en} Provincial Board of Governors, {day.year}"
    return Record(rid, title_km, title_en, kind, day.isoformat(), *_MINISTRIES[ministry],
                  "image" if rid % 3 == 0 else "pdf")


_DISPUTES = [("បឹងកក់", "Boeung Kak Lake", "Phnom Penh", 11.5797, 104.9133, 4252, "resolved"),
             ("បុរីកីឡា", "Borei Keila", "Phnom Penh", 11.5606, 104.9049, 1776, "ongoing"),
             ("អូរយ៉ាដាវ", "O Yadav rubber concession", "Ratanakiri", 13.7402, 107.4511, 312, "ongoing"),
             ("អមលាំង", "Omlaing sugar plantation", "Kampong Speu", 11.6214, 104.2703, 1024, "in court"),
             ("ស្រែអំបិល", "Sre Ambel sugar concession", "Koh Kong", 11.1207, 103.7460, 456, "ongoing"),
             ("ប៊ូស្រា", "Bousra community forest", "Mondulkiri", 12.3812, 107.4530, 830, "mediation"),
             ("ព្រៃឡង់", "Prey Lang forest clearing", "Kampong Thom", 12.9261, 105.5447, 275, "ongoing")]


def make_disputes() -> list[Dispute]:
    return [Dispute(i, f"ជម្លោះដីធ្លីនៅ{km}", f"{en} land dispute", prov, lat, lng, hh, st)
            for i, (km, en, prov, lat, lng, hh, st) in enumerate(_DISPUTES, start=1)]


def dispute_item(d: Dispute) -> dict[str, Any]:
    """A dispute exactly as the API serves it."""
    return {"id": d.id, "name": {"km": d.name_km, "en": d.name_en}, "province": d.province,
            "coordinates": {"lat": d.lat, "lng": d.lng}, "households": d.households, "status": d.status}


def _pdf_string(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf_bytes(r: Record) -> bytes:
    """A one-page PDF 1.4 with the English title as text and as /Title, with a correct xref."""
    title = _pdf_string(r.title_en)
    stream = b"BT /F1 11 Tf 56 780 Td " + title + b" Tj 0 -18 Td " + _pdf_string(r.date) + b" Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >>"
                b" /Contents 4 0 R >>"),
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>", b"<< /Title " + title + b" >>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def _seg(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def jpeg_bytes(r: Record) -> bytes:
    """A valid 8x8 grey baseline JPEG (one DC-only block, quantiser 1) with a COM segment."""
    dc = 8 * (40 + r.id * 37 % 170 - 128)
    cat = abs(dc).bit_length()
    bits = "0" + (format(dc if dc >= 0 else dc + (1 << cat) - 1, f"0{cat}b") if cat else "") + "0"
    bits += "1" * (-len(bits) % 8)
    data = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    return (b"\xff\xd8" + _seg(0xFFFE, b"Kamnotra gazette-%d" % r.id) + _seg(0xFFDB, b"\x00" + b"\x01" * 64)
            + _seg(0xFFC0, bytes([8, 0, 8, 0, 8, 1, 1, 0x11, 0]))
            + _seg(0xFFC4, bytes([0x00, 1] + [0] * 15 + [cat])) + _seg(0xFFC4, bytes([0x10, 1] + [0] * 16))
            + _seg(0xFFDA, bytes([1, 1, 0, 0, 63, 0])) + data + b"\xff\xd9")


LOGO_PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mPYLC0NAAJuAOoEt+Q0AAAAAElFTkSuQmCC")  # a 1x1 red PNG
SITE_CSS = b"body{font-family:'Noto Sans Khmer',sans-serif;margin:2em}.record-link{display:block}\n"
_PAGE = re.compile(r"^/(en|km)/(gazetteer|in-dispute)(?:/records/(\d+)|/(\d+))?/?$")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: KamnotraSite


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Kamnotra/1.0"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle(True)

    def do_HEAD(self) -> None:
        self._handle(False)

    def _handle(self, send_body: bool) -> None:
        site = self.server.site
        with site._lock:
            site._log.append(self.path)
            status, ctype, body = site._route(self.path)
        try:
            self.send_response(status)
            if status == 301:  # /moved/PATH: the page now lives at /PATH
                self.send_header("Location", self.path[len("/moved"):])
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body:
                self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _page(lang: str, title: str, body: str) -> bytes:
    other = "km" if lang == "en" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)} | Kamnotra</title>\n"
            '<link rel="stylesheet" href="/static/site.css">\n</head>\n<body>\n<header>'
            f'<a href="/"><img class="logo" src="/static/logo.png" alt="Kamnotra"></a> '
            f'<a hreflang="{other}" href="/{other}/gazetteer">{"English" if other == "en" else "ខ្មែរ"}</a>'
            f"</header>\n<main>\n{body}\n</main>\n</body>\n</html>\n").encode()


def _human_date(iso: str, lang: str) -> str:
    d = dt.date.fromisoformat(iso)
    if lang == "km":
        return f"ថ្ងៃទី{km_digits(d.day)} ខែ{_KM_MONTHS[d.month - 1]} ឆ្នាំ{km_digits(d.year)}"
    return f"{d.day} {_EN_MONTHS[d.month - 1]} {d.year}"


class KamnotraSite:
    """The Kamnotra look-alike. ``with KamnotraSite() as site:`` or ``start()`` / ``stop()``."""

    def __init__(self, n_records: int = 23, port: int | None = None) -> None:
        self.records: list[Record] = [make_record(i) for i in range(1, n_records + 1)]
        self.disputes: list[Dispute] = make_disputes()
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._lock = threading.RLock()
        self._log: list[str] = []
        self._stop_after: int | None = None
        self._failing: dict[int, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), _Handler)
            self._server.site = self
            self._thread = threading.Thread(target=self._server.serve_forever, name="kamnotra",
                                            kwargs={"poll_interval": 0.05}, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lookups -------------------------------------------------------------------

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")

    def record(self, rid: int) -> Record:
        with self._lock:
            for r in self.records:
                if r.id == rid:
                    return r
        raise KeyError(rid)

    def record_url(self, rid: int, lang: str = "en") -> str:
        return self.url(f"/{lang}/gazetteer/records/{rid}")

    def attachment_path(self, rid: int) -> str:
        return f"/files/gazette-{rid}.pdf" if self.record(rid).attachment == "pdf" else f"/scans/gazette-{rid}.jpg"

    def attachment_bytes(self, rid: int) -> bytes:
        r = self.record(rid)
        return pdf_bytes(r) if r.attachment == "pdf" else jpeg_bytes(r)

    @property
    def requests_log(self) -> list[str]:
        """Every request path (with its query) in arrival order, HEAD included."""
        with self._lock:
            return list(self._log)

    def fetched_twice(self) -> list[str]:
        """Paths requested more than once (should be [] after one capture)."""
        return sorted(p for p, n in Counter(self.requests_log).items() if n > 1)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- mutators ------------------------------------------------------------------

    def add_record(self, **fields: Any) -> Record:
        """A new record (next free id unless ``id=`` is given) with the fields given over defaults."""
        with self._lock:
            rid = fields.pop("id", max((r.id for r in self.records), default=0) + 1)
            if any(r.id == rid for r in self.records):
                raise ValueError(f"record {rid} exists")
            record = dataclasses.replace(make_record(rid), **fields)
            self.records.append(record)
            self.records.sort(key=lambda r: r.id)
            return record

    def change_record(self, rid: int, **changes: Any) -> Record:
        with self._lock:
            new = dataclasses.replace(self.record(rid), **changes)
            self.records[self.records.index(self.record(rid))] = new
            return new

    def remove_record(self, rid: int) -> None:
        with self._lock:
            self.records.remove(self.record(rid))

    def stop_listing_after(self, page: int | None) -> None:
        """Listing pages after ``page`` come back 200 and empty; the stated total stays full (None undoes)."""
        with self._lock:
            self._stop_after = page

    def fail_attachment(self, rid: int, status: int | None = 500) -> None:
        """Serve ``status`` for record ``rid``'s attachment (None serves it again)."""
        with self._lock:
            if status is None:
                self._failing.pop(rid, None)
            else:
                self._failing[rid] = status

    # -- specs and expectations ----------------------------------------------------

    def gazetteer_spec(self) -> str:
        return (f'[listing]\nurl = "{self.base}/en/gazetteer?page={{page}}"\nfirst = 1\n'
                'records = "a.record-link"\ntotal = ".result-count"\n'
                '[record]\nid = "/gazetteer/records/(\\\\d+)"\nlanguages = ["km", "en"]\n'
                'fields = { title = "h1", date = "time::attr(datetime)", ministry = ".ministry", kind = ".kind" }\n'
                'attachments = "a.attachment, img.scan"\n')

    def disputes_spec(self) -> str:
        return (f'[api]\nurl = "{self.base}/api/disputes?page={{page}}"\nfirst = 1\nitems = "data"\n'
                'id = "id"\nnext = "links.next"\ntotal = "meta.total"\n'
                f'record_url = "{self.base}/{{lang}}/in-dispute/{{id}}"\n'
                '[record]\nlanguages = ["km", "en"]\nfields = { name = "h1" }\n')

    def gazetteer_expected(self) -> list[dict[str, str | int]]:
        """One row per current record and language (id order, then km, en), as a correct
        extractor of ``gazetteer_spec()`` yields them; attachment hashes ignore fail_attachment."""
        rows: list[dict[str, str | int]] = []
        with self._lock:
            for r in self.records:
                body = self.attachment_bytes(r.id)
                for lang in LANGS:
                    title, ministry = (r.title_km, r.ministry_km) if lang == "km" else (r.title_en, r.ministry_en)
                    rows.append({"id": str(r.id), "lang": lang, "url": self.record_url(r.id, lang),
                                 "title": " ".join(title.split()), "date": r.date,
                                 "ministry": " ".join(ministry.split()),
                                 "kind": KINDS.get(r.kind, (r.kind, r.kind))[lang == "en"],
                                 "attachment_url": self.url(self.attachment_path(r.id)),
                                 "attachment_sha256": hashlib.sha256(body).hexdigest(),
                                 "attachment_size": len(body)})
        return rows

    def disputes_expected(self) -> list[dict[str, Any]]:
        """The API items, whole, in order."""
        with self._lock:
            return [dispute_item(d) for d in self.disputes]

    # -- routing (called with the lock held) -----------------------------------------

    def _route(self, target: str) -> tuple[int, str, bytes]:
        split = urllib.parse.urlsplit(target)
        path, query = split.path, urllib.parse.parse_qs(split.query)
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", b"User-agent: *\nAllow: /\n"
        if path.startswith("/moved/"):
            return 301, HTML_TYPE, b"<p>Moved</p>"
        if path == "/static/site.css":
            return 200, "text/css; charset=utf-8", SITE_CSS
        if path == "/static/logo.png":
            return 200, "image/png", LOGO_PNG
        if path == "/":
            links = "".join(f'<li><a href="/{lg}/gazetteer">{t}</a> <a href="/{lg}/in-dispute">{d}</a></li>'
                            for lg, t, d in (("en", "Gazetteer", "In Dispute"), ("km", "រាជកិច្ច", "ជម្លោះ")))
            return 200, HTML_TYPE, _page("en", "Kamnotra", f"<h1>Kamnotra</h1><ul>{links}</ul>")
        page = (query.get("page") or ["1"])[0]
        if path == "/api/disputes":
            return self._api(int(page)) if page.isdigit() else self._not_found()
        m = re.match(r"^/(files|scans)/gazette-(\d+)\.(pdf|jpg)$", path)
        if m:
            return self._attachment(int(m.group(2)), m.group(1) + "/" + m.group(3))
        m = _PAGE.match(path)
        if not m:
            return self._not_found()
        lang, section, rid, did = m.groups()
        if section == "gazetteer" and rid:
            return self._record_page(lang, int(rid))
        if section == "gazetteer":
            return self._listing(lang, int(page)) if page.isdigit() else self._not_found()
        if did:
            return self._dispute_page(lang, int(did))
        return 200, HTML_TYPE, _page(lang, "In Dispute", '<h1>In Dispute</h1><div id="map" '
                                     'data-api="/api/disputes?page=1"></div>')

    def _not_found(self) -> tuple[int, str, bytes]:
        return 404, HTML_TYPE, _page("en", "Not found", "<h1>Not found</h1>")

    def _listing(self, lang: str, page: int) -> tuple[int, str, bytes]:
        total = len(self.records)
        start = (page - 1) * PAGE_SIZE
        shown = [] if page < 1 or (self._stop_after is not None and page > self._stop_after) \
            else self.records[start:start + PAGE_SIZE]
        items = "\n".join(f'<li><a class="record-link" href="/{lang}/gazetteer/records/{r.id}">'
                          f"{html.escape(r.title_km if lang == 'km' else r.title_en)}</a> "
                          f"<small>{_human_date(r.date, lang)}</small></li>" for r in shown)
        if lang == "km":
            span = f"{km_digits(start + 1)}–{km_digits(start + len(shown))}" if shown else "០"
            count, title, nxt = f"បង្ហាញ {span} នៃឯកសារ {km_digits(total)}", "រាជកិច្ច", "បន្ទាប់"
        else:
            span = f"{start + 1}–{start + len(shown)}" if shown else "0"
            count, title, nxt = f"Showing {span} of {total} documents", "Gazetteer", "Next"
        more = f'<a rel="next" href="?page={page + 1}">{nxt}</a>' if shown and start + len(shown) < total else ""
        body = f'<h1>{title}</h1>\n<p class="result-count">{count}</p>\n<ul class="records">\n{items}\n</ul>\n{more}'
        return 200, HTML_TYPE, _page(lang, title, body)

    def _record_page(self, lang: str, rid: int) -> tuple[int, str, bytes]:
        try:
            r = self.record(rid)
        except KeyError:
            return self._not_found()
        title = r.title_km if lang == "km" else r.title_en
        path = self.attachment_path(rid)
        attachment = (f'<a class="attachment" href="{path}">PDF</a>' if r.attachment == "pdf"
                      else f'<img class="scan" src="{path}" alt="">')
        kind = KINDS.get(r.kind, (r.kind, r.kind))[lang == "en"]
        ministry = r.ministry_km if lang == "km" else r.ministry_en
        body = (f"<article>\n<h1>\n  {html.escape(title)}\n</h1>\n"
                f'<p><time datetime="{r.date}">{_human_date(r.date, lang)}</time> · '
                f'<span class="ministry">{html.escape(ministry)}</span> · '
                f'<span class="kind">{html.escape(kind)}</span></p>\n{attachment}\n</article>')
        return 200, HTML_TYPE, _page(lang, title, body)

    def _attachment(self, rid: int, kind: str) -> tuple[int, str, bytes]:
        try:
            r = self.record(rid)
        except KeyError:
            return self._not_found()
        if kind != ("files/pdf" if r.attachment == "pdf" else "scans/jpg"):
            return self._not_found()
        if rid in self._failing:
            return self._failing[rid], "text/plain; charset=utf-8", b"attachment unavailable\n"
        ctype = "application/pdf" if r.attachment == "pdf" else "image/jpeg"
        return 200, ctype, self.attachment_bytes(rid)

    def _api(self, page: int) -> tuple[int, str, bytes]:
        start = (page - 1) * API_PAGE_SIZE
        data = [dispute_item(d) for d in self.disputes[start:start + API_PAGE_SIZE]] if page >= 1 else []
        nxt = f"/api/disputes?page={page + 1}" if data and start + len(data) < len(self.disputes) else None
        doc = {"data": data, "meta": {"total": len(self.disputes), "page": page}, "links": {"next": nxt}}
        return 200, "application/json; charset=utf-8", json.dumps(doc, ensure_ascii=False).encode("utf-8")

    def _dispute_page(self, lang: str, did: int) -> tuple[int, str, bytes]:
        d = next((d for d in self.disputes if d.id == did), None)
        if d is None:
            return self._not_found()
        name = d.name_km if lang == "km" else d.name_en
        body = (f"<h1>{html.escape(name)}</h1>\n<p class=\"province\">{html.escape(d.province)}</p>\n"
                f'<p class="households">{d.households}</p>\n<p class="status">{d.status}</p>')
        return 200, HTML_TYPE, _page(lang, name, body)
