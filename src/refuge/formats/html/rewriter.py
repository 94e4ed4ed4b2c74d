"""HTML: the URLs a page references, and rewriting them while copying everything else exactly.

The standard library's HTMLParser tokenizes; nothing is rebuilt from its callbacks, which
would normalise the markup. Instead the parser reports where each start tag lies in the
input, and the output is the input copied through with patches at those places: URL
attribute values, <style> bodies, dropped <link integrity>, the banner.

The tokenizer underneath (html_scanner) steps over the markup nobody patches (<div>,
<span>, </p>, text) with one regular expression instead of a Python call per tag.
"""

from __future__ import annotations

from collections.abc import Callable

from refuge.formats.css import rewrite_css
from refuge.formats.html.attrs import (
    CSS,
    HEAD_TAGS,
    SRCSET,
    URL,
    WS,
    Attr,
    escape_attr,
    fetchable,
    url_attrs,
    url_spans,
)
from refuge.formats.html.scanner import _Scanner

Rewrite = Callable[[str, str], str | None]


class HtmlRewriter(_Scanner):
    """Rewrites the URLs in an HTML document fed in chunks, copying everything else exactly.

    rewrite(url_as_written, kind) returns the replacement or None to leave the URL alone; it
    is called with entity-decoded values and kind as html_links reports it ("base" for a
    <base href>). self.base holds the first <base href> from the moment its tag is seen.
    banner, if given, is inserted once: right after the <body> start tag, else before the
    first start tag that cannot be in <head>, else at the end (never in a frameset document).
    """

    def __init__(self, rewrite: Rewrite, banner: str | None = None) -> None:
        super().__init__()
        self._rewrite = rewrite
        self._banner = banner
        self._banner_done = banner is None
        self._pending: list[str] = []  # parsed input not yet returned, starting at self._out_at
        self._out_at = 0
        self._patches: list[tuple[int, int, str]] = []  # (start, end, replacement), in order

    def _every_tag(self) -> bool:
        # Until the banner is placed every start tag may be its place (the scanner's own
        # condition is spelled out: this runs before every tag that is not stepped over).
        return not self._banner_done or not self._begun

    def feed(self, text: str) -> str:  # type: ignore[override]
        """Parse a chunk; return the output that can no longer change."""
        super().feed(text)
        return self._flush()

    def close(self) -> str:  # type: ignore[override]
        """Finish the document; return the rest of the output."""
        super().close()
        if not self._banner_done:
            self._banner_done = True
            self._patches.append((self._consumed, self._consumed, self._banner or ""))
        return self._flush()

    def _took(self, raw: str, n: int) -> None:
        self._pending.append(raw[:n] if n < len(raw) else raw)

    def _limit(self) -> int:
        """Where the output that can no longer change ends. An open <style> is held back
        whole: its rewrite is known only at its end tag."""
        return self._consumed if self._style is None else self._style_at

    def _flush(self) -> str:
        limit = self._limit()
        if limit <= self._out_at and not (self._patches and self._patches[0][1] <= limit):
            return ""
        buf = self._pending[0] if len(self._pending) == 1 else "".join(self._pending)
        base = pos = self._out_at
        out = []
        done = 0
        for start, end, replacement in self._patches:
            if end > limit:
                break
            out.append(buf[pos - base:start - base])
            out.append(replacement)
            pos = end
            done += 1
        del self._patches[:done]
        out.append(buf[pos - base:limit - base])
        rest = buf[limit - base:]
        self._pending = [rest] if rest else []
        self._out_at = limit
        return "".join(out)

    def _tag(self, tag: str, at: int, text: str, attrs: list[Attr] | None) -> None:
        if not self._banner_done:
            if tag == "frameset":
                self._banner_done = True
            elif tag != "body" and tag not in HEAD_TAGS and not self._hidden:
                self._banner_done = True
                self._patches.append((at, at, self._banner or ""))
        if attrs is not None:
            new = self._rewrite_tag(tag, text, attrs)
            if new != text:
                self._patches.append((at, at + len(text), new))
        if tag == "body" and not self._banner_done and not self._hidden:
            self._banner_done = True
            self._patches.append((at + len(text), at + len(text), self._banner or ""))

    def _rewrite_tag(self, tag: str, text: str, attrs: list[Attr]) -> str:
        edits: list[tuple[int, int, str]] = []
        if tag == "link":
            # The stylesheet will be rewritten, so its Subresource Integrity hash cannot match.
            for a in attrs:
                if a.name == "integrity":
                    before = text[:a.start]
                    edits.append((len(before.rstrip(WS)), a.end, ""))
        for a, kind, mode in url_attrs(tag, attrs, self._media[-1] if self._media else ""):
            new = self._rewrite_value(kind, mode, a.value)
            if new is not None:
                edits.append((a.vstart, a.vend, escape_attr(new, a.quote)))
        if not edits:
            return text
        if len(edits) == 1:
            start, end, replacement = edits[0]
            return text[:start] + replacement + text[end:]
        edits.sort()
        out, pos = [], 0
        for start, end, replacement in edits:
            out.append(text[pos:start])
            out.append(replacement)
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _rewrite_value(self, kind: str, mode: str, value: str) -> str | None:
        """The new decoded attribute value, or None if no URL in it changed."""
        if mode == CSS:
            new = rewrite_css(value, self._rewrite)
            return new if new != value else None
        if mode == URL:  # url_spans(URL, value), the one span inlined
            url = value.strip(WS)
            if not url or not fetchable(url):
                return None
            new = self._rewrite(url, kind)
            if new is None or new == url:
                return None
            if len(url) == len(value):
                return new
            start = len(value) - len(value.lstrip(WS))
            return value[:start] + new + value[start + len(url):]
        out, pos = [], 0
        for start, end in url_spans(mode, value):
            url = value[start:end]
            if not fetchable(url):
                continue
            new = self._rewrite(url, kind)
            if new is None or new == url:
                continue
            if mode == SRCSET:
                # A space or trailing comma would end the candidate early.
                new = new.replace(" ", "%20").replace(",", "%2C") if " " in new or new.endswith(",") else new
            out.append(value[pos:start])
            out.append(new)
            pos = end
        if not out:
            return None
        out.append(value[pos:])
        return "".join(out)

    def _style_text(self, start: int, end: int, text: str) -> None:
        new = rewrite_css(text, self._rewrite)
        if new != text:
            self._patches.append((start, end, new))


def rewrite_html(text: str, rewrite: Rewrite, banner: str | None = None) -> str:
    """The whole document rewritten at once: HtmlRewriter fed everything, then closed."""
    rewriter = HtmlRewriter(rewrite, banner)
    return rewriter.feed(text) + rewriter.close()
