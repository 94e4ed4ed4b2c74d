"""Charsets: decoding pages the way browsers do, and giving their bytes back exactly on replay."""

from __future__ import annotations

import codecs
import random

import pytest

from refuge.formats.charset import css_charset, decoder, encoder, html_charset
from refuge.formats.html.policy import LinkFunction
from refuge.formats.html.rewriter import HtmlRewriter

KHMER = "ព័ត៌មានពីកម្ពុជា — សេរីភាពសារព័ត៌មាន"


@pytest.mark.parametrize("content_type, expected", [
    ("text/html; charset=UTF-8", "utf-8"),
    ('text/html; charset="windows-1251"', "windows-1251"),
    ("text/html;charset=ISO-8859-1", "windows-1252"),
    ("text/html; charset=latin1", "windows-1252"),
    ("text/html; charset=us-ascii", "windows-1252"),
    ("text/html; charset=tis-620", "cp874"),
    ("text/html; charset=x-sjis", "shift_jis"),
    ("text/html; charset=Shift_JIS", "shift_jis"),
    ("text/html; charset=gb2312", "gbk"),
    ("text/html; charset=euc-kr", "cp949"),
    ("text/html; charset=utf-16", "utf-16-le"),
])
def test_content_type_charset_mapped_the_whatwg_way(content_type: str, expected: str) -> None:
    assert html_charset(content_type, b"<html>") == expected
    codecs.lookup(expected)


def test_unknown_header_label_is_ignored_and_detection_continues() -> None:
    head = b'<html><head><meta charset="windows-1251">'
    assert html_charset("text/html; charset=klingon", head) == "windows-1251"
    assert html_charset("text/html; charset=utf8mb4", b"plain \xe1\x9e\x80") == "utf-8"


def test_bom_outranks_labels() -> None:
    # Browsers let a BOM override even the Content-Type header.
    assert html_charset("text/html; charset=iso-8859-1", codecs.BOM_UTF8 + b"<html>") == "utf-8"
    assert html_charset(None, codecs.BOM_UTF16_LE + "<html>".encode("utf-16-le")) == "utf-16-le"
    assert html_charset(None, codecs.BOM_UTF16_BE + "<html>".encode("utf-16-be")) == "utf-16-be"


@pytest.mark.parametrize("head, expected", [
    (b'<!DOCTYPE html><html><head><meta charset="windows-1251"><title>', "windows-1251"),
    (b"<meta charset=KOI8-R>", "koi8-r"),
    (b"<META CHARSET='Shift_JIS'/>", "shift_jis"),
    (b'<meta http-equiv="Content-Type" content="text/html; charset=tis-620">', "cp874"),
    (b"<meta content='text/html; charset=\"euc-jp\"' http-equiv=content-type>", "euc_jp"),
    (b'<meta name="x" content="a > b"><meta charset="gbk">', "gbk"),
    (b"<meta charset=utf-16>", "utf-8"),  # an ASCII-readable meta cannot mean UTF-16
    (b'<meta charset="bogus"><meta charset="windows-1250">', "windows-1250"),
    # A content= charset without http-equiv is not a declaration.
    (b'<meta content="text/html; charset=windows-1251">caf\xc3\xa9', "utf-8"),
])
def test_meta_prescan(head: bytes, expected: str) -> None:
    assert html_charset(None, head) == expected


def test_prescan_skips_comments_and_stops_at_1024_bytes() -> None:
    assert html_charset(None, b'<!-- <meta charset="windows-1251"> -->\xe1\x9e\x80') == "utf-8"
    late = b"<html>" + b" " * 1024 + b'<meta charset="windows-1251">'
    assert html_charset(None, late) == "utf-8"


