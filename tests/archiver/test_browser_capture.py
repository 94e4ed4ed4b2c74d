"""Browser mode against a site that builds its pages with JavaScript (tests/support/js_site.py).

The same site is captured twice into one archive: with plain fetches, which get the empty
shell, and in browser mode (headless Debian Chromium, --scroll, --click button#load-more),
which gets the JSON batches, the lazy images, the template bodies, a rendered DOM and a
screenshot per page. Everything is read back from the WARC files with warcio, digests
checked, and looked up through the catalog's index as replay and export will.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path

import js_site
import pytest
import servers
from warcio.archiveiterator import ArchiveIterator

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import index

pytestmark = pytest.mark.browser


def read_warcs(paths: list[str]) -> list[dict]:
    """Every record of PATHS, read with warcio checking both digests (raise on a mismatch)."""
    records = []
    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh, check_digests="raise"):
                records.append({"type": rec.rec_type, "url": rec.rec_headers.get_header("WARC-Target-URI") or "",
                                "warc": rec.rec_headers, "http": rec.http_headers, "payload": rec.content_stream().read()})
    return records


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    servers.need_chromium()
    data = tmp_path_factory.mktemp("data")
    settings = Settings(data=data, allow_private_networks=True, backoff=0.05, timeout=5, workers=2, processes=1,
                        browser_settle_seconds=5, browser_executable=servers.CHROMIUM)
    with js_site.serve_js_site() as site:
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url, name="plain", scope="host"))
        plain = run_capture(settings, engine, "plain")
        plain_hits = site.hits.paths()
        site.hits.clear()
        catalog.save_target(engine, make_target(site.url, name="js", scope="host", browser=True, scroll=True,
                                                click=["button#load-more"], max_clicks=3))
        rendered = run_capture(settings, engine, "js")
        yield {"site": site, "engine": engine, "plain": plain, "rendered": rendered, "plain_hits": plain_hits,
               "browser_hits": site.hits.paths(), "plain_records": read_warcs(plain["warcs"]),
               "records": read_warcs(rendered["warcs"])}


def one(records: list[dict], kind: str, url: str) -> dict:
    found = [r for r in records if r["type"] == kind and r["url"] == url]
    assert found, f"no {kind} record of {url}"
    return found[0]


def dom_of(captures, path: str) -> str:
    record = one(captures["records"], "resource", "urn:dom:" + captures["site"].abs(path))
    return record["payload"].decode("utf-8")


def test_plain_capture_gets_only_the_shell(captures) -> None:
    site, records = captures["site"], captures["plain_records"]
    urls = {r["url"] for r in records if r["type"] in ("response", "revisit")}
    home = one(records, "response", site.url)["payload"].decode("utf-8")
    for title in js_site.BATCH_1 + js_site.BATCH_2:
        assert title not in home
    assert not any("/api/articles" in u for u in urls), "a plain capture cannot know the API"
    assert not any(site.abs(image) in urls for image in js_site.IMAGES)
    assert not any(site.abs(a.path) in urls for a in js_site.ARTICLES), "article links exist only in the DOM"
    assert not any(r["type"] == "resource" for r in records)
    assert captures["plain"]["status"] == "complete"


def test_browser_capture_has_both_batches_in_the_rendered_dom(captures) -> None:
    dom = dom_of(captures, "/")
    titles = re.findall(r'<a class="title" href="([^"]+)">([^<]+)</a>', dom)
    assert titles == [(a.path, a.title) for a in js_site.ARTICLES]  # Khmer byte for byte, in order
    assert 'id="load-more"' in dom and "hidden" in re.search(r"<button[^>]*load-more[^>]*>", dom).group(0)


def test_api_answers_recorded_under_the_urls_the_script_made(captures) -> None:
    site, records = captures["site"], captures["records"]
    for page, api in enumerate(js_site.API_PATHS, 1):
        made = [r for r in records if r["type"] == "response" and r["url"].startswith(site.abs(api) + "&_=")]
        assert len(made) == 1, f"API page {page}: {[r['url'] for r in made]}"
        assert re.fullmatch(re.escape(site.abs(api)) + r"&_=\d{13}", made[0]["url"])
        assert made[0]["payload"] == site.file_bytes(api)
        assert made[0]["http"].get_header("Content-Type") == "application/json"


def test_every_lazy_image_is_recorded_and_shown(captures) -> None:
    site, dom = captures["site"], dom_of(captures, "/")
    for image in js_site.IMAGES:
        assert one(captures["records"], "response", site.abs(image))["payload"] == site.file_bytes(image)
        assert re.search(rf'<img class="lazy loaded"[^>]*src="{re.escape(image)}"', dom), image


def test_article_bodies_come_from_their_templates(captures) -> None:
    for article in js_site.ARTICLES:
        dom = dom_of(captures, article.path)
        story = re.search(r'<main id="story" data-rendered="yes">(.*?)</main>', dom, re.S)
        assert story and article.body in story.group(1), article.slug
        raw = one(captures["records"], "response", captures["site"].abs(article.path))["payload"].decode("utf-8")
        assert '<main id="story"></main>' in raw  # the record keeps the page as sent


def test_screenshots_are_full_page_pngs(captures) -> None:
    site = captures["site"]
    for path in ["/", "/about.html"] + [a.path for a in js_site.ARTICLES]:
        shot = one(captures["records"], "resource", "urn:screenshot:" + site.abs(path))
        assert shot["warc"].get_header("Content-Type") == "image/png"
        png = shot["payload"]
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width == 1280
        if path == "/":
            assert height > 1600 + 5 * 180  # the hero and every card: the whole page, not the viewport


def test_resources_are_dated_as_their_page_and_indexed(captures) -> None:
    site, engine, records = captures["site"], captures["engine"], captures["records"]
    for path in ["/", js_site.ARTICLES[0].path]:
        page = one(records, "response", site.abs(path))
        date = page["warc"].get_header("WARC-Date")
        for kind, mime in (("dom", "text/html"), ("screenshot", "image/png")):
            uri = f"urn:{kind}:{site.abs(path)}"
            record = one(records, "resource", uri)
            assert record["warc"].get_header("WARC-Date") == date
            hit = index.closest(engine, uri, "".join(c for c in date if c.isdigit()))
            assert hit is not None and hit.url == uri and hit.rectype == "resource" and hit.mime == mime
            assert hit.capture_id == captures["rendered"]["id"]
    assert record["warc"].get_header("Content-Type") == "image/png"
    assert one(records, "resource", "urn:dom:" + site.url)["warc"].get_header("Content-Type") == \
        "text/html; charset=utf-8"
    cdxj = "".join(Path(p).with_name(Path(p).name.replace(".warc.gz", ".cdxj")).read_text()
                   for p in captures["rendered"]["warcs"])
    assert f'"url": "urn:dom:{site.url}"' in cdxj and f'"url": "urn:screenshot:{site.url}"' in cdxj


def test_links_found_only_in_the_dom_were_crawled(captures) -> None:
    summary, hits = captures["rendered"], captures["browser_hits"]
    assert summary["status"] == "complete" and summary["failures"] == []
    for article in js_site.ARTICLES:
        assert hits.count(article.path) == 1, article.path  # fetched once, by its own page task
    assert summary["pages"] == 2 + len(js_site.ARTICLES)
    assert not any(h.startswith("/favicon") for h in hits)  # Chromium's own requests never go out


def test_what_every_page_uses_is_fetched_each_time_and_stored_as_revisits(captures) -> None:
    site, records = captures["site"], captures["records"]
    css = site.abs("/static/site.css")
    kinds = [r["type"] for r in records if r["url"] == css and r["type"] in ("response", "revisit")]
    pages = [r for r in records if r["type"] == "resource" and r["url"].startswith("urn:dom:")]
    assert len(kinds) == len(pages) > 1  # every page using it fetched it (each page loads it)
    # Whole once (twice at most, if the two fetching threads asked at the same moment), then revisits.
    assert kinds.count("revisit") >= len(pages) - 2
    revisits = [r for r in records if r["url"] == css and r["type"] == "revisit"]
    original = one(records, "response", css)
    assert all(r["warc"].get_header("WARC-Refers-To-Target-URI") == css and
               r["warc"].get_header("WARC-Payload-Digest") == original["warc"].get_header("WARC-Payload-Digest")
               for r in revisits)
    assert captures["rendered"]["revisits"] >= len(revisits)


def test_warc_files_pass_warcio_check(captures) -> None:
    for path in captures["rendered"]["warcs"]:
        result = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v", path],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "digest pass" in result.stdout and "fail" not in result.stdout


def test_compressed_bytes_are_recorded_as_sent_and_rendered_decoded(tmp_settings, fixture_site) -> None:
    servers.need_chromium()
    settings = tmp_settings.replace(workers=1, processes=1, browser_settle_seconds=3,
                                    browser_executable=servers.CHROMIUM)
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(fixture_site.abs("/gzip.html"), name="gz", scope="page", browser=True))
    summary = run_capture(settings, engine, "gz")
    records = read_warcs(summary["warcs"])
    page = fixture_site.abs("/gzip.html")
    sent = [r for r in records if r["type"] == "response" and r["url"] == page][0]
    assert sent["http"].get_header("Content-Encoding") == "gzip"
    with open(summary["warcs"][0], "rb") as fh:  # the payload before warcio undoes the encoding
        raw = next(rec.raw_stream.read() for rec in ArchiveIterator(fh)
                   if rec.rec_type == "response" and rec.rec_headers.get_header("WARC-Target-URI") == page)
    assert raw == fixture_site.file_bytes("/gzip.html")
    dom = one(records, "resource", "urn:dom:" + page)["payload"].decode("utf-8")
    assert "<p>Paragraph 10: the page arrives in pieces, the way live blogs are streamed. សេរីភាពសារព័ត៌មាន។</p>" in dom
    assert one(records, "response", fixture_site.abs("/static/site.css"))["payload"] == \
        fixture_site.file_bytes("/static/site.css")
