"""A UTF-8 page read one byte to a character, for a rewriter that only edits the tags it finds.

The HTML tokenizer looks for ASCII only ('<', names, quotes, '='), and every byte of a
UTF-8 character other than ASCII is 0x80 or above, so it finds the same markup in the
bytes read as Latin-1 (the view) as in the decoded text. One exception, where both
readings already differ from a browser's: CPython's parser takes Unicode white space for a
separator inside markup (3.11 ends a comment at '--', a no-break space and '>'), which it
sees in the decoded text, and in the view only at a stray 0x85 or 0xA0 byte. Reading and
writing the view is a copy, where decoding and encoding UTF-8 took a tenth of an export's
time on Khmer pages, and the tokenizer's expressions run faster over one byte per character.

What a rewriter takes out of the view to read (a tag that is not all ASCII, a <style> or
<script> body, a title) it turns back into text with real(); what it puts in goes through
view(). Bytes that are not UTF-8 come back as themselves, as charset.decoder() keeps them.
"""

from __future__ import annotations

import codecs
from functools import lru_cache
from html.parser import HTMLParser

from refuge.formats.charset import decoder as _decoder
from refuge.formats.charset import encoder as _encoder
from refuge.formats.html.scanner import _Scanner


@lru_cache(maxsize=64)
def usable(codec: str) -> bool:
    """Whether a page in CODEC can be rewritten in the view."""
    return codecs.lookup(codec).name == "utf-8" and _raw_text_stays_raw()


def decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("latin-1")()


def encoder() -> codecs.IncrementalEncoder:
    return codecs.getincrementalencoder("latin-1")()


def real(view: str) -> str:
    """The text that VIEW stands for."""
    try:
        data = view.encode("latin-1")
    except UnicodeEncodeError:
        # A character reference the parser decoded into the view (text after a '<title/>'
        # reaches a rewriter unescaped): such characters are already text.
        data = b"".join(c.encode("latin-1") if c <= "\xff" else c.encode("utf-8") for c in view)
    return _decoder("utf-8").decode(data, True)


def view(text: str) -> str:
    """TEXT as it goes into the view: its UTF-8 bytes, one character each."""
    if text.isascii():
        return text
    return _encoder("utf-8").encode(text, True).decode("latin-1")


class _Probe(HTMLParser):
    # The scanner's raw text elements, read by HTMLParser itself (the scanner's fast path
    # only ever asks for them as raw text); a _Scanner would compile its expressions first.
    CDATA_CONTENT_ELEMENTS = _Scanner.CDATA_CONTENT_ELEMENTS

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@lru_cache(maxsize=1)
def _raw_text_stays_raw() -> bool:
    """Whether this Python's parser hands the text of a <title> over as written, as 3.11's
    does. Releases that decode its character references would put decoded characters into
    the view, where real() could not tell them from bytes: those read UTF-8 as text."""
    probe = _Probe()
    probe.feed("<title>&eacute;</title>")
    probe.close()
    return "".join(probe.text) == "&eacute;"
