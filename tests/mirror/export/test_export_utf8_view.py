"""An export reads a UTF-8 page as bytes (formats.html.utf8_view): the pages it writes must be
the pages it wrote when it decoded them, byte for byte, with the same titles, whatever the
markup, the Khmer in and around the tags, the bytes that are not UTF-8 (0x85 and 0xA0
among them, which are white space in Python's eyes but not the HTML standard's), and where the
chunks are cut."""

from __future__ import annotations

import io
import random
from html import unescape
from urllib.parse import quote

import pytest
from html_corpus import CORPUS, FUZZ_TOKENS, PAGE_URL

from refuge.formats import charset as charsets
from refuge.formats.html import utf8_view
from refuge.formats.charset import rewrite_chunks
from refuge.mirror.export.banner import banner, head_meta
from refuge.formats.html.rewriter import HtmlRewriter
from refuge.mirror.export.policy import ExportPolicy
from refuge.mirror.export.site import Site

PATH = "site.example/km/news/page.html"
KHMER = """<html><head><title>ព័ត៌មាន &amp; ច្បាប់ · ហ៊ុន</title>
<link rel=stylesheet href="/ឯកសារ/រចនា.css"><style>h1{background:url(ផ្ទៃ.png)} /* ចំណាំ */</style>
<script src="/ស្គ្រីប.js"></script><script>var s = "ចេញ"; var u = "https://t.example/ហ";</script>
</head><body><img alt=ចិន src=/រូប.png><img alt="ហ៊ុន សែន" src="រូប/ក.png" title=ហ>
<a href="/km/ព័ត៌មាន/ទំព័រ.html?ទំព័រ=២#ផ្នែក">ព័ត៌មាន</a><a href=ច.html title=ច=">">x</a>
<a href="https://other.example/ហ" title="ចេញ">out</a><p style="background:url('ចំ.png')">ក</p>
<div class=ហ data-x=ច>ច</div><a href=/km/ថ្មី/>ថ្មី</a><a href="%E1%9E%80.html">ក</a>
<form action=/ស្វែងរក><input type=image src=ប៊ូតុង.png></form></body></html>
"""
CAPTURED = ("/km/", "/ឯកសារ/", "/ស្គ្រីប.js", "/រូប", "ផ្ទៃ.png", "ច.html", "ចំ.png", "/ថ្មី/", "ក.html")


def lookup(url: str) -> str | None:
    """Where the export puts URL, if it was captured: its host and path, made safe."""
    bare = quote(url.split("//", 1)[1], safe="/:", errors="surrogateescape").replace("%", "_")
    return bare if any(c in url for c in CAPTURED) or url.endswith(".html") else None


def export(data: bytes, view: bool, chunk: int, site: Site | None = None) -> tuple[bytes, str]:
    """DATA rewritten as _write_html rewrites a UTF-8 page, read CHUNK bytes at a time."""
    policy = ExportPolicy(PAGE_URL, PATH, lookup, site or Site("https://site.example/"), head_meta("utf-8"),
                          banner(PAGE_URL, "20240601000000", PATH))
    rewriter = HtmlRewriter(policy, view=view)
    if view:
        dec, enc = utf8_view.decoder(), utf8_view.encoder()
    else:
        dec, enc = charsets.decoder("utf-8"), charsets.encoder("utf-8")
    stream = io.BytesIO(data)
    out = b"".join(rewrite_chunks(stream.read, stream.read(chunk), dec, enc, rewriter, chunk))
    return out, rewriter.title


def with_stray_bytes(doc: str, seed: int) -> bytes:
    """DOC as UTF-8 with bytes that are not UTF-8 put in: a stray continuation byte, a cut
    Khmer character, 0xFF, a Latin-1 é."""
    data = bytearray(doc.encode("utf-8", "surrogateescape"))
    rnd = random.Random(seed)
    for _ in range(rnd.randint(1, 4)):
        at = rnd.randint(0, len(data))
        data[at:at] = rnd.choice([b"\x80", b"\xb5", b"\xe1\x9e", b"\xff", b"\xe9", b"\x85", b"\xa0"])
    return bytes(data)


