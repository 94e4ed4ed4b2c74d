"""The replay server's WSGI application: Wayback-style routes over the catalog.

    /                       front page: every target and its newest capture
    /web/<ts><mod>/<url>    the capture of URL closest to TS (mod: "", id_, im_, js_, cs_, if_, fr_, oe_, mp_);
                            served, it is a Memento memento: Memento-Datetime, Link to its neighbours
    /web/<url>              the TimeGate: 302 to the capture closest to Accept-Datetime, else the newest
    /web/*/<url>            every capture of URL
    /timemap/link/<url>     its TimeMap (application/link-format), /timemap/json/<url> as JSON lines;
                            /timemap/<kind>/<ts>/<url> the page from TS on (memento.py)
                            (each of these: 451 with the reason, for a URL taken down: `refuge hide`)
    /cdx?url=...            the CDX server API of pywb and the Wayback Machine (cdx_api.py)
    /data/<name>/           a database target's newest snapshot: table, search, changes (data_pages.py)
    /search?q=...           full-text search of every captured page, by target and date (search_page.py);
                            asked for by a replayed page (its Referer), that site's own /search instead
    /mirrors                every published mirror URL, working ones first (Khmer and English)
    /mirrors.json           the same list, signed: /mirrors.json.minisig, public key /refuge.pub
    /healthz                200 "ok"
    /_refuge/replay.js      the script replayed pages run first (assets.py)
    any other path          asked for from a replayed page (its Referer): a 302 to that path on the
                            page's original site, in the archive (fallback.py)

/web/ also serves a browser capture's records: /web/<ts>id_/urn:screenshot:<url> is the
screenshot of the page captured from URL, linked from that page's banner.
When a URL itself was never captured, a capture that differs from it only in a
cache-busting query parameter is served (storage.catalog.fuzzy): the URLs a replayed page's
scripts make carry new ones.

The URL part is taken from the raw request URI (waitress REQUEST_URI, gunicorn
RAW_URI), so query strings, '%2F' and percent-encoded Khmer paths arrive as sent; a
scheme whose '//' a proxy collapsed ('https:/x') is repaired. The app holds no state
but the settings and the catalog engine, so any number can run side by side.

A URL taken down (storage.catalog.hidden) is asked about on every /web/ request and
never cached, so a hide or an unhide holds at once in every server process; the lists
(the front page's links, a not-found page's nearby pages, /data/ records) leave it out.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import quote

from sqlalchemy import Engine
from werkzeug.wrappers import Response

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.formats import rendered
from refuge.formats.urls import join
from refuge.mirror.pages.withheld import withheld_page
from refuge.mirror.replay import assets, cdx_api, data_pages, memento, pages, search_page
from refuge.mirror.replay.fallback import by_referrer
from refuge.mirror.replay.metrics import instrument
from refuge.mirror.replay.policy import MODS, archive_url, quote_url
from refuge.mirror.replay.serve_record import HTML_TYPES, location_of, serve_hit
from refuge.storage import catalog, mirror_files
from refuge.storage.catalog import fuzzy, hidden, index, replicas
from refuge.storage.warc.files import warc_files

log = logging.getLogger(__name__)

_WEB = re.compile(r"(\d{1,14})(" + "|".join(m for m in MODS if m) + r")?/(.*)", re.S)
_SCHEME = re.compile(r"(https?):/*", re.I)
_HAS_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_ORIGIN_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_NOT_URL_SAFE = re.compile(rb"[^\x21-\x7e]")

LIST_ROUTES = {"/mirrors": "mirrors.html", "/mirrors.html": "mirrors.html", "/mirrors.json": "mirrors.json",
               "/mirrors.json.minisig": "mirrors.json.minisig", "/refuge.pub": "refuge.pub"}

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def request_target(environ: dict[str, Any]) -> str:
    """The path and query as the client sent them, ASCII (raw non-ASCII bytes percent-encoded)."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        if not uri.startswith("/"):
            m = _ORIGIN_FORM.match(uri)  # absolute-form request line (through a proxy)
            uri = uri[m.end():] if m else "/" + uri
            uri = uri if uri.startswith("/") else "/" + uri
        script = environ.get("SCRIPT_NAME") or ""
        if script and uri.startswith(script):
            uri = uri[len(script):] or "/"
    else:
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "/")
        uri = quote(path.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=~%")
        if environ.get("QUERY_STRING"):
            uri += "?" + environ["QUERY_STRING"]
    if not uri.isascii() or " " in uri:
        raw = uri.encode("latin-1", "replace")
        uri = _NOT_URL_SAFE.sub(lambda m: b"%%%02X" % m.group()[0], raw).decode("ascii")
    return uri


def normalise_url(url: str) -> str | None:
    """The archived URL a request names: 'https:/x' -> 'https://x', 'example.org/a' ->
    'http://example.org/a' (SURT keys ignore the scheme); 'urn:dom:' or 'urn:screenshot:'
    and an http(s) URL. None if there is none."""
    url = url.strip()
    if not url:
        return None
    for prefix in (rendered.DOM, rendered.SCREENSHOT):  # a browser capture's records of a page
        if url[:len(prefix)].lower() == prefix:
            # One prefix, then an http(s) URL (as rendered.page_of reads them): never another.
            page = url[len(prefix):].strip()
            page = normalise_url(page) if _SCHEME.match(page) else None
            return prefix + page if page else None
    m = _SCHEME.match(url)
    if m:
        url = m.group(1).lower() + "://" + url[m.end():]
    elif not _HAS_SCHEME.match(url):
        url = "http://" + url.lstrip("/")
    host = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    if not host:
        return None
    return url


# Requests served at once in one server process (its worker threads), and of them the
# big streamed responses: the two threads left serve everything else. Big: no length
# known, or over BIG bytes.
THREADS = 8
STREAMS = THREADS - 2
BIG = 2 * 1024 * 1024


class ReplayApp:
    """``make_app(settings, engine)``: the WSGI callable."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.files = warc_files(settings, engine)
        self.streams = threading.BoundedSemaphore(STREAMS)
        self.timemap_page = memento.PAGE_SIZE

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            response = self.dispatch(environ)
        except Exception:  # noqa: BLE001 - one bad record must not take the server down
            log.exception("replay failed for %r", environ.get("REQUEST_URI") or environ.get("PATH_INFO"))
            response = self.message(500, "មានបញ្ហានៅលើម៉ាស៊ីនមេ។", "Something went wrong on the server.")
        length = response.content_length
        if not (response.is_streamed and (length is None or length > BIG)):
            return response(environ, start_response)
        # A big streamed response (a big record) holds a server thread while it is made: past
        # STREAMS at once, the next is asked to come back, so small pages and /healthz
        # always find a thread.
        if not self.streams.acquire(blocking=False):
            response.close()
            busy = self.message(503, "ម៉ាស៊ីនមេរវល់ពេកឥឡូវនេះ។ សូមព្យាយាមម្តងទៀតបន្តិចទៀត។",
                                "The server is busy sending large files. Please try again in a moment.")
            busy.headers["Retry-After"] = "2"
            return busy(environ, start_response)
        try:
            body = response(environ, start_response)
        except BaseException:
            self.streams.release()
            raise
        # Released when the server closes the body (sent, or the client gone), not before.
        return _Released(body, self.streams.release)

    # -- routing --------------------------------------------------------------------------

    def dispatch(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            resp = self.message(405, "អាចតែអានប៉ុណ្ណោះ។", "This archive is read-only.")
            resp.headers["Allow"] = "GET, HEAD"
            return resp
        target = request_target(environ)
        if target == "/" or target.startswith("/?"):
            return self.front_page()
        if target == "/healthz":
            return Response("ok\n", content_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})
        if target in LIST_ROUTES:
            return self.mirror_list(LIST_ROUTES[target])
        if target == pages.SEARCH or target.startswith(pages.SEARCH + "?"):
            return self.search(target, environ)
        if target.startswith("/data/"):
            found = data_pages.handle(self.engine, target)
            if found is not None:
                return reader(found[1], found[0])
        if target == "/cdx" or target.startswith("/cdx?"):
            return cdx_api.answer(self.engine, target.partition("?")[2])
        if target.startswith("/timemap/"):
            return self.timemap(target)
        if target.startswith(assets.PREFIX):
            return assets.answer(target)
        if not target.startswith("/web/"):
            if target in ("/web", "/web?"):
                return redirect("/")
            fallback = by_referrer(target, environ)
            return self.not_found(None) if fallback is None else _fallback_redirect(fallback)
        rest = target[len("/web/"):]
        if rest.startswith("*/"):
            url = normalise_url(rest[2:])
            return self.capture_list(url) if url else redirect("/")
        m = _WEB.fullmatch(rest)
        if m is None:
            url = normalise_url(rest)
            return self.timegate(url, environ) if url else redirect("/")
        ts, mod, url = m.group(1), m.group(2) or "", normalise_url(m.group(3))
        if url is None:
            return redirect("/")
        return self.replay(ts, mod, url, environ)

    # -- replay ---------------------------------------------------------------------------

    def withheld(self, url: str) -> Response | None:
        """451 with the reason when URL was taken down, else None. The same for every
        modifier, id_ included: the original bytes stay in the WARC files for archivists,
        not on the web."""
        takedown = hidden.hidden_for(self.engine, rendered.page_of(url) or url)
        return None if takedown is None else reader(withheld_page(takedown["reason"]), 451)

    def replay(self, ts: str, mod: str, url: str, environ: dict[str, Any] | None = None) -> Response:
        if (withheld := self.withheld(url)) is not None:
            return withheld
        hit = fuzzy.closest_fuzzy(self.engine, url, ts)
        if hit is None:
            return self.not_found(url)
        # A fuzzy match serves another URL's record: that URL's takedown holds too.
        if hit.url != url and (withheld := self.withheld(hit.url)) is not None:
            return withheld
        hit = self.past_self_redirect(hit, url, ts)
        if mod == "" and hit.timestamp != ts:
            return redirect(archive_url(hit.timestamp, "", url))
        link = memento.memento_link(self.engine, hit, mod)
        shot = self.screenshot_of(hit) if mod == "" else None
        return serve_hit(self.files, self.engine, hit, mod, url, environ, link, shot)

    def screenshot_of(self, hit: index.Hit) -> str | None:
        """Where the screenshot of the page HIT opens, if the capture that holds HIT took one
        (browser mode)."""
        if hit.mime not in HTML_TYPES:
            return None
        key = index.url_key(rendered.screenshot_uri(hit.url))
        shot = index.closest_by_key(self.engine, key, hit.timestamp) if key else None
        if shot is None or shot.capture_id != hit.capture_id:
            return None
        return archive_url(shot.timestamp, "id_", shot.url)

    def past_self_redirect(self, hit: index.Hit, url: str, ts: str | None) -> index.Hit:
        """A redirect to a URL with the same SURT key (http -> https, www. -> bare host)
        would send the reader back here forever: take the closest capture that is not a
        redirect instead, if there is one."""
        if hit.status is None or not 300 <= hit.status < 400:
            return hit
        location = location_of(self.files, hit)
        target = join(hit.url, location) if location else None
        if target is None or index.url_key(target) != hit.urlkey:
            return hit
        return index.closest(self.engine, url, ts, skip_redirects=True) or hit

    def timegate(self, url: str, environ: dict[str, Any]) -> Response:
        """Memento's TimeGate: 302 to the capture closest to Accept-Datetime (the newest without one)."""
        if (withheld := self.withheld(url)) is not None:
            return withheld
        try:
            when = memento.accept_datetime(environ)
        except BadInput as exc:
            return Response(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
        hit = index.closest(self.engine, url, when)
        if hit is None:
            return self.not_found(url)
        hit = self.past_self_redirect(hit, url, when)
        response = redirect(archive_url(hit.timestamp, "", url))
        response.headers.extend(memento.timegate_headers(self.engine, url, hit.urlkey))
        return response

    def timemap(self, target: str) -> Response:
        found = memento.timemap_route(target)
        url = normalise_url(found[2]) if found else None
        if found is None or url is None:
            return self.not_found(None)
        if (withheld := self.withheld(url)) is not None:
            return withheld
        return memento.timemap(self.engine, found[0], url, found[1], self.timemap_page)

    # -- reader pages ---------------------------------------------------------------------

    def front_page(self) -> Response:
        latest = catalog.latest_captures(self.engine)
        fixity = replicas.fixity_by_target(self.engine)
        takedowns = hidden.active(self.engine)
        entries = []
        for target in catalog.list_targets(self.engine):
            seed = target.spec.url
            withheld = takedowns.for_url(seed) is not None
            hit = index.closest(self.engine, seed, None) if target.id in latest and not withheld else None
            entries.append({"name": target.name, "url": seed, "ts": hit.timestamp if hit else None,
                            "fixity": fixity.get(target.id), "kind": target.spec.kind, "withheld": withheld})
        return reader(pages.front_page(entries))

    def search(self, target: str, environ: dict[str, Any]) -> Response:
        """The reader's search (search_page). A replayed page that asks for /search (its
        Referer says so) means its own site's search: sent there in the archive, as any
        other path this server does not have (fallback). The server's own pages send no
        Referer (READER_HEADERS)."""
        fallback = by_referrer(target, environ)
        if fallback is not None:
            return _fallback_redirect(fallback)
        status, body = search_page.answer(self.engine, target.partition("?")[2])
        return reader(body, status)

    def mirror_list(self, name: str) -> Response:
        files = mirror_files.stored(self.settings)
        if files is None:
            return self.message(404, "មិនទាន់មានកញ្ចក់ដែលបានផ្សព្វផ្សាយទេ។",
                                "No mirror published yet (`refuge publish NAME` makes the list).")
        body = files[name]
        if name == "mirrors.html":
            return reader(body)
        return Response(body, content_type=mirror_files.CONTENT_TYPES[name],
                        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*",
                                 "X-Content-Type-Options": "nosniff"})

    def capture_list(self, url: str) -> Response:
        if (withheld := self.withheld(url)) is not None:
            return withheld
        hits = index.captures_of(self.engine, url)
        return reader(pages.captures_page(url, hits), 200 if hits else 404)

    def not_found(self, url: str | None) -> Response:
        others: list[index.Hit] = []
        nearby: list[index.Hit] = []
        if url:
            others = index.captures_of(self.engine, url, limit=50)
            prefix = index.host_prefix(url) if not others else None
            if prefix:
                # More than are shown, so that a few hidden ones leave the list still useful.
                takedowns = hidden.active(self.engine)
                nearby = [h for h in index.urls_under(self.engine, prefix, limit=40 if takedowns else 20)
                          if takedowns.for_key(h.urlkey) is None][:20]
        return reader(pages.not_found_page(url, others, nearby), 404)

    def message(self, status: int, km: str, en: str) -> Response:
        return reader(pages.message_page(km, en), status)


class _Released:
    """BODY, and RELEASE called once when the server closes it, even if closing BODY fails."""

    def __init__(self, body: Iterable[bytes], release: Callable[[], None]) -> None:
        self._body, self._release = body, release

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        release, self._release = self._release, None
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            if release is not None:
                release()


def reader(body: bytes, status: int = 200) -> Response:
    return Response(body, status=status, headers=pages.READER_HEADERS, content_type="text/html; charset=utf-8")


def _fallback_redirect(location: str) -> Response:
    response = redirect(location)
    response.headers["Access-Control-Allow-Origin"] = "*"  # a fetch() from the page follows it
    response.headers["Cache-Control"] = "no-store"  # it depends on the Referer
    return response


def redirect(location: str) -> Response:
    """A 302 with a relative Location (works behind any proxy or path)."""
    resp = Response(b"", status=302, headers={"Location": quote_url(location), "Cache-Control": "no-cache"})
    resp.headers.pop("Content-Type", None)
    return resp


def make_app(settings: Settings, engine: Engine) -> WSGIApp:
    """The replay server's WSGI callable; ENGINE from storage.catalog.connect(settings.catalog_url)."""
    return ReplayApp(settings, engine)


def app_for(settings: Settings) -> WSGIApp:
    """The replay app with a catalog connection pool of its own, one connection per thread:
    what each server process runs (so a PostgreSQL catalog sees at most THREADS
    connections from each)."""
    return instrument(make_app(settings, catalog.connect(settings.catalog_url, pool=THREADS)), settings)
