"""An HTML tokenizer that says where each token lies in the input, for rewriters that copy a
document through and patch it in place.

It reads as the HTML standard reads (formats.html.grammar): start and end tags with their
attributes, comments, declarations, and the text of raw text elements (<script>, <style>,
<title>, <textarea>, <xmp>, <iframe>, <noembed>, <noframes>, <plaintext>) up to their
appropriate end tag, with the script data escapes browsers apply. Outside SVG and MathML
that is the reading every browser makes, so a link the rewriter finds is a link a browser
would follow, and markup a browser reads as text is left alone. <noscript> is read as
markup: a reader with scripting off sees its content.

The handler hears about what it asked for, with absolute positions in the whole input:

    start_tag(name, at, text)          a start tag: its lowercase name, where it begins, its text
    end_tag(name, at, end)             an end tag, [at, end)
    raw_text(name, start, text, ended) the text of a raw text element (when asked for) at its end
                                       tag, or at the end of the document (ended False)

Start tags are reported when their name is in STARTS, when they have a style attribute, and
while every_start is true; end tags when their name is in ENDS. Raw text elements are always
reported by their start tag and end tag. Everything else is stepped over by one regular
expression (grammar.skipper); skip=False reads token by token instead, which must find the
same tokens (the tests compare the two).

Input comes in chunks. Markup the chunk ends inside waits for the next one; it is read again
only once what is pending has doubled, so a tag that never ends costs linear time, and after
PENDING_LIMIT characters it is given up on: the rest of the document is not read (a browser
would make it all part of that tag). The same limit holds for the text of a raw text element
the handler wants (an archived page can open a <style> and never close it): past it the rest
of the document is not read either, and that text is never reported. `settled` is where the
input read so far ends: nothing before it can be reported any more.
"""

from __future__ import annotations

import re
from typing import Protocol

from refuge.formats.html import grammar

PENDING_LIMIT = 4 * 1024 * 1024  # characters of markup left open before it is given up on


class Handler(Protocol):
    def start_tag(self, name: str, at: int, text: str) -> None: ...

    def end_tag(self, name: str, at: int, end: int) -> None: ...

    def raw_text(self, name: str, start: int, text: str, ended: bool) -> None: ...


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _is_letter(c: str) -> bool:
    return "a" <= c <= "z" or "A" <= c <= "Z"


def _has_style(text: str) -> bool:
    return "style" in text.lower() and grammar.STYLELESS.fullmatch(text) is None


def ascii_lower(name: str) -> str:
    """A tag or attribute name as the standard compares it: ASCII letters lowercased only."""
    return name.translate(_LOWER) if not name.islower() else name


def skippers(starts: frozenset[str], ends: frozenset[str]) -> tuple:
    """The compiled expressions a tokenizer for STARTS and ENDS steps over markup with (made
    on first use; a parent that forks workers calls this first, so they inherit them)."""
    starts = starts | grammar.RAW_ELEMENTS
    return grammar.skipper(starts, ends).match, grammar.skipper(None, ends).match


