"""The tokenizer under formats.html's rewriter: CPython's HTMLParser, made to report where
in the whole input each start tag and <style> body lies, and to step over the markup
nobody patches (<div>, <span>, </p>, text) with one regular expression instead of a
Python call per tag (html_grammar). It also reads the end of a document, and markup left
open for megabytes, in linear time on every CPython release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from html.parser import HTMLParser

from refuge.formats.html.attrs import HEAD_TAGS, URL_TAGS, WS, Attr, parse_attrs, parse_clean_attrs, url_attrs
from refuge.formats.html.grammar import CLEAN_TAG, skipper

_STARTTAG_OPEN = re.compile("<[a-zA-Z]")  # html.parser's starttagopen
_CONTAINERS = frozenset({"picture", "video", "audio", "noscript", "template", "style"})  # _start tracks them


class _Scanner(HTMLParser):
    """An HTMLParser that knows where in the whole input each tag and <style> body lies.

    self._consumed counts the characters the parser has dropped from the front of
    self.rawdata, so during a callback `self._consumed + i` is absolute for rawdata index i.

    goahead is HTMLParser.goahead with a fast path (fast_path = False turns it off: then all
    input goes through HTMLParser.goahead, the reference the tests compare against):
    - clean tags (see CLEAN_TAG) are read by a regular expression. Everything else --
      comments, declarations, <?...>, end tags of raw text elements, malformed markup -- goes
      to HTMLParser's own parse_* methods, one token at a time, and what is left at the end
      of a chunk (text it may hold back, a cut-off tag) or at close to HTMLParser.goahead,
      so that it is read as before on every CPython release;
    - text, clean start tags not in SEEN_START that have no style attribute, and clean end
      tags not in SEEN_END are stepped over by one regular expression, without a callback:
      none would do anything. While _watching() says so, though, every start tag (the banner
      or the head is not placed yet) or everything (a self-closed <script/> or <title/> is
      open: a subclass may be collecting its text) goes to the callbacks;
    - below level 2, a clean start tag whose exact text is in known (a subclass's record of
      tags it has rewritten and that change nothing else in the state it is in) is replaced
      through _replace, without a callback: pages of a site repeat most of their tags.
    So a subclass sees start tags through _tag (handle_starttag may not be called), text
    through handle_data only in raw text elements or at _watching() level 2, and end tags
    through handle_endtag only for names in SEEN_END or at level 2; one that needs other tags
    adds their names to SEEN_START or SEEN_END.
    """

    # <title> and <textarea> hold text, never markup: nothing inside them is a link. Recent
    # CPython also reads <iframe>, <noembed> and <noframes> as text, as browsers do; they stay
    # markup here on every release, because an unclosed <iframe> would otherwise hide the rest
    # of the page, while a link found in fallback content costs nothing.
    CDATA_CONTENT_ELEMENTS = ("script", "style", "textarea", "title", "xmp")

    fast_path = True
    PENDING_LIMIT = 4 * 1024 * 1024  # characters of markup still open before it is given up on
    # The start and end tags that always reach the callbacks. Beside these, the names of raw
    # text elements and _PARSER_ELEMENTS are never stepped over.
    SEEN_START: frozenset[str] = URL_TAGS | HEAD_TAGS | frozenset({
        "body", "frameset", "picture", "video", "audio", "source", "noscript", "template"})
    SEEN_END: frozenset[str] = frozenset({"picture", "video", "audio", "noscript", "template"})
    # Start tags some parser release reads as raw (or plain) text, or might: only
    # HTMLParser.parse_starttag reads them.
    _PARSER_ELEMENTS = frozenset({"plaintext", "xmp", "iframe", "noembed", "noframes", "noscript"})
    _skippers: dict[type, tuple[tuple[Callable[[str, int], re.Match[str]], ...], frozenset[str], frozenset[str]]] = {}

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
        self._begun = False  # a start tag other than <html> and <head> seen
        self._raw_open: list[str] = []  # self-closed raw text elements (<script/>) not yet ended
        self._retry_at = 0  # no pass until rawdata is this long (_after_pass)
        self._given_up = False  # the rest of the document is copied unread (_after_pass)
        # Start tags a subclass has already rewritten, text -> new text (the same object if
        # unchanged), for as long as it leaves this set: the fast path applies them through
        # _replace without a callback, unless everything must reach the callbacks (_watching()
        # is 2). Only tags whose callbacks would change nothing but their own text, in the
        # state the parser is in, belong here.
        self.known: dict[str, str] | None = None
        # _skips[level]: the skipper for _watching() level; _text_elements: raw text to the
        # parser; _parser_elements: start tags left to parse_starttag
        self._skips, self._text_elements, self._parser_elements = type(self).prepare()

    @classmethod
    def prepare(cls) -> tuple[tuple[Callable[[str, int], re.Match[str]], ...], frozenset[str], frozenset[str]]:
        """The class's compiled skippers and element sets, made on first use (compiling the
        skippers takes a few hundredths of a second: a parent that forks workers calls this
        first, so they inherit them)."""
        found = _Scanner._skippers.get(cls)
        if found is None:
            text = frozenset(cls.CDATA_CONTENT_ELEMENTS) | frozenset(getattr(cls, "RCDATA_CONTENT_ELEMENTS", ()))
            parser = text | cls._PARSER_ELEMENTS
            ends = cls.SEEN_END | parser
            found = (skipper(cls.SEEN_START | parser, ends), skipper(None, ends)), text, parser
            _Scanner._skippers[cls] = found
        return found

    def _replace(self, at: int, text: str, new: str) -> None:
        """The start tag TEXT at absolute position AT becomes NEW: see known."""

    def _watching(self) -> int:
        """What must reach the callbacks now besides SEEN_START and SEEN_END tags: 0 nothing,
        1 every start tag, 2 everything, text included."""
        if self._raw_open or self._style is not None:
            return 2
        return 1 if self._every_tag() else 0

    def _every_tag(self) -> bool:
        """Whether every start tag must reach _tag now: the first tags place things."""
        return not self._begun

    def goahead(self, end: bool) -> None:
        if self._given_up:
            self._take_all()
            return
        if not end and len(self.rawdata) < self._retry_at:
            return  # see _after_pass
        consumed = self._consumed
        if end or not self.fast_path:
            self._goahead(end)
        else:
            raw = self.rawdata
            i, text_left = self._scan(raw)
            if i:
                self.rawdata = raw[i:]
                self._consumed += i
                self._took(raw, i)
            if text_left:  # text to the end of the chunk: HTMLParser knows how much of it to hold back
                self._goahead(False)
        if not end:
            self._after_pass(self._consumed > consumed)

    def _after_pass(self, progressed: bool) -> None:
        """A pass that consumed nothing stopped at markup that has not ended yet (a tag, a
        comment, a raw text element's body) and would read it from its start again on every
        chunk: a tag left open for megabytes took minutes that way, chunk after chunk. So
        the next pass waits until what is pending has doubled, which keeps the work linear
        and changes nothing but how late its output comes (as bigger chunks would). Markup
        other than raw text still open after PENDING_LIMIT characters is given up on: the
        rest of the document is copied as it is, unread (a browser would make it all part
        of that tag), so memory stays bounded."""
        pending = len(self.rawdata)
        if progressed or not pending:
            self._retry_at = 0
        elif pending > self.PENDING_LIMIT and not self.cdata_elem:
            self._given_up = True
            self._take_all()
        else:
            self._retry_at = min(2 * pending, self.PENDING_LIMIT + 1)

    def _take_all(self) -> None:
        raw = self.rawdata
        if raw:
            self.rawdata = ""
            self._consumed += len(raw)
            self._took(raw, len(raw))

    def _goahead(self, end: bool) -> None:
        raw = self.rawdata
        super().goahead(False)
        if end:
            self._at_end()
        taken = len(raw) - len(self.rawdata)
        self._consumed += taken
        if taken:
            self._took(raw, taken)

    def _at_end(self) -> None:
        """The document has ended: read what HTMLParser.goahead(False) left in rawdata as the
        HTML standard reads it at end of file, in one step. That is text it held back (no '<'
        in it), or markup with no end that runs to the end of the document: a cut-off tag is
        dropped, a comment, declaration or <?...> closed; none holds a link.

        HTMLParser.goahead(True) before CPython's 2025 security releases (gh-135462) instead
        made each such '<' text up to the next '>' or '<' and read on from there, re-reading
        the rest of the document for every '<': a page of 50,000 unclosed tags (600 KB) took
        minutes. Doing it here also reads the end of such a page the same way on every
        release. An unclosed <script> or <style> body is left in rawdata for close()."""
        rest = self.rawdata
        if not rest or self.cdata_elem:
            return
        if not rest.startswith("<") or rest in ("<", "</"):
            self.handle_data(unescape(rest))
        self.rawdata = ""

    def _scan(self, raw: str) -> tuple[int, bool]:
        """HTMLParser.goahead(False) over raw, up to (not including) text without a '<' after
        it: returns where it stopped and whether that is such text."""
        n = len(raw)
        i = 0
        skips = self._skips
        watching = self._watching
        clean_start = self._clean_start
        starttag_open = _STARTTAG_OPEN.match
        startswith = raw.startswith
        while i < n:
            if self.cdata_elem:
                m = self.interesting.search(raw, i)
                if m is None:
                    break
                j = m.start()
                if i < j:
                    data = raw[i:j]
                    # Later releases decode character references in some raw text elements.
                    self.handle_data(unescape(data) if getattr(self, "_escapable", False) else data)
                    i = j
            else:
                level = watching()
                if level < 2:
                    m = skips[level](raw, i)
                    at = m.start(1)
                    if at < 0:
                        i = m.end()
                    else:
                        i = at
                        text = m.group(1)
                        if self.known is not None:
                            new = self.known.get(text)
                            if new is not None:
                                if new is not text:
                                    self._replace(self._consumed + at, text, new)
                                i = m.end()
                                continue
                        tag, slash = m.group(2, 3)
                        if clean_start(tag.lower(), text, slash == "/", at):
                            i = m.end()
                            continue
                j = raw.find("<", i)
                if j < 0:
                    return i, i < n
                if i < j:
                    self.handle_data(unescape(raw[i:j]))
                    i = j
            if starttag_open(raw, i):
                k = self._starttag(raw, i)
            elif startswith("</", i):
                k = self.parse_endtag(i)
            elif startswith("<!--", i):
                k = self.parse_comment(i)
            elif startswith("<?", i):
                k = self.parse_pi(i)
            elif startswith("<!", i):
                k = self.parse_html_declaration(i)
            elif i + 1 < n:
                self.handle_data("<")
                k = i + 1
            else:
                break
            if k < 0:
                break
            i = k
        return i, False

    def _starttag(self, raw: str, i: int) -> int:
        """parse_starttag(i), reading a clean tag directly."""
        m = CLEAN_TAG.match(raw, i)
        if m is None or not self._clean_start(m.group(1).lower(), m.group(0), bool(m.group(2)), i):
            return self.parse_starttag(i)
        return m.end()

    def _clean_start(self, tag: str, text: str, closed: bool, i: int) -> bool:
        """What parse_starttag does with the clean tag text at rawdata index i; False (and
        nothing done) where parse_starttag itself must read it: a tag that switches some
        release to raw text. But for a <script>, <style>, <title>... start tag, without '/>',
        every release does the same: handle_starttag, then set_cdata_mode(tag), since the name
        is in CDATA_CONTENT_ELEMENTS."""
        if tag in self._parser_elements:
            if closed or tag not in self.CDATA_CONTENT_ELEMENTS:
                return False
            self._tag_at = self._consumed + i
            self.lasttag = tag
            self._start(tag, text, False, None)
            self.set_cdata_mode(tag)
            return True
        self._tag_at = self._consumed + i
        self.lasttag = tag
        self._start(tag, text, closed, None)
        return True

    def updatepos(self, i: int, j: int) -> int:
        # Nothing asks for the line and column (getpos() stays at 1, 0): counting the
        # newlines in every token parsed took a few percent of a page's time.
        return j

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
        self._start(tag, self.get_starttag_text() or "", False, any(name == "style" for name, _ in attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, self.get_starttag_text() or "", True, any(name == "style" for name, _ in attrs))

    def _start(self, tag: str, text: str, closed: bool, style: bool | None) -> None:
        """A start tag. style: whether it has a style attribute, as HTMLParser read it; None
        for a clean tag (CLEAN_TAG), whose attributes parse_clean_attrs reads."""
        if not self._begun and tag not in ("html", "head"):
            self._begun = True
        parsed = None
        if style is None:
            if tag in URL_TAGS:
                parsed = parse_clean_attrs(text)
            elif "style" in text.lower():
                found = parse_clean_attrs(text)
                if any(a.name == "style" for a in found):
                    parsed = found
        elif tag in URL_TAGS or style:
            parsed = parse_attrs(text)
        if parsed is not None and tag == "base" and self.base is None:
            # Set before any rewrite call, so the callback resolves against it.
            self.base = next((a.value.strip(WS) for a in parsed if a.name == "href" and a.value.strip(WS)), None)
        self._tag(tag, self._tag_at, text, parsed)
        if closed:
            if tag in self._text_elements:
                self._raw_open.append(tag)  # the parser reads on as markup; a subclass may want the text
            return
        if tag not in _CONTAINERS:
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
        if self._raw_open and tag in self._raw_open:
            self._raw_open = [t for t in self._raw_open if t != tag]
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
        return url_attrs(tag, attrs, self._media[-1] if self._media else "")

    def _took(self, raw: str, n: int) -> None:
        """raw[:n] has been parsed and dropped from rawdata."""

    def _tag(self, tag: str, at: int, text: str, attrs: list[Attr] | None) -> None:
        """A start tag at absolute position at; attrs is None when it cannot hold URLs."""

    def _style_text(self, start: int, end: int, text: str) -> None:
        """The text of a <style> element, lying at [start, end) in the input."""


# Start tags whose callbacks do more than rewrite their own text: they place the banner or
# the head, set the base, open a container the scanner tracks, or change how the parser
# reads what follows. Never in _Scanner.known.
STATEFUL = (_CONTAINERS | _Scanner._PARSER_ELEMENTS | frozenset(_Scanner.CDATA_CONTENT_ELEMENTS)
            | frozenset({"html", "head", "body", "frameset", "base", "textarea", "title"}))
