"""The HTML and CSS of a static export: every link made relative, nothing left that reaches out.

A link to a captured resource becomes a relative href to its file in the export. A
link a reader follows (``<a>``, ``<area>``, a form) to something not captured keeps
its original absolute URL, marked as leaving the mirror; anything else that is not
captured (an image, a stylesheet, a frame, a preload, a meta refresh, ``<base>``)
is removed or pointed at nothing, so opening a page never contacts the origin or a
third party. Scripts from other sites and inline scripts that load, mention or track
through other hosts are dropped; the page stays readable without JavaScript.

The document is copied through exactly otherwise (formats.html.HtmlRewriter's
patches), in its own charset; what is inserted (the head meta tags and the banner of
mirror.export_banner) is ASCII, so it fits every charset. A UTF-8 page is read as its
bytes (formats.utf8_view): only the tags, <style> and <script> bodies and the title
that are not all ASCII are decoded, to be read and rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from refuge.formats.html import utf8_view
from refuge.formats.css import rewrite_css
from refuge.formats.html.rewriter import HtmlRewriter
from refuge.formats.html.scanner import STATEFUL
from refuge.formats.html.attrs import (
    CSS,
    HEAD_TAGS,
    REFRESH,
    SRCSET,
    URL,
    WS,
    Attr,
    escape_attr,
    fetchable,
    parse_attrs,
    url_attrs,
    url_spans,
)
from refuge.formats.urls import join
from refuge.mirror.export.banner import LEAVING_TITLE
from refuge.mirror.export.paths import rel_href
from refuge.mirror.export.scripts import drops_inline
from refuge.mirror.export.site import Site
from refuge.mirror.replay.policy import quote_url

Lookup = Callable[[str], "str | None"]  # absolute URL, fragment removed -> its path in the export, or None

INERT = "data:,"  # what an uncaptured CSS url() becomes: loads nothing, fetches nothing
_NAV = frozenset({("a", "href"), ("area", "href"), ("form", "action"), ("button", "formaction"),
                  ("input", "formaction")})
_DROP_META = frozenset({"content-security-policy", "x-dns-prefetch-control", "set-cookie", "origin-trial"})


def _removal(text: str, start: int, end: int) -> tuple[int, int, str]:
    """The edit that removes the attribute at [start, end) with the white space before it."""
    return len(text[:start].rstrip(WS)), end, ""


class ExportRewriter(HtmlRewriter):
    """Rewrites one page for the export: see the module's docstring."""

    def __init__(self, url: str, path: str, lookup: Lookup, site: Site, head: str, banner_html: str,
                 view: bool = False) -> None:
        super().__init__(self._css_ref, banner_html)
        self.url, self.path, self._lookup, self._site = url, path, lookup, site
        # VIEW: the page is fed as formats.utf8_view's view. A start tag that is not all ASCII
        # is then handled as text (_start), and _viewed holds it as it lies in the view.
        self._view = view
        self._viewed: str | None = None
        parts = urlsplit(url)
        self._url_dir = f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/"
        self._path_dir = path.rsplit("/", 1)[0] if "/" in path else ""
        self._head = head
        self._head_done = False
        self._script: tuple[int, str, str] | None = None  # open <script>: (start, "drop" | "inline", type)
        self._script_text: list[str] | None = None
        self._title: list[str] | None = None
        self.title = ""
        self._base_written: str | None = None
        self._base_url = url
        # See _update_known: the rewritten tags that stand for themselves in the body, and
        # in the head before the banner is placed (only those that belong in a head).
        self._plain = site.tags(self._url_dir, self._path_dir, None, "", view)
        self._in_head = site.tags(self._url_dir, self._path_dir, None, "<head>", view)

    # -- where links go --------------------------------------------------------------

    def absolute(self, href: str) -> str | None:
        written = self.base
        if written != self._base_written:
            self._base_written = written
            self._base_url = (join(self.url, written) if written else None) or self.url
        return join(self._base_url, href)

    def local(self, absolute: str) -> str | None:
        """The relative href of a captured URL (its fragment kept), None if not captured."""
        bare, hashmark, fragment = absolute.partition("#")
        target = self._lookup(bare)
        if target is None:
            return None
        return rel_href(self.path, target) + (hashmark + quote_url(fragment) if hashmark else "")

    def _css_ref(self, url: str, kind: str) -> str | None:
        absolute = self.absolute(url)
        if absolute is None:
            return None
        return self.local(absolute) or INERT

    # -- the parser's callbacks ----------------------------------------------------------

    def _tag(self, tag: str, at: int, text: str, attrs: list[Attr] | None) -> None:
        patches = self._patches
        if not self._head_done and tag not in ("html", "head"):
            self._head_done = True
            patches.append((at, at, self._head))
        if not self._banner_done:
            if tag == "frameset":
                self._banner_done = True
            elif tag != "body" and tag not in HEAD_TAGS and not self._hidden:
                self._banner_done = True
                patches.append((at, at, self._banner or ""))
        shown = text if self._viewed is None else self._viewed
        end = at + len(shown)
        if tag == "script":
            new = self._open_script(at, text, attrs or [])
        elif tag == "base":
            new = ""
        elif attrs is not None:
            new = self._rewritten(tag, text, attrs)
        else:
            new = shown
        if new is not shown and new != shown:
            patches.append((at, end, new))
        if not self._head_done and tag == "head":
            self._head_done = True
            patches.append((end, end, self._head))
        if tag == "body" and not self._banner_done and not self._hidden:
            self._banner_done = True
            patches.append((end, end, self._banner or ""))
        if tag == "title" and self._title is None and not self.title:
            self._title = []

    def _start(self, tag: str, text: str, closed: bool, style: bool | None) -> None:
        if self._view and not text.isascii():
            self._viewed = text
            text = utf8_view.real(text)
            if style is not None:  # HTMLParser read the view's attributes: read the text's
                style = any(a.name == "style" for a in parse_attrs(text))
        super()._start(tag, text, closed, style)  # calls _tag, then tracks containers
        self._viewed = None
        self._update_known()

    def _in_view(self, text: str, new: str) -> str:
        """NEW, the rewrite of the start tag TEXT, as it goes into the page."""
        viewed = self._viewed
        if viewed is None:
            return new
        return viewed if new is text else utf8_view.view(new)

    def _update_known(self) -> None:
        # The scanner may apply rewritten tags itself once the head meta is placed, outside any
        # media element and while no <base> changes how links resolve; before the banner is
        # placed, only tags that cannot be its place.
        if not self._head_done or not self._begun or self.base is not None or self._media:
            self.known = None
        else:
            self.known = self._plain if self._banner_done else self._in_head

    def _replace(self, at: int, text: str, new: str) -> None:
        self._patches.append((at, at + len(text), new))

    def handle_data(self, data: str) -> None:
        super().handle_data(data)
        if self._script_text is not None:
            self._script_text.append(data)
        elif self._title is not None:
            self._title.append(data)

    def handle_endtag(self, tag: str) -> None:
        super().handle_endtag(tag)
        if tag in ("picture", "video", "audio"):
            self._update_known()
        if tag == "script" and self._script_text is not None:
            gt = self.rawdata.find(">", self._end_at - self._consumed)
            self._end_script(self._consumed + (gt + 1 if gt >= 0 else len(self.rawdata)))
        elif tag == "title" and self._title is not None:
            title = "".join(self._title)
            if self._view and not title.isascii():
                title = utf8_view.real(title)
            self.title = " ".join(title.split())
            self._title = None

    def close(self) -> str:  # type: ignore[override]
        super(HtmlRewriter, self).close()  # the scanner's close: the banner and head come below
        if self._script_text is not None:  # an unclosed <script> runs to the end: it goes
            if self._script is not None:
                self._script = (self._script[0], "drop", self._script[2])
            self._end_script(self._consumed)
        if not self._head_done:
            self._head_done = True
            self._patches.append((self._consumed, self._consumed, self._head))
        if not self._banner_done:
            self._banner_done = True
            self._patches.append((self._consumed, self._consumed, self._banner or ""))
        return self._flush()

    def _limit(self) -> int:
        # Also held back: an open <script>, which may yet be dropped whole.
        limit = super()._limit()
        return limit if self._script is None else min(limit, self._script[0])

    # -- scripts -------------------------------------------------------------------------

    def _open_script(self, at: int, text: str, attrs: list[Attr]) -> str:
        """The script's start tag as kept; the element may still be dropped at its end tag.
        Pages share their script tags too: what becomes of one depends on what other tags'
        rewrites depend on (see _rewritten) and on the page's host, which a folder shares."""
        self._script_text = []
        if "?" in text:
            mode, script_type, new = self._script_start(text, attrs)
        else:
            scripts = self._site.scripts(self._url_dir, self._path_dir, self.base, self._view)
            key = text if self._viewed is None else self._viewed
            found = scripts.get(key)
            if found is None:
                found = scripts[key] = self._script_start(text, attrs)
                self._site.cached += 1
            mode, script_type, new = found
        self._script = None if mode is None else (at, mode, script_type)
        return new

    def _script_start(self, text: str, attrs: list[Attr]) -> tuple[str | None, str, str]:
        """(what may become of the element: "inline", "drop" or None when it is kept, its
        type, its start tag as kept)."""
        script_type = next((a.value for a in attrs if a.name == "type"), "")
        src = next((a for a in attrs if a.name == "src" and a.value.strip(WS)), None)
        if src is None:
            return "inline", script_type, self._in_view(text, text)
        url = src.value.strip(WS)
        absolute = self.absolute(url) if fetchable(url) else None
        local = self.local(absolute) if absolute is not None and self._site.owns(absolute, self.url) else None
        if local is None and (absolute is not None or fetchable(url)):
            return "drop", script_type, self._in_view(text, text)
        # A captured script of the site's own (or a data: one): kept.
        edits = [(src.vstart, src.vend, escape_attr(local, src.quote))] if local is not None else []
        edits += [_removal(text, a.start, a.end) for a in attrs if a.name == "integrity"]
        if "crossorigin" in text.lower():
            edits += [_removal(text, a.start, a.end) for a in parse_attrs(text, every=True)
                      if a.name == "crossorigin"]
        return None, script_type, self._in_view(text, _apply(text, edits))

    def _end_script(self, end: int) -> None:
        text = "".join(self._script_text or ())
        self._script_text = None
        if self._view and not text.isascii():
            text = utf8_view.real(text)
        if self._script is None:
            return
        start, mode, script_type = self._script
        self._script = None
        if mode == "drop" or drops_inline(text, script_type):
            # Whatever the parser found inside (only with a '<script/>' start tag) goes too;
            # insertions (head, banner) move after the element.
            kept = [p for p in self._patches if p[1] <= start]
            moved = [(end, end, r) for s, e, r in self._patches if s == e and start < s]
            self._patches[:] = kept + [(start, end, "")] + moved

    # -- other tags ------------------------------------------------------------------------

    def _rewritten(self, tag: str, text: str, attrs: list[Attr]) -> str:
        """The start tag as it goes into the page ("" to drop it), remembered: pages repeat
        their navigation and assets, and a tag's rewrite depends only on its text, the page's
        folder (in the site and in the export), any <base> and the enclosing media element.
        A link made only of a query ('?page=2') resolves against the whole page URL, so a tag
        with a '?' is not shared, nor one whose callbacks do more than rewrite it (STATEFUL):
        the scanner applies what is remembered without them (known)."""
        if "?" in text or tag in STATEFUL:
            return self._in_view(text, self._final(text, self._export_tag(tag, text, attrs)))
        if self.base is None and not self._media:
            tags = self._plain  # what site.tags would return: the body's tags, looked up once per page
        else:
            tags = self._site.tags(self._url_dir, self._path_dir, self.base, self._media[-1] if self._media else "",
                                   self._view)
        key = text if self._viewed is None else self._viewed
        new = tags.get(key)
        if new is None:
            new = tags[key] = self._in_view(text, self._final(text, self._export_tag(tag, text, attrs)))
            self._site.cached += 1
        if self.known is self._in_head and tag in HEAD_TAGS:  # the state this tag came in
            self._in_head[key] = new
        return new

    @staticmethod
    def _final(text: str, new: str | None) -> str:
        return "" if new is None else text if new == text else new

    def _export_tag(self, tag: str, text: str, attrs: list[Attr]) -> str | None:
        """The start tag rewritten, or None to drop it."""
        edits: list[tuple[int, int, str]] = []
        leaving = False
        if tag == "meta":
            named = {a.name: a.value.strip(WS).lower() for a in reversed(parse_attrs(text, every=True))}
            if named.get("http-equiv", "") in _DROP_META or named.get("name") == "referrer":
                return None
        for a, _kind, mode in url_attrs(tag, attrs, self._media[-1] if self._media else ""):
            if mode == URL:  # the common case, url_spans(URL, ...) inlined
                value = a.value
                url = value.strip(WS)
                if not url or not fetchable(url):
                    continue
                s = len(value) - len(value.lstrip(WS)) if len(url) < len(value) else 0
                e = s + len(url)
            elif mode == CSS:
                new = rewrite_css(a.value, self._css_ref)
                if new != a.value:
                    edits.append((a.vstart, a.vend, escape_attr(new, a.quote)))
                continue
            elif mode == SRCSET:
                new = self._srcset(a.value)
                if new is None:
                    edits.append(_removal(text, a.start, a.end))
                elif new != a.value:
                    edits.append((a.vstart, a.vend, escape_attr(new, a.quote)))
                continue
            else:
                spans = url_spans(mode, a.value)
                if not spans:
                    continue
                s, e = spans[0]
                url = a.value[s:e]
                if not fetchable(url):
                    continue  # a fragment, javascript:, mailto:, data:...: nothing to fetch
            absolute = self.absolute(url)
            if absolute is None:
                continue
            local = self.local(absolute)
            if local is not None:
                edits.append((a.vstart, a.vend, escape_attr(a.value[:s] + local + a.value[e:], a.quote)))
            elif (tag, a.name) in _NAV:
                leaving = True
                edits.append((a.vstart, a.vend, escape_attr(quote_url(absolute), a.quote)))
            elif tag in ("link", "meta") or mode == REFRESH:
                return None
            else:
                edits.append(_removal(text, a.start, a.end))
        lower = text.lower()
        if tag == "link":
            edits += [_removal(text, a.start, a.end) for a in attrs if a.name == "integrity"]
        if "crossorigin" in lower or "ping" in lower or "srcdoc" in lower or leaving:
            found = parse_attrs(text, every=True)
            drop = {"crossorigin", "ping", "srcdoc"}
            edits += [_removal(text, a.start, a.end) for a in found if a.name in drop]
            if leaving and tag in ("a", "area") and not any(a.name == "title" for a in found):
                at = 1 + len(tag)
                edits.append((at, at, f' title="{LEAVING_TITLE}"'))
        return _apply(text, edits)

    def _style_text(self, start: int, end: int, text: str) -> None:
        if not self._view or text.isascii():
            super()._style_text(start, end, text)
            return
        read = utf8_view.real(text)
        new = rewrite_css(read, self._css_ref)
        if new != read:
            self._patches.append((start, end, utf8_view.view(new)))

    def _srcset(self, value: str) -> str | None:
        """A srcset with each candidate made local or left out; None if none is left."""
        spans = url_spans(SRCSET, value)
        pieces, changed = [], False
        for i, (s, e) in enumerate(spans):
            rest = value[e:spans[i + 1][0] if i + 1 < len(spans) else len(value)]
            url = value[s:e]
            absolute = self.absolute(url) if fetchable(url) else None
            if absolute is None:
                pieces.append(url + rest)
                continue
            changed = True
            local = self.local(absolute)
            if local is not None:
                pieces.append(local + rest)
        if not changed:
            return value
        if not pieces:
            return None
        return value[:spans[0][0]] + "".join(pieces).rstrip(WS + ",")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    if len(edits) == 1:
        start, end, replacement = edits[0]
        return text[:start] + replacement + text[end:]
    edits.sort(key=lambda e: (e[0], e[1]))
    out, pos = [], 0
    for start, end, replacement in edits:
        if start < pos:  # overlapping edits never come from one tag's attributes; be safe
            continue
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def rewrite_stylesheet(text: str, url: str, path: str, lookup: Lookup) -> str:
    """A stylesheet with url() and @import made relative to its own file, or inert."""
    def ref(href: str, _kind: str) -> str | None:
        absolute = join(url, href)
        if absolute is None:
            return None
        bare, hashmark, fragment = absolute.partition("#")
        target = lookup(bare)
        if target is None:
            return INERT
        return rel_href(path, target) + (hashmark + quote_url(fragment) if hashmark else "")
    return rewrite_css(text, ref)
