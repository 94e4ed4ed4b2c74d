"""HTML: the URLs a page references, and rewriting them while copying everything else exactly.

The standard library's HTMLParser tokenizes; nothing is rebuilt from its callbacks, which
would normalise the markup. Instead the parser reports where each start tag lies in the
input, and the output is the input copied through with patches at those places: URL
attribute values, <style> bodies, dropped <link integrity>, the banner.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

from .css import rewrite_css
from .html_attrs import (
    CSS, HEAD_TAGS, SRCSET, URL_TAGS, WS, Attr, escape_attr, fetchable, parse_attrs, url_attributes, url_spans,
)

Rewrite = Callable[[str, str], str | None]


class _Scanner(HTMLParser):
    """An HTMLParser that knows where in the whole input each tag and <style> body lies.

    self._consumed counts the characters the parser has dropped from the front of
    self.rawdata, so during a callback `self._consumed + i` is absolute for rawdata index i.
    Only goahead, parse_starttag, parse_endtag and handle_* are overridden: they are the
    parts of html.parser that stay put across CPython releases.
    """

    # <title> and <textarea> hold text, never markup: nothing inside them is a link. Recent
    # CPython also reads <iframe>, <noembed> and <noframes> as text, as browsers do; they stay
    # markup here on every release, because an unclosed <iframe> would otherwise hide the rest
    # of the page, while a link found in fallback content costs nothing.
    CDATA_CONTENT_ELEMENTS = ("script", "style", "textarea", "title", "xmp")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self._consumed = 0
        self._tag_at = 0
        self._end_at = 0
        self._style: list[str] | None = None  # the open <style> element's text, as parsed so far
        self._style_at = 0
        self._media: list[str] = []  # open <picture>, <video>, <audio>: what a <source> feeds
        self._hidden = 0  # depth inside <noscript>/<template>, where no banner belongs

    def goahead(self, end: bool) -> None:
        raw = self.rawdata
        super().goahead(end)
        taken = len(raw) - len(self.rawdata)
        self._consumed += taken
        if taken:
            self._took(raw, taken)

    def parse_starttag(self, i: int) -> int:
        self._tag_at = self._consumed + i
        return super().parse_starttag(i)

    def parse_endtag(self, i: int) -> int:
        self._end_at = self._consumed + i
        return super().parse_endtag(i)

    def parse_marked_section(self, i: int, report: int = 1) -> int:
        # Outside SVG/MathML, browsers read "<![..." as a bogus comment ending at the next '>';
        # CPython 3.11 instead raises AssertionError on an unknown keyword such as "<![ x".
        return self.parse_bogus_comment(i, report)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        text = self.get_starttag_text() or ""
        if tag in URL_TAGS or any(name == "style" for name, _ in attrs):
            parsed = parse_attrs(text)
            if tag == "base" and self.base is None:
                # Set before any rewrite call, so the callback resolves against it.
                self.base = next((a.value.strip(WS) for a in parsed if a.name == "href" and a.value.strip(WS)),
                                 None)
            self._tag(tag, self._tag_at, text, parsed)
        else:
            self._tag(tag, self._tag_at, text, None)
        if closed:
            return
        if tag in ("picture", "video", "audio"):
            self._media.append(tag)
        elif tag in ("noscript", "template"):
            self._hidden += 1
        elif tag == "style":
            self._style = []
            self._style_at = self._tag_at + len(text)

    def handle_data(self, data: str) -> None:
        if self._style is not None:
            self._style.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style" and self._style is not None:
            self._end_style(self._end_at)
        elif tag in ("picture", "video", "audio") and tag in self._media:
            del self._media[len(self._media) - 1 - self._media[::-1].index(tag):]
        elif tag in ("noscript", "template") and self._hidden:
            self._hidden -= 1

    def close(self) -> None:
        super().close()
        rest = self.rawdata  # CPython 3.11 leaves an unclosed <script> or <style> body here
        if rest:
            self.rawdata = ""
            if self._style is not None:
                self._style.append(rest)
            self._took(rest, len(rest))
            self._consumed += len(rest)
        if self._style is not None:  # an unclosed <style> runs to the end of the document
            self._end_style(self._consumed)

    def _end_style(self, end: int) -> None:
        text = "".join(self._style or ())
        self._style = None
        # In CDATA mode the parser passes the element's text through untouched; if a parser
        # release ever split or decoded it, the lengths disagree and the text is left alone.
        if len(text) == end - self._style_at:
            self._style_text(self._style_at, end, text)

    def _url_attrs(self, tag: str, attrs: list[Attr]) -> list[tuple[Attr, str, str]]:
        """(attribute, kind, mode) for each attribute of this tag that holds URLs."""
        parent = self._media[-1] if self._media else ""
        found = url_attributes(tag, [(a.name, a.value) for a in attrs], parent)
        return [(attrs[i], kind, mode) for i, kind, mode in found if attrs[i].vstart >= 0]

    def _took(self, raw: str, n: int) -> None:
        """raw[:n] has been parsed and dropped from rawdata."""

    def _tag(self, tag: str, at: int, text: str, attrs: list[Attr] | None) -> None:
        """A start tag at absolute position at; attrs is None when it cannot hold URLs."""

    def _style_text(self, start: int, end: int, text: str) -> None:
        """The text of a <style> element, lying at [start, end) in the input."""


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

    def _flush(self) -> str:
        # An open <style> is held back whole: its rewrite is known only at its end tag.
        limit = self._consumed if self._style is None else self._style_at
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
        for a, kind, mode in self._url_attrs(tag, attrs):
            new = self._rewrite_value(kind, mode, a.value)
            if new is not None:
                edits.append((a.vstart, a.vend, escape_attr(new, a.quote)))
        if not edits:
            return text
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
