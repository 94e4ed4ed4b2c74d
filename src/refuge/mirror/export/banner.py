"""What every exported page gets besides its own content: the meta tags that open its head
(its charset, a Content-Security-Policy, no referrer), the banner after <body> (mirror.pages'
banner with relative links to the export's root pages (search.html among them) and, for a page captured with a
browser, to its screenshot; a mark on links that leave the archive and a line explaining
it), and the title of those links. All of it is ASCII, so it fits a page in
any charset.
"""

from __future__ import annotations

from functools import lru_cache

from refuge.mirror.export.paths import rel_href
from refuge.mirror.pages.banner import SCREENSHOT_LABEL, ascii_text, bar_parts, shown_url
from refuge.mirror.pages.reader import ts_text

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


def head_meta(label: str) -> str:
    """What goes first into every exported page's <head>."""
    return (f'<meta charset="{label}"><meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="referrer" content="no-referrer"><meta http-equiv="x-dns-prefetch-control" content="off">')


LEAVING_TITLE = ascii_text("ចេញពីបណ្ណសារ៖ បើកគេហទំព័រដើម / Leaves the archive: opens the original site")
# Every internal link is relative, so an absolute http(s) link leaves the mirror.
MARK_CSS = ('a[href^="http:"]::after,a[href^="https:"]::after,area[href^="http:"]::after'
            '{content:" \\2197";font-size:.85em}#refuge-banner a::after{content:none}')
_NOTE = ("តំណដែលមានសញ្ញា ↗ នាំទៅគេហទំព័រដើម ក្រៅបណ្ណសារ", "Links marked ↗ leave the archive for the original site")


def banner(url: str, ts: str, path: str, screenshot: str | None = None) -> str:
    """The bar put right after <body> of the exported page at PATH, as ASCII HTML; SCREENSHOT
    is the export path of the page's screenshot, if it has one."""
    head, tail = _banner_parts(ts_text(ts), path.rsplit("/", 1)[0] if "/" in path else "",
                               rel_href(path, screenshot) if screenshot else None)
    return head + shown_url(url) + tail


@lru_cache(maxsize=1024)
def _banner_parts(when: str, folder: str, screenshot: str | None = None) -> tuple[str, str]:
    """The banner before and after the page's URL: the same for the pages of a folder
    captured in the same minute (and without a screenshot)."""
    here = f"{folder}/x" if folder else "x"
    links = [(rel_href(here, "mirrors.html"), ("បញ្ជីគេហទំព័រចម្លង", "Mirror list")),
             (rel_href(here, "index.html"), ("ទំព័រដើម", "Home")),
             (rel_href(here, "contents.html"), ("ទំព័រទាំងអស់", "All pages")),
             (rel_href(here, "search.html"), ("ស្វែងរក", "Search"))]
    if screenshot:
        links.append((screenshot, SCREENSHOT_LABEL))
    return bar_parts(when, links, css=MARK_CSS, note=_NOTE)
