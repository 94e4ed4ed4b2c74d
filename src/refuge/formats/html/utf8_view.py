"""A UTF-8 page read one byte to a character, for a rewriter that only edits the tags it finds.

The HTML tokenizer (formats.html.tokenizer) looks for ASCII only ('<', names, quotes, '=',
ASCII white space), and every byte of a UTF-8 character other than ASCII is 0x80 or above,
so it finds the same markup in the bytes read as Latin-1 (the view) as in the decoded text.
Reading and writing the view is a copy, where decoding and encoding UTF-8 costs a pass over
every character of a Khmer page, and the tokenizer's expressions run faster over one byte
per character.

What a rewriter takes out of the view to read (a tag that is not all ASCII, a <style> or
<script> body, a title) it turns back into text with real(); what it puts in goes through
view(). Bytes that are not UTF-8 come back as themselves, as charset.decoder() keeps them.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

from refuge.formats.charset import decoder as _decoder
from refuge.formats.charset import encoder as _encoder


@lru_cache(maxsize=64)
def usable(codec: str) -> bool:
    """Whether a page in CODEC can be rewritten in the view."""
    return codecs.lookup(codec).name == "utf-8"


def decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("latin-1")()


def encoder() -> codecs.IncrementalEncoder:
    return codecs.getincrementalencoder("latin-1")()


def real(view: str) -> str:
    """The text that VIEW stands for."""
    return _decoder("utf-8").decode(view.encode("latin-1"), True)


def view(text: str) -> str:
    """TEXT as it goes into the view: its UTF-8 bytes, one character each."""
    if text.isascii():
        return text
    return _encoder("utf-8").encode(text, True).decode("latin-1")
