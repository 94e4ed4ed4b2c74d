"""The names of the records a browser-mode capture adds beside a page's responses
(docs/capture.md, "Browser mode"): its rendered DOM, ``urn:dom:<page URL>`` (text/html;
charset=utf-8), and a full-page screenshot, ``urn:screenshot:<page URL>`` (image/png), both
WARC ``resource`` records indexed under that URI. Replay links the screenshot from a page's
banner; the static export writes a page from its rendered DOM. Pure: no I/O.
"""

from __future__ import annotations

DOM = "urn:dom:"
SCREENSHOT = "urn:screenshot:"


def dom_uri(page_url: str) -> str:
    """The URI of the rendered DOM of the page captured from PAGE_URL."""
    return DOM + page_url


def screenshot_uri(page_url: str) -> str:
    """The URI of the screenshot of the page captured from PAGE_URL."""
    return SCREENSHOT + page_url


def page_of(uri: str) -> str | None:
    """The page URL a urn:dom: or urn:screenshot: URI names (an http(s) URL), else None."""
    for prefix in (DOM, SCREENSHOT):
        if uri[:len(prefix)].lower() == prefix:
            page = uri[len(prefix):]
            return page if page[:8].lower().startswith(("http://", "https://")) else None
    return None


def kind_of(uri: str) -> str | None:
    """"dom" or "screenshot" for a URI of either kind (naming an http(s) page), else None."""
    if page_of(uri) is None:
        return None
    return "dom" if uri[:len(DOM)].lower() == DOM else "screenshot"
