"""A Playwright browser context that lets requests reach only the server under test.

    with guarded_context(browser, base + "/") as (context, elsewhere):
        page = context.new_page()
        ...
    assert elsewhere == [], elsewhere

Every request the context makes goes through a route: one whose URL starts with one of
ALLOWED goes on, any other is aborted (it never leaves the machine) and its URL recorded in
ELSEWHERE, for the test to assert there was none. The context is closed on leaving the block.
Extra keyword arguments go to browser.new_context (java_script_enabled=False...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def guarded_context(browser: Any, allowed: str | tuple[str, ...],
                    **options: Any) -> Iterator[tuple[Any, list[str]]]:
    """A new context of BROWSER in which only URLs starting with ALLOWED are fetched, and the
    list the URLs of every other request it made are appended to."""
    context = browser.new_context(**options)
    elsewhere: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(allowed):
            r.continue_()
        else:
            elsewhere.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    try:
        yield context, elsewhere
    finally:
        context.close()
