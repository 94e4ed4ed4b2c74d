"""One attempt at one page in a browser tab: every request answered through Refuge's own
fetch, then settled, scrolled, clicked, and its DOM and screenshot taken.

Contract: `render_page(context, url, document, options, fetcher, budget, stop, max_dom)` loads
URL in a new page of CONTEXT (a Playwright BrowserContext made by archiver/browser.py) and
returns a Rendered, or raises RenderFailed (the tab crashed, its scripts kept it from
answering, it took longer than the budget) or RenderStopped (the capture is stopping). A DOM
of more than MAX_DOM characters is measured in the page and not brought back (dom None,
listed); a selector to press that the browser rejects is listed, and the page goes on.

The browser never reaches the network. Every request it makes is intercepted: the page's
own document is answered with DOCUMENT (the exchange the worker already fetched and
recorded), every other GET is handed to FETCHER with the page's deadline (a blocking call,
run in a thread: it refuses what the frontier would refuse, fetches through the guarded
session by the deadline and writes the WARC records, exactly as for any URL)
and the browser is answered with the bytes fetched, their Content-Encoding undone. A
request FETCHER refuses (a private address, a response too large, no answer) fails in the
browser as it would on a broken network; requests other than GET, and a main-frame
navigation away from the page (a script or a click leaving it), are refused without a
fetch. Every request counts against MAX_REQUESTS; at most MAX_FAILURES of a page's failures
are listed (then one entry saying how many more), each URL cut to FAILURE_URL_CHARS.

A page has settled when no request of it has been in flight for QUIET seconds, or when
budget.settle seconds have passed: the page is then taken as it is (a news ticker never
lets the network go idle).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from playwright.async_api import BrowserContext, Error, Page, Request, Route

from refuge.archiver.fetch import Exchange, FetchError
from refuge.archiver.rendered import BrowserOptions, Budget, Rendered, RenderFailed, RenderStopped
from refuge.formats.urls import canonical

QUIET = 0.5  # seconds with nothing in flight that count as "settled"
SCREENSHOT_SECONDS = 30.0  # a long page takes a while to paint whole
# Of the page budget, the share scrolling and pressing may use: what is left serialises the
# DOM and paints the screenshot, so a page that keeps loading more is taken, not timed out.
INTERACT_SHARE = 0.6
MAX_SCROLL_STEPS = 40  # screens scrolled at most, whatever the page keeps appending
MAX_REQUESTS = 1000  # requests one page may make (of any method); the rest fail in the browser
MAX_FAILURES = 100  # of one page's failures, those listed one by one
FAILURE_URL_CHARS = 300  # a URL in the failure list is cut to this (a beacon's may be megabytes)
PAGE_FETCHES = 4  # of one page's requests, fetched at once (a browser makes about 6 per host)
# The browser gets a response's bytes over Playwright's pipe, in memory: a larger one is
# recorded all the same but fails in the browser (a video the page would stream).
MAX_BROWSER_BODY = 32 * 1024 * 1024
SCREENSHOT_MAX_HEIGHT = 10_000  # CSS pixels: a page longer than this is shot down to here
VIEWPORT = {"width": 1280, "height": 800}
# Headers that describe the bytes as they travelled, which are not the bytes the browser gets.
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"})

T = TypeVar("T")
# (url, deadline) -> (the exchange, fetched and recorded, and "response" or "revisit": how it
# was written); raises FetchError when there is nothing to answer with. The tab closes the exchange.
Fetcher = Callable[[str, float], Awaitable[tuple[Exchange, str]]]


async def render_page(context: BrowserContext, url: str, document: Exchange, options: BrowserOptions,
                      fetcher: Fetcher, budget: Budget,
                      stop: Callable[[], bool], max_dom: int) -> Rendered:
    """Load URL in a new page of CONTEXT and bring back what it rendered (see the module doc)."""
    tab = _Tab(url, document, fetcher, stop, time.monotonic() + budget.page, max_dom)
    await context.route("**/*", tab.route)
    page = await context.new_page()
    page.on("crash", lambda _page: tab.crashed.set())
    context.on("page", _close_popup)  # window.open: the page is what is captured, not what it opens
    try:
        rendered = await asyncio.wait_for(tab.run(page, options, budget), budget.page)
        tab.check()
        return rendered
    except asyncio.TimeoutError:
        tab.check()
        reason = f"the page took longer than {budget.page:.0f} s in the browser"
    except RenderFailed as exc:
        reason = str(exc)
    except Error as exc:
        reason = "the browser tab crashed" if tab.crashed.is_set() or "crash" in str(exc).lower() \
            else f"the browser failed: {str(exc).splitlines()[0][:200]}"
    if tab.crashed.is_set():
        await asyncio.sleep(0.2)  # a browser that died crashes its tabs first: let its end be noticed
    browser = context.browser
    if browser is not None and not browser.is_connected():
        reason = "the browser died"
    raise RenderFailed(reason)


class _Tab:
    def __init__(self, url: str, document: Exchange, fetcher: Fetcher, stop: Callable[[], bool],
                 deadline: float, max_dom: int) -> None:
        self.url = url
        self.deadline = deadline  # the page's: none of its fetches goes on past it
        self.max_dom = max_dom
        self.unlisted = 0  # failures past MAX_FAILURES
        self.document = document
        self.fetcher = fetcher
        self.stop = stop
        self.crashed = asyncio.Event()
        self.served_document = False
        self.requests = 0
        self.inflight = 0
        self.last_change = time.monotonic()
        self.slots = asyncio.Semaphore(PAGE_FETCHES)
        self.result = Rendered(dom=b"", screenshot=None)
        self.main_frame: Any = None
        self.interact_until = float("inf")  # set by run
        self.step = 10.0  # Budget.step, set by run
        self.fatal: BaseException | None = None  # what the fetcher raised that must end the capture

    def check(self) -> None:
        """Raise what a request's fetch raised that was not the request's own failure (the
        WARC file could not be written): the worker makes the capture stop on it."""
        if self.fatal is not None:
            raise self.fatal

    # -- answering the browser's requests --------------------------------------------------

    async def route(self, route: Route) -> None:
        request = route.request
        self.inflight += 1
        self.last_change = time.monotonic()
        try:
            await self._answer(route, request)
        except Error:
            pass  # the page went away while its request was answered
        except Exception as exc:  # noqa: BLE001 - kept for the worker, which decides (see check)
            self.fatal = self.fatal or exc
            try:
                await route.abort("failed")
            except Error:
                pass
        finally:
            self.inflight -= 1
            self.last_change = time.monotonic()

    async def _answer(self, route: Route, request: Request) -> None:
        url = request.url
        navigation = request.is_navigation_request() and _frame(request) is self.main_frame
        if navigation and not self.served_document:  # the page's own document, already fetched
            self.served_document = True
            body = _browser_body(self.document)
            if body is None:
                return await route.abort("failed")
            return await route.fulfill(status=self.document.status, headers=_browser_headers(self.document),
                                       body=body)
        if navigation:
            return await route.abort("blockedbyclient")  # the page stays the page: see the module doc
        self.requests += 1
        if self.requests > MAX_REQUESTS:
            if self.requests == MAX_REQUESTS + 1:
                self._failed(url, None, f"the page made more than {MAX_REQUESTS} requests; the rest were not made",
                             listed=True)
            return await route.abort("blockedbyclient")
        if request.method != "GET":
            self._failed(url, None, f"{request.method} request from the page not made (only GET is captured)")
            return await route.abort("blockedbyclient")
        if self.stop():
            return await route.abort("aborted")
        try:
            async with self.slots:
                got, recorded = await self.fetcher(url, self.deadline)
        except FetchError as exc:
            self._failed(url, None, str(exc))
            return await route.abort("addressunreachable" if "resolves to" in str(exc) else "failed")
        try:
            self.result.fetched.add(canonical(url))
            self.result.records.append((url, recorded))
            self.result.length += got.length
            if got.status >= 400:
                self._failed(url, got.status, f"HTTP {got.status}")
            body = _browser_body(got)
            if body is None:
                return await route.abort("failed")
            await route.fulfill(status=got.status, headers=_browser_headers(got), body=body)
        finally:
            got.close()

    def _failed(self, url: str, status: int | None, reason: str, listed: bool = False) -> None:
        """List a failure of the page (LISTED: even past MAX_FAILURES, a page's one summary)."""
        if len(self.result.failures) >= MAX_FAILURES and not listed:
            self.unlisted += 1
            return
        if len(url) > FAILURE_URL_CHARS:
            url = url[:FAILURE_URL_CHARS] + f"… ({len(url)} characters)"
        self.result.failures.append({"url": url, "status": status, "reason": reason})

    def _count_unlisted(self) -> None:
        if self.unlisted:
            self.result.failures.append({"url": self.url, "status": None,
                                         "reason": f"{self.unlisted} more failures of this page not listed"})
            self.unlisted = 0

    # -- driving the page -------------------------------------------------------------------

    async def run(self, page: Page, options: BrowserOptions, budget: Budget) -> Rendered:
        self.main_frame = page.main_frame
        self.step = budget.step
        self.interact_until = time.monotonic() + budget.page * INTERACT_SHARE
        try:
            await page.goto(self.url, wait_until="load", timeout=budget.settle * 1000)
        except Error as exc:
            if self.crashed.is_set() or "timeout" not in str(exc).lower():
                raise
            # Not loaded within the budget (a resource still coming): taken as it is.
        await self.settle(budget.settle)
        if options.scroll:
            await self.scroll(page, budget.settle)
        if options.click and options.clicks:
            await self.click(page, options, budget.settle)
            if options.scroll and self.result.clicks:
                await self.scroll(page, budget.settle)  # what the presses added may load when seen
        await self._step(page.evaluate("() => window.scrollTo(0, 0)"))
        self.result.dom = await self.dom(page)
        self.result.screenshot = await self.screenshot(page)
        self._count_unlisted()
        return self.result

    async def dom(self, page: Page) -> bytes | None:
        """The serialised DOM, unless it is longer than max_dom characters (each at least a
        byte of UTF-8): measured in the page, so an oversized one never leaves the browser."""
        chars = await self._step(page.evaluate(
            "() => (document.doctype ? new XMLSerializer().serializeToString(document.doctype).length : 0)"
            " + document.documentElement.outerHTML.length"))
        if chars > self.max_dom:
            self._failed(f"urn:dom:{self.url}", None, f"rendered DOM of {chars} characters exceeds "
                                                      f"max_response_bytes ({self.max_dom}): not stored")
            return None
        return (await self._step(page.content())).encode("utf-8")

    async def settle(self, budget: float) -> None:
        deadline = min(time.monotonic() + budget, max(self.interact_until, time.monotonic() + QUIET))
        while True:
            self.check()
            if self.stop():
                raise RenderStopped()
            if self.crashed.is_set():
                raise RenderFailed("the browser tab crashed")
            now = time.monotonic()
            if self.inflight == 0 and now - self.last_change >= QUIET:
                return
            if now >= deadline:
                    return
            await asyncio.sleep(0.05)

    async def scroll(self, page: Page, budget: float) -> None:
        """A screen at a time, until the bottom is reached and the page has stopped growing."""
        last_height = -1
        for _ in range(MAX_SCROLL_STEPS):
            if time.monotonic() >= self.interact_until:
                return
            at_bottom, height = await self._step(page.evaluate(
                "() => { window.scrollBy(0, window.innerHeight);"
                " const h = document.documentElement.scrollHeight;"
                " return [Math.ceil(window.scrollY + window.innerHeight) >= h, h]; }"))
            await self.settle(budget)
            if at_bottom:
                if height == last_height:
                    return
                last_height = height

    async def click(self, page: Page, options: BrowserOptions, budget: float) -> None:
        """Press the first visible, enabled element matching one of the selectors (in their
        order), settle, and again, up to options.clicks presses or until none is left."""
        selectors = list(options.click)
        while self.result.clicks < options.clicks and time.monotonic() < self.interact_until:
            target = None
            for selector in list(selectors):
                found = page.locator(selector)
                try:
                    count = await self._step(found.count())
                except Error as exc:  # a selector the browser rejects: listed, and left out
                    if self.crashed.is_set():
                        raise
                    selectors.remove(selector)
                    self._failed(self.url, None, f"click selector {selector!r} not used: "
                                                 f"{str(exc).splitlines()[0][:200]}")
                    continue
                for i in range(min(count, 20)):
                    candidate = found.nth(i)
                    if await self._step(candidate.is_visible()) and await self._step(candidate.is_enabled()):
                        target = candidate
                        break
                if target is not None:
                    break
            if target is None:
                return
            try:
                await target.click(timeout=self.step * 1000)
            except Error as exc:
                if self.crashed.is_set() or "timeout" not in str(exc).lower():
                    raise
                return  # it would not take a press (covered, moving): the page is taken as it is
            self.result.clicks += 1
            await self.settle(budget)

    async def screenshot(self, page: Page) -> bytes | None:
        width, height = await self._step(page.evaluate(
            "() => [document.documentElement.clientWidth, document.documentElement.scrollHeight]"))
        height = max(1, min(int(height), SCREENSHOT_MAX_HEIGHT))
        try:
            return await page.screenshot(type="png", full_page=True, animations="disabled", caret="hide",
                                         clip={"x": 0, "y": 0, "width": max(1, int(width)), "height": height},
                                         timeout=SCREENSHOT_SECONDS * 1000)
        except Error as exc:
            if self.crashed.is_set():
                raise
            self._failed(f"urn:screenshot:{self.url}", None, f"no screenshot: {str(exc).splitlines()[0][:200]}")
            return None

    async def _step(self, call: Awaitable[T]) -> T:
        """CALL into the page, which a page whose scripts never yield would never answer."""
        try:
            return await asyncio.wait_for(call, self.step)
        except asyncio.TimeoutError:
            if self.crashed.is_set():
                raise RenderFailed("the browser tab crashed") from None
            raise RenderFailed(f"the page did not answer within {self.step:.0f} s "
                               "(its scripts keep it busy)") from None


async def _close_popup(popup: Page) -> None:
    try:
        await popup.close()
    except Error:
        pass


def _frame(request: Request) -> Any:
    try:
        return request.frame
    except Error:  # a service worker's request has no frame (and service workers are blocked)
        return None


def _browser_headers(ex: Exchange) -> dict[str, str]:
    """The response headers as the browser is to see them: the framing of the bytes as
    they travelled removed, repeated headers joined (Set-Cookie by lines, as Playwright takes them)."""
    headers: dict[str, str] = {}
    for name, value in ex.headers:
        key = name.lower()
        if key in _FRAMING:
            continue
        if key in headers:
            headers[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            headers[key] = value
    return headers


def _browser_body(ex: Exchange) -> bytes | None:
    """The payload with its Content-Encoding undone, for the browser; None if it is too large
    for the browser or its encoding cannot be undone (the record keeps it as received)."""
    if ex.length > MAX_BROWSER_BODY:
        return None
    ex.body.seek(0)
    data = ex.body.read()
    coding = (ex.header("Content-Encoding") or "").strip().lower()
    if coding in ("", "identity"):
        return data
    if coding not in ("gzip", "x-gzip", "deflate"):
        return None  # br, zstd: never asked for (fetch's Accept-Encoding), not decoded here
    for wbits in ((16 + zlib.MAX_WBITS,) if coding != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)):
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(data, MAX_BROWSER_BODY + 1)
        except zlib.error:
            continue
        return out if len(out) <= MAX_BROWSER_BODY else None  # a bomb, or just too large
    return None