def test_fallback_utf8_when_valid_else_windows_1252() -> None:
    assert html_charset(None, KHMER.encode()) == "utf-8"
    # head may stop in the middle of a character.
    assert html_charset(None, KHMER.encode()[:4]) == "utf-8"
    assert html_charset(None, "<p>café au lait</p>".encode("cp1252")) == "windows-1252"
    assert html_charset(None, b"") == "utf-8"


def test_css_charset() -> None:
    assert css_charset("text/css; charset=iso-8859-1", b'@charset "utf-8";') == "windows-1252"
    assert css_charset(None, b'@charset "windows-1251";\nbody{}') == "windows-1251"
    assert css_charset(None, b' @charset "windows-1251";') == "utf-8"  # must be the very first bytes
    assert css_charset(None, codecs.BOM_UTF8 + b"body{}") == "utf-8"
    assert css_charset("text/css", b"body{}") == "utf-8"


def pages() -> list[tuple[str | None, bytes, str]]:
    """(Content-Type, body, the codec it must be read with)."""
    def page(meta: str, title: str, body: str) -> str:
        return (f'<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>'
                + f'<p><a href="/a?x=1&amp;y=2">{body}</a><img src="i.png"></p>\n' * 40 + "</body></html>")

    return [
        (None, page("", KHMER, KHMER).encode("utf-8"), "utf-8"),
        (None, page('<meta charset="windows-1251">', "Свобода прессы", "Новости").encode("cp1251") + b"\x98",
         "windows-1251"),
        (None, page("<meta charset=Shift_JIS>", "日本語のニュース", "カンボジアの報道").encode("shift_jis")
         + b"\x81", "shift_jis"),
        # Invalid UTF-8: a stray continuation byte, an overlong form, a cut-off character.
        ("text/html; charset=utf-8",
         page("", KHMER, "bad \x80 bytes").encode("utf-8").replace(b"\xc2\x80", b"\x80\xc0\xaf")
         + "ក".encode()[:2], "utf-8"),
        # Malformed UTF-16 (a lone surrogate) is beyond plain surrogateescape; it round-trips too.
        (None, codecs.BOM_UTF16_LE + page("", KHMER, KHMER).encode("utf-16-le") + b"\x00\xd8", "utf-16-le"),
    ]


@pytest.mark.parametrize("content_type, data, codec", pages())
def test_pages_round_trip_byte_exactly_in_small_chunks(content_type: str | None, data: bytes, codec: str) -> None:
    assert html_charset(content_type, data[:1024]) == codec
    rnd = random.Random(len(data))
    for _ in range(5):
        dec, enc = decoder(codec), encoder(codec)
        rewriter = HtmlRewriter(LinkFunction(lambda u, k: None))
        out = bytearray()
        pos = 0
        while pos < len(data):
            step = rnd.randint(1, 9)
            out += enc.encode(rewriter.feed(dec.decode(data[pos:pos + step])))
            pos += step
        out += enc.encode(rewriter.feed(dec.decode(b"", final=True)) + rewriter.close(), final=True)
        assert bytes(out) == data


def test_wrong_charset_still_round_trips() -> None:
    data = KHMER.encode("utf-8") + "Свобода".encode("cp1251")
    for codec in ("utf-8", "windows-1252", "windows-1251", "shift_jis"):
        text = decoder(codec).decode(data, final=True)
        assert encoder(codec).encode(text, final=True) == data


def test_banner_that_the_page_charset_cannot_hold_becomes_character_references() -> None:
    data = b"<html><body><p>caf\xe9</p></body></html>"
    text = decoder("windows-1252").decode(data, final=True)
    rewriter = HtmlRewriter(LinkFunction(lambda u, k: None, banner="<div>ព័ត៌មាន</div>"))
    out = encoder("windows-1252").encode(rewriter.feed(text) + rewriter.close(), final=True)
    expected_banner = "".join(f"&#{ord(c)};" for c in "ព័ត៌មាន").encode()
    assert out == b"<html><body><div>" + expected_banner + b"</div><p>caf\xe9</p></body></html>"
