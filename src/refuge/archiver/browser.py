"""The browser of one crawl worker process: headless Chromium driven by Playwright.

Contract: `BrowserHost(settings, fetch)`; `host.render(url, document, options, stop)`
renders one page (browser_page.render_page) and returns its Rendered. It blocks, may be
called from any of the worker's threads, and runs at most `browser_tabs` pages at once
(the others wait their turn). A page whose attempt fails (a crashed tab, scripts that
never yield, the page budget spent, the browser gone) is tried once more in a fresh
context, in a relaunched browser if it died; a second failure raises RenderFailed naming
why. RenderStopped: the capture is stopping. `close()` ends the browser.

FETCH ((url, deadline) -> (exchange, how it was recorded)) is the worker's: it fetches
through the guarded session by DEADLINE (a time.monotonic() value: the page's budget) and
writes the WARC records. Playwright runs on an asyncio loop in a thread of its own; FETCH
runs in a small pool of threads beside it, since it blocks. close() waits for the fetches
still running (the worker has told them to give up) before the worker seals its files.

Nothing the browser does reaches the network by itself: every request is intercepted
(browser_page), service workers are blocked (their requests would not be), WebSockets are
refused, and Chromium is told to send everything else through a proxy at a port of
127.0.0.1 that this process holds bound and never listens on, so a request that escapes
interception fails at once. Routing every request also keeps Chromium's HTTP cache out of
the way: every response the page uses is one fetched, and recorded, for it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import shutil
import socket
import threading
from collections.abc import Callable
from typing import Any

from refuge.archiver.fetch import Exchange
from refuge.archiver.rendered import BrowserOptions, Budget, Rendered, RenderFailed, RenderStopped
from refuge.config.settings import Settings

LAUNCH_SECONDS = 60.0
CLOSE_SECONDS = 10.0
# Chromium switches. The proxy and its bypass list are added per browser (chromium_args).
_SWITCHES = [
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers give /dev/shm 64 MB, too little for big pages
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    # WebRTC may send UDP around a proxy (STUN): only through it, which is to say never.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    # A hostile page's script cannot grow its heap past this: its tab dies (and is retried, then listed).
    "--js-flags=--max-old-space-size=1024",
]


def chromium_args(blackhole_port: int) -> list[str]:
    """Chromium's switches: everything not intercepted goes to a proxy that refuses it,
    loopback included (Chromium would otherwise reach 127.0.0.1 around any proxy)."""
    return _SWITCHES + [f"--proxy-server=http://127.0.0.1:{blackhole_port}", "--proxy-bypass-list=<-loopback>"]


def browser_problem(settings: Settings) -> str | None:
    """Why browser mode cannot run here (Chromium or Playwright missing), or None."""
    path = settings.browser_executable
    if not (os.access(path, os.X_OK) or shutil.which(path)):
        return (f"browser mode needs Chromium at {path} (setting browser_executable); "
                "install it with `apt-get install chromium`")
    if importlib.util.find_spec("playwright") is None:
        return "browser mode needs Playwright: pip install 'refuge[browser]'"
    return None


class BrowserHost:
    """One Chromium for one worker process (see the module doc)."""

    def __init__(self, settings: Settings, fetch: Callable[[str, float], tuple[Exchange, str]]) -> None:
        from refuge.archiver import browser_page  # imports Playwright: only once a browser is wanted

        self._render_page = browser_page.render_page
        self._fetch_threads = browser_page.PAGE_FETCHES
        self._viewport = browser_page.VIEWPORT
        self.settings = settings
        self.fetch = fetch
        self.budget = Budget(settle=settings.browser_settle_seconds, page=settings.browser_page_seconds)
        # Bound and never listening: a connection to it is refused at once, and no other
        # process can start listening there while this one holds it.
        self._blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._blackhole.bind(("127.0.0.1", 0))
        self._pool = concurrent.futures.ThreadPoolExecutor(settings.browser_tabs * self._fetch_threads,
                                                           thread_name_prefix="browser-fetch")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="browser", daemon=True)
        self._thread.start()
        self._playwright: Any = None
        self._browser: Any = None
        self._tabs = asyncio.run_coroutine_threadsafe(self._make_locks(), self._loop).result()
        self._fetches: set[concurrent.futures.Future] = set()  # running in the pool

    async def _make_locks(self) -> asyncio.Semaphore:
        self._launching = asyncio.Lock()
        return asyncio.Semaphore(self.settings.browser_tabs)

    def render(self, url: str, document: Exchange, options: BrowserOptions, stop: threading.Event) -> Rendered:
        """Render URL, whose document the caller fetched and recorded (see the module doc)."""
        future = asyncio.run_coroutine_threadsafe(self._render(url, document, options, stop), self._loop)
        # Every step inside is bounded; this only guards against a wedged loop. Waiting for a
        # tab counts too: every other page of this worker may be ahead.
        bound = 2 * (self.budget.page + LAUNCH_SECONDS + 2 * CLOSE_SECONDS) * (1 + self.settings.workers)
        try:
            return future.result(timeout=bound)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise RenderFailed(f"the browser did not answer within {bound:.0f} s") from None

    def close(self) -> None:
        """Close the browser and the loop; safe to call twice."""
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=2 * CLOSE_SECONDS + 5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()
        # A fetch gives up within a read's timeout once told to (the worker's closing flag):
        # wait that long, then leave it; what it would record then is refused by the writer.
        self._pool.shutdown(wait=False, cancel_futures=True)
        concurrent.futures.wait(list(self._fetches), timeout=self.settings.timeout + CLOSE_SECONDS)
        self._blackhole.close()

    # -- on the loop -------------------------------------------------------------------------

    async def _render(self, url: str, document: Exchange, options: BrowserOptions,
                      stop: threading.Event) -> Rendered:
        from playwright.async_api import Error

        async with self._tabs:
            reasons: list[str] = []
            for _attempt in range(2):
                if stop.is_set():
                    raise RenderStopped()
                context = None
                try:
                    browser = await self._browser_up()
                    context = await browser.new_context(
                        service_workers="block", viewport=self._viewport, user_agent=self.settings.user_agent,
                        accept_downloads=False)
                    await context.route_web_socket("**/*", _refuse_socket)
                    return await self._render_page(context, url, document, options, self._fetch_async,
                                                   self.budget, stop.is_set, self.settings.max_response_bytes)
                except RenderFailed as exc:
                    reasons.append(str(exc))
                except Error as exc:  # the browser went away between pages, or would not start a context
                    reasons.append(f"the browser failed: {str(exc).splitlines()[0][:200]}")
                finally:
                    if context is not None:
                        await self._close_context(context)
                if stop.is_set():
                    raise RenderStopped()
            raise RenderFailed(f"{reasons[-1]} (tried twice)")

    async def _fetch_async(self, url: str, deadline: float) -> tuple[Exchange, str]:
        future = self._pool.submit(self.fetch, url, deadline)
        self._fetches.add(future)
        future.add_done_callback(self._fetches.discard)
        return await asyncio.wrap_future(future)

    async def _browser_up(self) -> Any:
        """The browser, launched (again, if it died) when needed."""
        async with self._launching:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            await self._discard()
            problem = browser_problem(self.settings)
            if problem:
                raise RenderFailed(problem)
            from playwright.async_api import Error, async_playwright

            try:
                self._playwright = await async_playwright().start()
                self._browser = await self._playwright.chromium.launch(
                    executable_path=self.settings.browser_executable, headless=True,
                    args=chromium_args(self._blackhole.getsockname()[1]), timeout=LAUNCH_SECONDS * 1000,
                    handle_sigint=False, handle_sigterm=False, handle_sighup=False)
            except Error as exc:
                await self._discard()
                raise RenderFailed(f"Chromium did not start: {str(exc).splitlines()[0][:200]}") from None
            return self._browser

    async def _close_context(self, context: Any) -> None:
        """Close a page's context; a browser that will not is taken down, to be relaunched."""
        from playwright.async_api import Error

        try:
            await asyncio.wait_for(context.close(), CLOSE_SECONDS)
        except (asyncio.TimeoutError, Error):
            async with self._launching:
                await self._discard()

    async def _discard(self) -> None:
        """Forget the browser and its Playwright driver, closing them if they still answer
        (stopping the driver ends the browser it launched)."""
        browser, playwright, self._browser, self._playwright = self._browser, self._playwright, None, None
        for closing in ((browser.close() if browser is not None else None),
                        (playwright.stop() if playwright is not None else None)):
            if closing is None:
                continue
            try:
                await asyncio.wait_for(closing, CLOSE_SECONDS)
            except Exception:  # noqa: BLE001 - already gone, or hung: either way it is dropped
                pass

    async def _shutdown(self) -> None:
        async with self._launching:
            await self._discard()


async def _refuse_socket(socket_route: Any) -> None:
    """A WebSocket the page opens: closed, never connected (archives hold no sockets)."""
    await socket_route.close(code=1008, reason="not captured")
