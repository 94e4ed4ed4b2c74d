"""Building the HTTP response for one indexed record: status, headers and a streamed body.

- ``id_``: the stored payload bytes untouched, Content-Encoding and all.
- HTML and CSS (any other modifier): payload decoded (Content-Encoding gzip, deflate,
  br if the brotli module is present), links rewritten, re-encoded in the document's
  own charset; HTML is streamed through the rewriter chunk by chunk. A page replayed as a
  document (assets.as_document) gets the replay script first in its head
  (assets.script_tag), and a top-level one the banner (with a link to its screenshot, when
  the caller found one).
- Everything else: the stored payload bytes, with their Content-Encoding header (the
  browser decodes).

A revisit is served with its own status and headers and the payload of the record it
revisits. Archived headers that could reach or control anything beyond the archive
are dropped (kept for reference as ``X-Archive-Orig-<Name>``); every response gets
the replay security headers. Memory does not grow with the record's size.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from typing import Any, Iterator

from sqlalchemy import Engine
from werkzeug.wrappers import Response

from refuge.config.errors import Failure
from refuge.formats import charset as charsets
from refuge.formats import rendered
from refuge.formats.charset import rewrite_chunks
from refuge.formats.css import rewrite_css
from refuge.formats.html import utf8_view
from refuge.formats.html.rewriter import HtmlRewriter
from refuge.mirror.replay import ranges
from refuge.mirror.replay.assets import as_document, script_tag
from refuge.mirror.replay.pages import READER_HEADERS, banner, http_date, message_page, not_found_page
from refuge.mirror.replay.policy import ReplayPolicy, quote_url, rewrite_refresh
from refuge.storage.catalog.index import Hit, original_of
from refuge.storage.stores.interface import StoreUnavailable
from refuge.storage.warc.files import WarcFiles
from refuge.storage.warc.payloads import open_payload, redirect_target
from refuge.storage.warc.records import content_encoding, decoded_stream

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
CSS_LIMIT = 8 * 1024 * 1024  # a bigger stylesheet is passed through unrewritten
# A rewritten document up to this size is sent whole, with a Content-Length, so the
# connection stays open (waitress closes it after every chunked response); a bigger
# one streams.
WHOLE_LIMIT = 2 * 1024 * 1024

REPLAY_CSP = (
    "default-src 'self' data: blob:; script-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
    "style-src 'self' 'unsafe-inline' data: blob:; img-src 'self' data: blob:; font-src 'self' data:; "
    "media-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'self'; "
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads"
)

# Seconds of work (reading, inflating, rewriting; not waiting for the reader) one
# streamed response may take; past it the response ends there, with a log line. The
# rewriters are linear, so only a record built to be slow, or a machine in trouble, gets
# near it; what it bounds is how long one request can keep a thread working.
WORK_BUDGET = 60.0

# An archived header value longer than this is not sent: browsers and HTTP clients refuse
# a response whose header lines run to tens of kilobytes, so it could only break the page.
HEADER_LIMIT = 32 * 1024

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
CSS_TYPES = frozenset({"text/css"})

# Never forwarded: they describe the origin's connection, not the resource.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
# The archived headers a reader's browser is given as they were: they describe the bytes
# sent or how long to keep them, and nothing else. Every other archived header goes as
# X-Archive-Orig-<Name>, readable but inert: an allowlist, because a header a browser
# learns to obey tomorrow (as it learnt Speculation-Rules) must not start working on a
# mirror's origin from an archived page. Location and Refresh are sent rewritten besides.
PASSED = frozenset({
    "content-type", "content-language", "content-disposition", "cache-control", "expires",
    "last-modified", "etag", "vary", "pragma", "age",
})


class _Response(Response):
    default_mimetype = None  # an archived response without Content-Type stays without one
    automatically_set_content_length = False


class _Body:
    """The response iterable: FIRST (chunks already made), then the rest of IT, within
    WORK_BUDGET; closes the generator and the WARC files when the server is done.

    A record found damaged part-way (storage.warc.strict refuses it before its last bytes)
    ends the response short, with a log line naming the file and offset. SIZED (a
    Content-Length was sent): ending is enough, the reader sees fewer bytes than promised
    and the server closes the connection. Chunked: the error goes on to the server, which
    drops the connection without the last chunk; ending normally would send that chunk,
    and the reader would take the short body for the whole.
    """

    __slots__ = ("_first", "_it", "_sized", "_stack", "_what")

    def __init__(self, it: Iterator[bytes], stack: ExitStack, what: str, first: list[bytes] | None = None,
                 sized: bool = False) -> None:
        self._first = first
        self._it = it
        self._sized = sized
        self._stack = stack
        self._what = what

    def __iter__(self) -> Iterator[bytes]:
        first, self._first = self._first or [], None
        yield from first
        spent = 0.0
        while True:
            started = time.monotonic()
            try:
                chunk = next(self._it, None)
            except Failure as exc:
                log.error("replay of %s: %s; the response was cut short", self._what, exc)
                if self._sized:
                    return
                raise
            spent += time.monotonic() - started  # the work of making it, not the wait to send it
            if chunk is None:
                return
            yield chunk
            if spent > WORK_BUDGET:
                log.warning("%s: response cut after %.1f s of work (budget %.0f s)", self._what, spent, WORK_BUDGET)
                return

    def close(self) -> None:
        try:
            self._it.close()  # type: ignore[attr-defined]
        finally:
            self._stack.close()


def latin1(value: str) -> str:
    """A header value as WSGI wants it: the bytes as received, one character per byte
    (warcio decodes header lines as UTF-8 when they are valid UTF-8)."""
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("latin-1")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def replay_headers(ts: str, url: str, link: str | None = None) -> list[tuple[str, str]]:
    """The headers every replayed record gets: security, and Memento's (LINK: the memento's
    Link header, memento.memento_link; without it, the original alone)."""
    return [
        ("Content-Security-Policy", REPLAY_CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Access-Control-Allow-Origin", "*"),
        ("Memento-Datetime", http_date(ts)),
        ("Link", link or f'<{quote_url(url)}>; rel="original"'),
    ]


def serve_hit(files: WarcFiles, engine: Engine, hit: Hit, mod: str, url: str,
              environ: dict[str, Any] | None = None, link: str | None = None,
              screenshot: str | None = None) -> Response:
    """The response for HIT requested as /web/<ts><mod>/<url> (by ENVIRON: a Range in it is
    honoured), with LINK as its Memento Link header; SCREENSHOT, where the page's screenshot
    opens, is linked from its banner."""
    original = None
    if hit.rectype == "revisit":
        original = original_of(engine, hit.target_id, hit.digest, not_after=hit.timestamp)
        if original is None:
            return missing_original(url, hit)
    stack = ExitStack()
    try:
        head, body = stack.enter_context(open_payload(files, hit, original, stream=True))
        response = _build(head, body, hit, mod, stack, environ or {}, link, screenshot)
    except StoreUnavailable as exc:  # the archive's bucket is out of reach: not the record's fault
        stack.close()
        log.error("replay of %s at %s: %s", hit.url, hit.timestamp, exc)
        page = message_page("មិនអាចទៅដល់កន្លែងរក្សាទុកបណ្ណសារបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀតបន្តិចទៀត។",
                            "The archive's storage cannot be reached right now. Please try again in a little while.")
        return Response(page, status=503, headers={**READER_HEADERS, "Retry-After": "30"},
                        content_type="text/html; charset=utf-8")
    except Failure as exc:
        stack.close()
        log.error("replay of %s at %s: %s", hit.url, hit.timestamp, exc)
        return missing_original(url, hit, damaged=True)  # the file and offset are for the log, not the reader
    except BaseException:
        stack.close()
        raise
    return response


def missing_original(url: str, hit: Hit, damaged: bool = False) -> Response:
    if damaged:
        km, en = ("មិនអាចបង្ហាញច្បាប់ចម្លងនេះបានទេ ព្រោះឯកសារដែលរក្សាទុកវាខូច ឬមិនពេញលេញ។",
                  "This capture cannot be shown: the stored file that holds it is damaged or incomplete.")
    else:
        km, en = ("មិនអាចបង្ហាញច្បាប់ចម្លងនេះបានទេ ព្រោះឯកសារដែលវាយោងទៅបាត់។",
                  "This capture cannot be shown: the stored copy it refers to is missing.")
    page = not_found_page(url, [], [], problem=(km, en))
    return Response(page, status=404, headers=READER_HEADERS, content_type="text/html; charset=utf-8")


def location_of(files: WarcFiles, hit: Hit) -> str | None:
    """The Location header of a redirect capture (its own, for a revisit)."""
    try:
        return redirect_target(files, hit)
    except Failure:
        return None


def _build(head: Any, body: Any, hit: Hit, mod: str, stack: ExitStack, environ: dict[str, Any],
           link: str | None, screenshot: str | None) -> Response:
    http = head.http_headers
    try:
        status = int(http.get_statuscode())
        if not 100 <= status <= 999:
            raise ValueError(status)
    except (TypeError, ValueError):
        status = hit.status or 200
    ctype = http.get_header("Content-Type")
    mtype = media_type(ctype) or hit.mime
    encoding = content_encoding(body)

    # A browser capture's rendered DOM (urn:dom:<page>) reads its links as the page did.
    page_url = rendered.page_of(hit.url) or hit.url
    # A redirect keeps the modifier it was requested with: an image that moved is still an image.
    header_policy = ReplayPolicy(hit.timestamp, page_url, page_mod="" if mod == "mp_" else mod)
    if mod == "id_":
        kind = "raw"
    elif mtype in HTML_TYPES:
        kind = "html"
    elif mtype in CSS_TYPES:
        kind = "css"
    else:
        kind = "raw"
    stream = body.raw_stream
    if kind != "raw":
        stream = decoded_stream(body, encoding)
        if stream is None:
            kind, stream = "raw", body.raw_stream

    hop = HOP_BY_HOP
    connection = http.get_header("Connection")
    if connection:  # headers the origin named as hop-by-hop go too
        hop = hop | {t.strip().lower() for t in connection.split(",")}
    headers: list[tuple[str, str]] = []
    for name, value in http.headers:
        lower = name.lower()
        if lower in hop:
            continue
        if len(value) > HEADER_LIMIT:
            log.info("%s: archived %s header of %d characters not sent", hit.url, name, len(value))
            continue
        if lower == "content-encoding" and kind == "raw":
            headers.append((name, latin1(value)))
            continue
        if lower in PASSED:
            headers.append((name, latin1(value)))
            continue
        headers.append(("X-Archive-Orig-" + name, latin1(value)))
        if lower == "location":
            new = header_policy(value, "page")
            if new is not None and len(new) <= HEADER_LIMIT:
                headers.append(("Location", new))
        elif lower == "refresh":
            new = rewrite_refresh(value, header_policy)
            if new is not None and len(new) <= HEADER_LIMIT:
                headers.append(("Refresh", latin1(new)))
    if head is not body and kind == "raw":
        # The bytes are the original's: send the original's coding, whatever the revisit said.
        headers = [(n, v) for n, v in headers if n.lower() != "content-encoding"]
        if encoding:
            headers.append(("Content-Encoding", latin1(body.http_headers.get_header("Content-Encoding"))))
    headers.extend(replay_headers(hit.timestamp, hit.url, link))

    if kind == "raw":
        length = getattr(body.raw_stream, "limit", None)
        sized = isinstance(length, int) and length >= 0
        chunks = _raw(stream)
        if sized and status == 200:
            headers.append(("Accept-Ranges", "bytes"))
            span = ranges.wanted_span(environ, length)
            if span == ranges.UNSATISFIABLE:
                stack.close()
                return _Response(b"", status=416, headers=[*headers, ("Content-Range", f"bytes */{length}")])
            if span is not None:
                status, (start, stop) = 206, span
                headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{length}"))
                chunks, length = ranges.window(chunks, start, stop), stop - start
        if sized:
            headers.append(("Content-Length", str(length)))
        return _Response(_Body(chunks, stack, f"{hit.url} at {hit.timestamp}", sized=sized), status=status,
                         headers=headers, direct_passthrough=True)
    if kind == "html":
        document = as_document(mod, environ)
        it = _html(stream, ctype, ReplayPolicy(
            hit.timestamp, page_url, banner=banner(hit.url, hit.timestamp, screenshot) if mod == "" and document else None,
            head=script_tag(hit.timestamp, page_url) if document else None))
    else:
        it = _css(stream, ctype, ReplayPolicy(hit.timestamp, page_url))
    first: list[bytes] = []
    size = 0
    for chunk in it:
        first.append(chunk)
        size += len(chunk)
        if size > WHOLE_LIMIT:
            return _Response(_Body(it, stack, f"{hit.url} at {hit.timestamp}", first), status=status, headers=headers, direct_passthrough=True)
    stack.close()
    whole = first[0] if len(first) == 1 else b"".join(first)
    headers.append(("Content-Length", str(len(whole))))
    return _Response([whole], status=status, headers=headers, direct_passthrough=True)


def _raw(stream: Any) -> Iterator[bytes]:
    read = stream.read
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return
        yield chunk


def _html(stream: Any, content_type: str | None, policy: ReplayPolicy) -> Iterator[bytes]:
    read = stream.read
    chunk = read(CHUNK)
    codec = charsets.html_charset(content_type, chunk[:4096])
    view = utf8_view.usable(codec)
    if view:
        dec, enc = utf8_view.decoder(), utf8_view.encoder()
    else:
        dec, enc = charsets.decoder(codec), charsets.encoder(codec)
    yield from rewrite_chunks(read, chunk, dec, enc, HtmlRewriter(policy, view=view), CHUNK)


def _css(stream: Any, content_type: str | None, policy: ReplayPolicy) -> Iterator[bytes]:
    data = stream.read(CSS_LIMIT + 1)
    if len(data) > CSS_LIMIT:
        yield data
        yield from _raw(stream)
        return
    codec = charsets.css_charset(content_type, data[:4096])
    text = charsets.decoder(codec).decode(data, True)
    yield charsets.encoder(codec).encode(rewrite_css(text, policy), True)

