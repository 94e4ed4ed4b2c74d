"""A browser-mode capture written directly with warcio, in the layout browser mode writes
(docs/capture.md, "Browser mode"): every response as a request/response pair, the rendered
DOM as a ``resource`` record ``urn:dom:<page URL>`` (text/html; charset=utf-8) and the
screenshot as a ``resource`` ``urn:screenshot:<page URL>`` (image/png), each record its own
gzip member, the file sealed, indexed (storage.warc.sealed.index_warc) and registered in the
catalog as one complete capture. For replay and export tests that need no browser.

    with BrowserWarc(settings, engine, "js", "https://kampuchea.example/") as w:
        w.response("https://kampuchea.example/", b"<html>...", "text/html; charset=utf-8", TS)
        w.dom("https://kampuchea.example/", b"<!DOCTYPE html>...", TS)
        w.screenshot("https://kampuchea.example/", png_bytes, TS)

``js_site_capture(settings, engine)`` writes the JS news site of tests/support/js_site.py as
a browser capture of it would hold it, at ORIGIN (a host no test can reach): the shell pages,
scripts and stylesheet as served, both API batches under cache-busting queries, the images,
and rendered DOMs in which every article is listed (LAZY_LEFT's image never scrolled into
view: it has only its data-src) and each article's body cloned from its <template>; the
home page's DOM also holds the <noscript> notice and image fallbacks a page rendered with
scripting on keeps, unshown.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import js_site
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.warc import sealed

ORIGIN = "https://kampuchea.example"
SEED = ORIGIN + "/"
TS = "20261201080000"  # the home page's capture time
BUSTERS = ("1764576000123", "1764576001456")  # the `_=` values the two API calls were captured with
LAZY_LEFT = "mondulkiri-forest"  # its image never scrolled into view in the rendered DOM
# A page whose script asks for things in each way the replay script rewrites: it writes
# what came back into window.probe.
PROBE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>probe</title></head><body>
<div id="out"></div>
<script>
window.probe = {};
var xhr = new XMLHttpRequest();
xhr.open("GET", "/api/articles?page=1&_=" + Date.now());
xhr.withCredentials = true;
xhr.onload = function () { window.probe.xhr = JSON.parse(xhr.responseText).page; };
xhr.send();
fetch(new Request("api/articles?page=2&cb=" + Math.random(), {credentials: "include"}))
  .then(function (r) { return r.json(); }).then(function (d) { window.probe.request = d.page; });
var relative = document.createElement("img");
relative.id = "by-attribute";
relative.setAttribute("src", "img/garment-pay.png");
document.body.appendChild(relative);
var srcset = new Image();
srcset.id = "by-srcset";
srcset.srcset = "/img/commune-election.png 1x";
document.body.appendChild(srcset);
document.getElementById("out").innerHTML = '<img id="by-markup" src="/img/mekong-flood.png">';
history.pushState(null, "", "/probe.html?state=1");
</script>
</body></html>
""".encode()
NOSCRIPT_NOTICE = "You need to enable JavaScript to run this app."  # in the home page's rendered DOM
PAGE_SHOT = js_site.png(48, 96, (10, 120, 200))
ARTICLE_SHOT = js_site.png(48, 64, (200, 80, 10))


def _warc_date(ts: str) -> str:
    return datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(ts: str, seconds: int) -> str:
    when = datetime.strptime(ts, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp() + seconds
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y%m%d%H%M%S")


class BrowserWarc:
    """One capture of one target, in one WARC file, registered on close."""

    def __init__(self, settings: Settings, engine: Any, name: str, seed: str) -> None:
        self.settings, self.engine = settings, engine
        self.target, _ = catalog.save_target(engine, make_target(seed, name=name, scope="host", browser=True))
        self.capture_id = catalog.start_capture(engine, self.target, stale_seconds=600)
        folder = settings.archive_dir / name / self.capture_id
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.capture_id}-00001.warc.gz"
        self._fh = open(self.path.with_name(self.path.name + sealed.OPEN_SUFFIX), "wb")
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")

    def response(self, url: str, body: bytes, content_type: str, ts: str, status: int = 200) -> None:
        http = StatusAndHeaders(f"{status} OK", [("Content-Type", content_type),
                                                 ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
        record = self._writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                 http_headers=http,
                                                 warc_headers_dict={"WARC-Date": _warc_date(ts)})
        host = url.split("://", 1)[1].split("/", 1)[0]
        path = "/" + url.split("://", 1)[1].partition("/")[2]
        request = self._writer.create_warc_record(
            url, "request", payload=io.BytesIO(b""), length=0,
            http_headers=StatusAndHeaders(f"GET {path} HTTP/1.1", [("Host", host)], is_http_request=True),
            warc_headers_dict={"WARC-Date": _warc_date(ts),
                               "WARC-Concurrent-To": record.rec_headers.get_header("WARC-Record-ID")})
        self._writer.write_record(request)
        self._writer.write_record(record)

    def _resource(self, uri: str, data: bytes, content_type: str, ts: str) -> None:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        record = self._writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(data), length=len(data), warc_content_type=content_type,
            warc_headers_dict={"WARC-Date": _warc_date(ts), "WARC-Payload-Digest": digest,
                               "WARC-Block-Digest": digest})
        self._writer.write_record(record)

    def dom(self, page_url: str, html_bytes: bytes, ts: str) -> None:
        self._resource("urn:dom:" + page_url, html_bytes, "text/html; charset=utf-8", ts)

    def screenshot(self, page_url: str, png: bytes, ts: str) -> None:
        self._resource("urn:screenshot:" + page_url, png, "image/png", ts)

    def close(self) -> Path:
        self._fh.close()
        self.path.with_name(self.path.name + sealed.OPEN_SUFFIX).rename(self.path)
        rows, records = sealed.index_warc(self.path)
        data = self.path.read_bytes()
        sealed.register_sealed(self.engine, self.settings.data, self.capture_id, self.target.id, self.path,
                               hashlib.sha256(data).hexdigest(), len(data), records, rows)
        catalog.finish_capture(self.engine, self.capture_id, "complete", {"pages": len(rows), "files": 1,
                                                                          "bytes": len(data)})
        return self.path

    def __enter__(self) -> "BrowserWarc":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- the JS news site, as a browser capture holds it --------------------------------------