KHMER_TOKENS = FUZZ_TOKENS + ["\u2003", "--\xa0>", "<a\xa0href=x>", "\x85",
    "ក", "ច", "ហ", "ៅ", "ចិន", "é", "<a href=ច.html>", "<img alt=ហ src=", "<a title=ច=", "<title>ហ",
    "<style>p{background:url(ចំ.png)}</style>", "<script>var a='ហ';</script>", "<a href='/ថ្មី/'>", "<!--ហ", "ហ-->"]


def khmer_fuzz(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(KHMER_TOKENS) for _ in range(rnd.randint(1, 60))) for _ in range(count)]


DOCS = {"khmer page": KHMER, "khmer page after a byte-order mark": "\ufeff" + KHMER, **CORPUS}


def test_which_pages_are_read_as_bytes() -> None:
    assert not utf8_view.usable("windows-1252") and not utf8_view.usable("shift_jis")
    assert utf8_view.usable("UTF8") and utf8_view.usable("utf-8")


@pytest.mark.parametrize("chunk", [1 << 20, 5])
@pytest.mark.parametrize("name", DOCS)
def test_pages_come_out_as_when_decoded(name: str, chunk: int) -> None:
    data = DOCS[name].encode("utf-8", "surrogateescape")
    assert export(data, True, chunk) == export(data, False, chunk)


def test_khmer_page_is_rewritten() -> None:
    """The comparison above is with something: the links in and around Khmer are rewritten."""
    out, title = export(KHMER.encode("utf-8"), True, 1 << 20)
    page = out.decode("utf-8")
    assert unescape(title) == "ព័ត៌មាន & ច្បាប់ · ហ៊ុន"
    assert '<link rel=stylesheet href="../../_E1_9E_AF_E1_9E_80_E1_9E_9F' in page  # made relative
    assert "<style>h1{background:url(_E1_9E_95_E1_9F_92_E1_9E_91_E1_9F_83.png)} /* ចំណាំ */</style>" in page
    assert "<img alt=ចិន src=../../_E1_9E_9A_E1_9E_BC_E1_9E_94.png>" in page  # ច's last byte is 0x85
    assert '<a href=_E1_9E_85.html title=ច=">">x</a>' in page
    assert "url('_E1_9E_85_E1_9F_86.png')" in page and "<div class=ហ data-x=ច>ច</div>" in page
    assert '<a href="https://other.example/%E1%9E%A0" title="ចេញ">out</a>' in page  # leaves the mirror
    assert "t.example" not in page  # the inline script naming another host is gone


@pytest.mark.parametrize("seed", range(3))
def test_random_markup_with_khmer_and_stray_bytes(seed: int) -> None:
    docs = khmer_fuzz(200, seed)
    for i, doc in enumerate(docs):
        data = with_stray_bytes(doc, seed * 1000 + i) if i % 2 else doc.encode("utf-8", "surrogateescape")
        for chunk in (1 << 20, 3):
            (page, title), (page_as_text, title_as_text) = export(data, True, chunk), export(data, False, chunk)
            assert page == page_as_text, (doc, data, chunk)
            assert title == title_as_text, (doc, data, chunk)


def test_pages_read_either_way_share_a_site() -> None:
    """The same bytes mean other text in a windows-1252 page than in a UTF-8 one."""
    site = Site("https://site.example/")
    tag = '<a href="/km/caf\u00c3\u00a9.html">x</a><img src="/km/caf\u00c3\u00a9.png">'
    cp1252 = tag.encode("windows-1252")
    assert cp1252 == '<a href="/km/café.html">x</a><img src="/km/café.png">'.encode("utf-8")
    for _ in range(2):
        as_1252 = HtmlRewriter(ExportPolicy(PAGE_URL, PATH, lookup, site, "", ""))
        text = as_1252.feed(cp1252.decode("windows-1252")) + as_1252.close()
        assert text == '<a href="../caf_C3_83_C2_A9.html">x</a><img src="../caf_C3_83_C2_A9.png">'
        out, _title = export(cp1252, True, 1 << 20, site)
        assert b'<a href="../caf_C3_A9.html">x</a><img src="../caf_C3_A9.png">' in out
