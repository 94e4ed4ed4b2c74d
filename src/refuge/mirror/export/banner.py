"""What every exported page gets besides its own content: the meta tags that open its head
(its charset, a Content-Security-Policy, no referrer), the bilingual banner after <body>,
and the title of links that leave the archive. All of it is ASCII, so it fits a page in
any charset.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape

from refuge.formats.urls import display_url
from refuge.mirror.export.paths import rel_href
from refuge.mirror.pages.reader import FONTS, ts_text

CSP = "default-src 'self' data: blob: 'unsafe-inline' 'unsafe-eval'"
_LABELS = {
    "utf-8": "utf-8", "cp866": "IBM866", "koi8-r": "KOI8-R", "koi8-u": "KOI8-U", "mac-roman": "macintosh",
    "cp874": "windows-874", "mac-cyrillic": "x-mac-cyrillic", "gbk": "GBK", "gb18030": "gb18030",
    "big5": "Big5", "euc_jp": "EUC-JP", "iso2022_jp": "ISO-2022-JP", "shift_jis": "Shift_JIS",
    "cp949": "EUC-KR", "utf-16-be": "UTF-16BE", "utf-16-le": "UTF-16LE",
}
def charset_label(codec: str) -> str:
    """The WHATWG label of a charsets.html_charset() codec ('windows-1251', 'Shift_JIS')."""
    if codec in _LABELS:
        return _LABELS[codec]
    if codec.startswith("iso8859-"):
        return "ISO-8859-" + codec[len("iso8859-"):]
    return codec


def _ascii(text: str) -> str:
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def head_meta(label: str) -> str:
    """What goes first into every exported page's <head>."""
    return (f'<meta charset="{label}"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer"><meta http-equiv="x-dns-prefetch-control" content="off">')


LEAVING_TITLE = _ascii("ចេញពីបណ្ណសារ៖ បើកគេហទំព័រដើម / Leaves the archive: opens the original site")
_BAR = ("all:initial;display:block;box-sizing:border-box;width:100%;margin:0;padding:6px 10px;"
        f"background:#fff8d6;color:#222;border-bottom:2px solid #d9b400;font:14px/1.6 {FONTS};"
        "text-align:left;position:relative;z-index:2147483647")
_LINE = "all:initial;display:block;font:inherit;color:inherit"
_LINK = "all:initial;font:inherit;color:#0645ad;text-decoration:underline;cursor:pointer;margin-right:1em"
_URL = "all:initial;font:inherit;font-family:monospace;color:#222;word-break:break-all"
# Every internal link is relative, so an absolute http(s) link leaves the mirror.
MARK_CSS = ('a[href^="http:"]::after,a[href^="https:"]::after,area[href^="http:"]::after'
            '{content:" \\2197";font-size:.85em}#refuge-banner a::after{content:none}')


def banner(url: str, ts: str, path: str) -> str:
    """The bar put right after <body> of the exported page at PATH, as ASCII HTML."""
    head, tail = _banner_parts(ts_text(ts), path.rsplit("/", 1)[0] if "/" in path else "")
    return head + _ascii(escape(display_url(url))) + tail


@lru_cache(maxsize=1024)
def _banner_parts(when: str, folder: str) -> tuple[str, str]:
    """The banner before and after the page's URL: the same for the pages of a folder
    captured in the same minute."""
    def link(target: str, km: str, en: str) -> str:
        href = rel_href(f"{folder}/x" if folder else "x", target)
        return (f'<a style="{_LINK}" href="{escape(href)}">'
                f'<span lang="km">{km}</span> / <span lang="en">{en}</span></a>')

    head = (
        f'<div id="refuge-banner" role="note" style="{escape(_BAR)}"><style>{MARK_CSS}</style>'
        f'<span lang="km" style="{_LINE}">ច្បាប់ចម្លងបណ្ណសារ ដែល Refuge រក្សាទុក · ថតនៅ {when}</span>'
        f'<span lang="en" style="{_LINE}">Archived copy kept by Refuge · captured {when}</span>'
        f'<span style="{_LINE}"><span lang="km">អាសយដ្ឋានដើម</span> / <span lang="en">Original</span>: '
        f'<span style="{_URL}">'
    )
    tail = (
        "</span></span>"
        f'<span style="{_LINE}">{link("mirrors.html", "បញ្ជីគេហទំព័រចម្លង", "Mirror list")}'
        f'{link("index.html", "ទំព័រដើម", "Home")}{link("contents.html", "ទំព័រទាំងអស់", "All pages")}</span>'
        f'<span style="{_LINE}"><span lang="km">តំណដែលមានសញ្ញា ↗ នាំទៅគេហទំព័រដើម ក្រៅបណ្ណសារ</span> / '
        '<span lang="en">Links marked ↗ leave the archive for the original site</span></span></div>'
    )
    return _ascii(head), _ascii(tail)