def _card(article: js_site.Article, loaded: bool) -> str:
    title = html.escape(article.title)
    src = f' src="{article.image}"' if loaded else ""
    lazy = "lazy loaded" if loaded else "lazy"
    return (f'<li class="card"><img class="{lazy}" width="320" height="180" alt="{title}" '
            f'data-src="{article.image}"{src}><h2><a class="title" href="{article.path}">{title}</a></h2>'
            f'<p class="summary">{html.escape(article.body)}</p>'
            # A lazy-load library's fallback for readers without JavaScript (text to Chromium, which
            # ran the page with scripting on, and serialises it as it came).
            f'<noscript><img class="noscript-fallback" src="{article.image}" alt="{title}"></noscript></li>\n')


def home_dom() -> bytes:
    """The home page as Chromium serialises it after the list loaded, Load more was pressed and
    the page scrolled (all but LAZY_LEFT's image in view at some point)."""
    shell = (js_site.ROOT / "index.html").read_text(encoding="utf-8")
    cards = "".join(_card(a, a.slug != LAZY_LEFT) for a in js_site.ARTICLES)
    dom = shell.replace('<ul id="articles" aria-live="polite"></ul>',
                        f'<ul id="articles" aria-live="polite">\n{cards}</ul>')
    dom = dom.replace('<button id="load-more" type="button">',
                      '<button id="load-more" type="button" data-next="2" disabled="" hidden="">')
    dom = dom.replace("<html lang=\"km\">", '<html lang="km" data-loaded-page="2">')
    # What a React-style app tells a reader without JavaScript: never shown to the browser.
    dom = dom.replace("<body>", f"<body><noscript>{NOSCRIPT_NOTICE}</noscript>", 1)
    # A script the page added while it ran, and a data block it left: the export keeps only the data.
    dom = dom.replace("</body>", '<script>window.rendered = true;</script>'
                      '<script type="application/ld+json">{"@type": "NewsArticle"}</script>\n</body>')
    return dom.encode("utf-8")


def article_dom(article: js_site.Article) -> bytes:
    """An article page as rendered: its <template>'s body cloned into <main id="story">."""
    shell = (js_site.ROOT / "articles" / f"{article.slug}.html").read_text(encoding="utf-8")
    start = shell.index('<template id="story-body">') + len('<template id="story-body">')
    body = shell[start:shell.index("</template>", start)]
    return shell.replace('<main id="story"></main>', f'<main id="story" data-rendered="yes">{body}</main>'
                         ).encode("utf-8")


def js_site_capture(settings: Settings, engine: Any, name: str = "js") -> SimpleNamespace:
    """The JS news site captured in browser mode, written with warcio (see the module's docstring)."""
    with js_site.serve_js_site() as site:  # the bytes exactly as the fixture serves them
        def body(path: str) -> bytes:
            return site.file_bytes(path)

        with BrowserWarc(settings, engine, name, SEED) as w:
            w.response(SEED, body("/"), "text/html; charset=utf-8", TS)
            w.response(ORIGIN + "/static/site.css", body("/static/site.css"), "text/css; charset=utf-8", TS)
            w.response(ORIGIN + "/static/app.js", body("/static/app.js"), "text/javascript; charset=utf-8", TS)
            for page, buster in zip((1, 2), BUSTERS):
                w.response(f"{ORIGIN}/api/articles?page={page}&_={buster}", body(f"/api/articles?page={page}"),
                           "application/json", later(TS, page))
            for article in js_site.ARTICLES:
                if article.slug != LAZY_LEFT:
                    w.response(ORIGIN + article.image, body(article.image), "image/png", later(TS, 3))
            w.dom(SEED, home_dom(), TS)
            w.screenshot(SEED, PAGE_SHOT, TS)
            w.response(ORIGIN + "/static/article.js", body("/static/article.js"), "text/javascript; charset=utf-8",
                       later(TS, 5))
            for article in js_site.ARTICLES:
                w.response(ORIGIN + article.path, body(article.path), "text/html; charset=utf-8", later(TS, 5))
                w.dom(ORIGIN + article.path, article_dom(article), later(TS, 5))
                w.screenshot(ORIGIN + article.path, ARTICLE_SHOT, later(TS, 5))
            w.response(ORIGIN + "/about.html", body("/about.html"), "text/html; charset=utf-8", later(TS, 6))
            w.response(ORIGIN + "/probe.html", PROBE, "text/html; charset=utf-8", later(TS, 6))
            capture_id = w.capture_id
    return SimpleNamespace(capture_id=capture_id, name=name, seed=SEED, origin=ORIGIN, ts=TS,
                           api=json.loads((js_site.ROOT / "api" / "articles-2.json").read_text(encoding="utf-8")))