class Tokenizer:
    def __init__(self, handler: Handler, starts: frozenset[str], ends: frozenset[str],
                 texts: frozenset[str] = frozenset(), *, skip: bool = True) -> None:
        self.handler = handler
        self.every_start = False  # report every start tag (the handler sets it)
        self.texts = texts  # raw text elements whose text the handler wants
        self.starts = starts | grammar.RAW_ELEMENTS
        self.ends = ends
        self._skips = skippers(self.starts, ends) if skip else None
        self._buf = ""
        self._at = 0  # absolute position of _buf[0]
        self._pos = 0  # next index in _buf to read
        self._wait_for = 0  # read again once _buf is this long
        self._given_up = False
        # The open raw text element: its name, where its text starts (absolute), how far its
        # end has been looked for (index in _buf), and for script data the escape state.
        self._raw: str | None = None
        self._raw_start = 0
        self._raw_scan = 0
        self._escape = 0  # 0 plain, 1 escaped (after '<!--'), 2 double-escaped
        self._raw_cut = -1  # where an end tag the document ends inside begins (index in _buf)

    @property
    def settled(self) -> int:
        """Where the input read so far ends (absolute): the start of the text of an open raw
        text element the handler wants, else of whatever is not read yet."""
        if self._raw is not None and self._raw in self.texts:
            return self._raw_start
        return self._at + self._pos

    @property
    def given_up(self) -> bool:
        return self._given_up

    def feed(self, text: str) -> None:
        if self._given_up:
            self._at += len(text)
            return
        if self._pos:
            self._at += self._pos
            self._raw_scan -= self._pos
            self._raw_cut -= self._pos
            self._buf = self._buf[self._pos:] + text
            self._pos = 0
        else:
            self._buf += text
        if len(self._buf) >= self._wait_for:
            self._read(False)

    def close(self) -> None:
        """The document has ended: what is still open runs to its end."""
        if not self._given_up:
            self._read(True)
        if self._raw is not None:
            name, self._raw = self._raw, None
            if name in self.texts:
                start = self._raw_start - self._at
                cut = self._raw_cut if self._raw_cut >= 0 else len(self._buf)
                self.handler.raw_text(name, self._raw_start, self._buf[start:cut], False)
        self._at += len(self._buf)
        self._buf = ""
        self._pos = 0

    # -- reading -------------------------------------------------------------------------

    def _read(self, end: bool) -> None:
        before = self._at + self._pos
        buf = self._buf
        n = len(buf)
        while self._pos < n:
            if self._raw is not None:
                if not self._raw_end(end):
                    break
                continue
            if self._skips is not None:
                self._pos = self._skips[self.every_start](buf, self._pos).end()
                if self._pos >= n:
                    break
            elif buf[self._pos] != "<":
                j = buf.find("<", self._pos)
                self._pos = n if j < 0 else j
                continue
            if not self._token(buf, end):
                break
        if end:
            return
        pending = n - self._pos
        if self._at + self._pos > before or not pending:
            self._wait_for = 0
        elif pending > PENDING_LIMIT:
            self._given_up = True
            self._raw = None
            self._at += n
            self._buf = ""
            self._pos = 0
        else:
            self._wait_for = min(2 * pending, PENDING_LIMIT + 1)

    def _token(self, buf: str, end: bool) -> bool:
        """Read the markup at _pos (a '<'). False when the input ends inside it: then it waits
        for more, or at the end of the document runs to the end (nothing more is reported)."""
        i = self._pos
        n = len(buf)
        after = buf[i + 1] if i + 1 < n else ""
        m: re.Match[str] | None = None
        if _is_letter(after):
            m = grammar.TAG.match(buf, i)
            if m is not None:
                self._tag(m)
                return True
        elif after == "!":
            if buf.startswith("<!--", i):
                m = grammar.COMMENT.match(buf, i)
            elif n - i < 4 and "<!--".startswith(buf[i:]) and not end:
                return False  # may yet be a comment
            else:
                m = grammar.BOGUS.match(buf, i)
        elif after == "?":
            m = grammar.BOGUS.match(buf, i)
        elif after == "/":
            third = buf[i + 2] if i + 2 < n else ""
            if third == ">":  # '</>' is ignored
                self._pos = i + 3
                return True
            if _is_letter(third):
                m = grammar.TAG.match(buf, i)
                if m is not None:
                    self._tag(m)
                    return True
            elif third:
                m = grammar.BOGUS.match(buf, i)
            elif end:  # '</' at the end of the document is text
                self._pos = n
                return True
        elif after or end:  # '<' followed by anything else is text
            self._pos = i + 1
            return True
        if m is None:
            if end:
                self._pos = n  # a cut-off tag is dropped; a comment runs to the end
            return False
        self._pos = m.end()
        return True

    def _tag(self, m: re.Match[str]) -> None:
        name = ascii_lower(m.group(2))
        at = self._at + m.start()
        self._pos = m.end()
        if m.group(1):
            if name in self.ends:
                self.handler.end_tag(name, at, self._at + self._pos)
            return
        text = m.group(0)
        if name in self.starts or self.every_start or _has_style(text):
            self.handler.start_tag(name, at, text)
        if name in grammar.RAW_ELEMENTS:
            self._raw = name
            self._raw_start = self._at + self._pos
            self._raw_scan = self._pos
            self._raw_cut = -1
            self._escape = 0

    def _raw_end(self, end: bool) -> bool:
        """Look for the open raw text element's end; False when it is not in the input yet."""
        name = self._raw
        assert name is not None
        buf = self._buf
        if name == grammar.PLAINTEXT:
            found = None
        elif name == grammar.SCRIPT:
            found = self._script_end(buf)
        else:
            found = grammar.end_start_of(name).search(buf, self._raw_scan)
        if found is None:
            # An end tag may begin in the last few characters: look there again next time.
            self._raw_scan = max(self._raw_scan, len(buf) - len(name) - 3 if name != grammar.PLAINTEXT else len(buf))
        else:
            m = grammar.end_of(name).match(buf, found.start())
            if m is not None:
                self._close_raw(name, m)
                return True
            self._raw_scan = found.start()  # the end tag is not complete yet
            if end:
                self._raw_cut = found.start()
        if name not in self.texts:  # nothing before the scan point is wanted: let it go
            self._pos = max(self._pos, min(self._raw_scan, len(buf)))
        return False

    def _close_raw(self, name: str, m: re.Match[str]) -> None:
        buf = self._buf
        self._raw = None
        if name in self.texts:
            self.handler.raw_text(name, self._raw_start, buf[self._raw_start - self._at:m.start()], True)
        self._pos = m.end()
        self.handler.end_tag(name, self._at + m.start(), self._at + self._pos)

    def _script_end(self, buf: str) -> re.Match[str] | None:
        """The '</script' that ends the script, following the escape states from _raw_scan."""
        while True:
            m = grammar.SCRIPT_EVENTS.search(buf, self._raw_scan)
            if m is None:
                return None
            token = m.group(0)
            if token == "<!--":
                self._escape = self._escape or 1
                self._raw_scan = m.start() + 2  # its dashes may end an escape: '<!-->'
                continue
            if token == "-->":
                self._escape = 0
            elif m.group(1):  # '</script'
                if self._escape != 2:
                    return m
                self._escape = 1
            elif self._escape == 1:  # '<script' in an escape
                self._escape = 2
            self._raw_scan = m.end()
