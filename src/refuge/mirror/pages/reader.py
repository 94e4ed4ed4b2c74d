"""The reader page: the one frame every page Refuge writes for readers sits in (the replay
server's front page, capture lists and errors, /data pages, the mirror list, an export's
root pages), and the bilingual text inside it.

Khmer first, then English. Mobile-friendly, no script, no external reference, a few lines
of inline CSS, UTF-8. The same arguments give the same bytes.
"""

from __future__ import annotations

from html import escape

FONTS = "\"Noto Sans Khmer\",\"Khmer OS\",\"Khmer OS System\",system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif"

_CSS = (
    f"body{{margin:0 auto;max-width:46em;padding:1em;font:16px/1.7 {FONTS};color:#1a1a1a;background:#fff}}"
    "h1{font-size:1.4em;line-height:1.4}h2{font-size:1.1em}a{color:#0645ad}"
    ".en{color:#555}.url{word-break:break-all;font-family:monospace}"
    "ul{padding-left:1.2em}li{margin:.5em 0}table{border-collapse:collapse;width:100%}"
    "td,th{text-align:left;padding:.3em .4em;border-bottom:1px solid #ddd;vertical-align:top}"
    "footer{margin-top:2em;font-size:.9em;color:#555}"
)


def ts_text(ts: str) -> str:
    """'20261127234147' -> '2026-11-27 23:41 UTC'."""
    ts = (ts + "00000101000000"[len(ts):])[:14]
    return f"{ts[0:4]}-{ts[4:6]}-{ts[6:8]} {ts[8:10]}:{ts[10:12]} UTC"


def bilingual(km: str, en: str, sep: str = " ") -> str:
    """KM and EN as two marked spans, escaped, SEP (markup) between them."""
    return f'<span lang="km">{escape(km)}</span>{sep}<span lang="en" class="en">{escape(en)}</span>'


def reader_page(title: str, body: str, home: str = "/", head: str = "") -> bytes:
    """A reader page around BODY (markup). HOME is where the footer's Home link goes (a
    relative path in a static copy); HEAD is extra markup for <head>."""
    return (
        '<!DOCTYPE html>\n<html lang="km"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style>{head}</head><body>\n{body}\n"
        f'<footer><a href="{escape(home)}">{bilingual("ទំព័រដើម", "Home", " / ")}</a> · Refuge</footer>'
        "</body></html>\n"
    ).encode("utf-8")
