"""Charsets: which codec decodes an HTML page or a stylesheet, and lossless coders for replay.

Labels follow the WHATWG Encoding Standard, as browsers do: "iso-8859-1" means windows-1252,
"tis-620" means windows-874, and a label browsers do not know is ignored even when Python
would accept it. Where the standard's decoder is a superset that does not round-trip byte for
byte (windows-31j for Shift_JIS), the plain codec is used: the bytes it cannot decode still
come back exactly, which replay needs more than the last few glyphs. (Every Python Big5 codec
maps a handful of byte pairs to the same character; those few cannot round-trip.)
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from typing import Any

_GROUPS: dict[str, tuple[str, ...]] = {
    "utf-8": ("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"),
    "cp866": ("866", "cp866", "csibm866", "ibm866"),
    "iso8859-2": ("csisolatin2", "iso-8859-2", "iso-ir-101", "iso8859-2", "iso88592", "iso_8859-2",
                  "iso_8859-2:1987", "l2", "latin2"),
    "iso8859-3": ("csisolatin3", "iso-8859-3", "iso-ir-109", "iso8859-3", "iso88593", "iso_8859-3",
                  "iso_8859-3:1988", "l3", "latin3"),
    "iso8859-4": ("csisolatin4", "iso-8859-4", "iso-ir-110", "iso8859-4", "iso88594", "iso_8859-4",
                  "iso_8859-4:1988", "l4", "latin4"),
    "iso8859-5": ("csisolatincyrillic", "cyrillic", "iso-8859-5", "iso-ir-144", "iso8859-5", "iso88595",
                  "iso_8859-5", "iso_8859-5:1988"),
    "iso8859-6": ("arabic", "asmo-708", "csiso88596e", "csiso88596i", "csisolatinarabic", "ecma-114",
                  "iso-8859-6", "iso-8859-6-e", "iso-8859-6-i", "iso-ir-127", "iso8859-6", "iso88596",
                  "iso_8859-6", "iso_8859-6:1987"),
    "iso8859-7": ("csisolatingreek", "ecma-118", "elot_928", "greek", "greek8", "iso-8859-7", "iso-ir-126",
                  "iso8859-7", "iso88597", "iso_8859-7", "iso_8859-7:1987", "sun_eu_greek"),
    "iso8859-8": ("csiso88598e", "csisolatinhebrew", "hebrew", "iso-8859-8", "iso-8859-8-e", "iso-ir-138",
                  "iso8859-8", "iso88598", "iso_8859-8", "iso_8859-8:1988", "visual",
                  "csiso88598i", "iso-8859-8-i", "logical"),
    "iso8859-10": ("csisolatin6", "iso-8859-10", "iso-ir-157", "iso8859-10", "iso885910", "l6", "latin6"),
    "iso8859-13": ("iso-8859-13", "iso8859-13", "iso885913"),
    "iso8859-14": ("iso-8859-14", "iso8859-14", "iso885914"),
    "iso8859-15": ("csisolatin9", "iso-8859-15", "iso8859-15", "iso885915", "iso_8859-15", "l9"),
    "iso8859-16": ("iso-8859-16",),
    "koi8-r": ("cskoi8r", "koi", "koi8", "koi8-r", "koi8_r"),
    "koi8-u": ("koi8-ru", "koi8-u"),
    "mac-roman": ("csmacintosh", "mac", "macintosh", "x-mac-roman"),
    "cp874": ("dos-874", "iso-8859-11", "iso8859-11", "iso885911", "tis-620", "windows-874"),
    "windows-1250": ("cp1250", "windows-1250", "x-cp1250"),
    "windows-1251": ("cp1251", "windows-1251", "x-cp1251"),
    "windows-1252": ("ansi_x3.4-1968", "ascii", "cp1252", "cp819", "csisolatin1", "ibm819", "iso-8859-1",
                     "iso-ir-100", "iso8859-1", "iso88591", "iso_8859-1", "iso_8859-1:1987", "l1", "latin1",
                     "us-ascii", "windows-1252", "x-cp1252", "x-user-defined"),
    "windows-1253": ("cp1253", "windows-1253", "x-cp1253"),
    "windows-1254": ("cp1254", "csisolatin5", "iso-8859-9", "iso-ir-148", "iso8859-9", "iso88599",
                     "iso_8859-9", "iso_8859-9:1989", "l5", "latin5", "windows-1254", "x-cp1254"),
    "windows-1255": ("cp1255", "windows-1255", "x-cp1255"),
    "windows-1256": ("cp1256", "windows-1256", "x-cp1256"),
    "windows-1257": ("cp1257", "windows-1257", "x-cp1257"),
    "windows-1258": ("cp1258", "windows-1258", "x-cp1258"),
    "mac-cyrillic": ("x-mac-cyrillic", "x-mac-ukrainian"),
    "gbk": ("chinese", "csgb2312", "csiso58gb231280", "gb2312", "gb_2312", "gb_2312-80", "gbk", "iso-ir-58",
            "x-gbk"),
    "gb18030": ("gb18030",),
    "big5": ("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"),
    "euc_jp": ("cseucpkdfmtjapanese", "euc-jp", "x-euc-jp"),
    "iso2022_jp": ("csiso2022jp", "iso-2022-jp"),
    "shift_jis": ("csshiftjis", "ms932", "ms_kanji", "shift-jis", "shift_jis", "sjis", "windows-31j", "x-sjis"),
    "cp949": ("cseuckr", "csksc56011987", "euc-kr", "iso-ir-149", "korean", "ks_c_5601-1987",
              "ks_c_5601-1989", "ksc5601", "ksc_5601", "windows-949"),
    "utf-16-be": ("unicodefffe", "utf-16be"),
    "utf-16-le": ("csunicode", "iso-10646-ucs-2", "ucs-2", "unicode", "unicodefeff", "utf-16", "utf-16le"),
}
_LABELS = {label: codec for codec, labels in _GROUPS.items() for label in labels}
# A BOM outranks every label, in browsers as here. The codecs named keep the BOM as U+FEFF
# so that encoding the text again gives the same bytes.
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

_CT_CHARSET = re.compile(r"""charset[ \t]*=[ \t]*["']?([^"';,\s]+)""", re.I)
# The HTML prescan: comments are skipped whole; quoted attribute values may hide a '>'.
_PRESCAN = re.compile(
    rb"""<!--.*?-->|<meta(?=[\t\n\f\r /])((?:[^>"']|"[^"]*"|'[^']*')*)>"""
    rb"""|</?[a-zA-Z](?:[^>"']|"[^"]*"|'[^']*')*>|<[!/?][^>]*>""",
    re.S | re.I)
_META_ATTR = re.compile(rb"""([^\t\n\f\r />=][^\t\n\f\r />=]*)(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r >]*))?""")
# "The algorithm for extracting a character encoding from a meta element".
_META_CONTENT = re.compile(rb"""charset[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r ;"']+))""", re.I)
_CSS_CHARSET = re.compile(rb'@charset "([^"]*)";')


def _codec(label: str | bytes | None) -> str | None:
    if label is None:
        return None
    if isinstance(label, bytes):
        label = label.decode("latin-1")
    return _LABELS.get(label.strip("\t\n\f\r ").lower())


def _header_codec(content_type: str | None) -> str | None:
    m = _CT_CHARSET.search(content_type or "")
    return _codec(m.group(1)) if m else None


def _bom_codec(head: bytes) -> str | None:
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return codec
    return None


def _prescan(head: bytes) -> str | None:
    for m in _PRESCAN.finditer(head[:1024]):
        attrs = m.group(1)
        if attrs is None:
            continue
        seen: dict[bytes, bytes] = {}
        for a in _META_ATTR.finditer(attrs):
            value = a.group(2) or b""
            if value[:1] in (b'"', b"'"):
                value = value[1:-1]
            seen.setdefault(a.group(1).lower(), value)
        label = seen.get(b"charset")
        if label is None and seen.get(b"http-equiv", b"").strip().lower() == b"content-type":
            c = _META_CONTENT.search(seen.get(b"content", b""))
            label = next((g for g in c.groups() if g is not None), None) if c else None
        codec = _codec(label)
        if codec is not None:
            # The prescan read ASCII, so the page cannot really be UTF-16.
            return "utf-8" if codec.startswith("utf-16") else codec
    return None


def _decodes_as_utf8(head: bytes) -> bool:
    try:
        # Not final: head may end in the middle of a character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def html_charset(content_type: str | None, head: bytes) -> str:
    """The Python codec that decodes an HTML body whose first bytes are head.

    In order: a BOM, the Content-Type charset, a <meta> prescan of the first 1024 bytes,
    then "utf-8" if head is valid UTF-8, else "windows-1252".
    """
    return (_bom_codec(head) or _header_codec(content_type) or _prescan(head)
            or ("utf-8" if _decodes_as_utf8(head) else "windows-1252"))


def css_charset(content_type: str | None, head: bytes) -> str:
    """The Python codec for a stylesheet: a BOM, the Content-Type charset, @charset, else utf-8."""
    codec = _bom_codec(head) or _header_codec(content_type)
    if codec is None:
        m = _CSS_CHARSET.match(head)
        codec = _codec(m.group(1)) if m else None
        if codec is not None and codec.startswith("utf-16"):
            codec = "utf-8"
    return codec or "utf-8"


def _replay_errors(exc: UnicodeError) -> tuple[str | bytes, int]:
    # surrogateescape, extended to bytes below 0x80 (which a UTF-16 or ISO-2022 decoder can
    # reject, and surrogateescape refuses): each bad byte b becomes U+DC00+b and back.
    if isinstance(exc, UnicodeDecodeError):
        return "".join(chr(0xDC00 + b) for b in exc.object[exc.start:exc.end]), exc.end
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text, end = exc.object, exc.end
    # Take the whole run of escaped bytes: UTF-16 encoders report one character at a time
    # but accept only an even number of bytes back.
    while end < len(text) and "\udc00" <= text[end] <= "\udcff":
        end += 1
    out = bytearray()
    for char in text[exc.start:end]:
        code = ord(char)
        if 0xDC00 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:
            # A character the codec cannot hold at all (a Khmer banner inserted into a
            # windows-1252 page) becomes an HTML character reference rather than an error.
            out += f"&#{code};".encode("ascii")
    return bytes(out), end


codecs.register_error("refuge-replay", _replay_errors)


def decoder(codec: str) -> codecs.IncrementalDecoder:
    """An incremental decoder that keeps undecodable bytes as lone surrogates, losing nothing.

    Errors are handled as by surrogateescape (extended to bytes below 0x80).
    """
    return codecs.getincrementaldecoder(codec)(errors="refuge-replay")


def encoder(codec: str) -> codecs.IncrementalEncoder:
    """An incremental encoder giving back the exact bytes decoder() read.

    Lone surrogates go back to their bytes as with surrogateescape; characters the codec
    cannot encode at all become HTML numeric character references.
    """
    return codecs.getincrementalencoder(codec)(errors="refuge-replay")


def rewrite_chunks(read: Callable[[int], bytes], first: bytes, dec: codecs.IncrementalDecoder,
                   enc: codecs.IncrementalEncoder, rewriter: Any, size: int) -> Iterator[bytes]:
    """The document, from FIRST then READ(SIZE), decoded, fed through REWRITER (feed(text) and
    close() each return the text that is final) and encoded back, chunk by chunk. One chunk
    is read ahead, so a small document goes out in one piece."""
    chunk = first
    while True:
        nxt = read(size) if chunk else b""
        final = not nxt
        text = rewriter.feed(dec.decode(chunk, final))
        if final:
            text += rewriter.close()
        out = enc.encode(text, final)
        if out:
            yield out
        if final:
            return
        chunk = nxt
