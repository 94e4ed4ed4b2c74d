"""The banner: the bar put right after <body> of every archived page a reader opens, on the
replay server and in a static export alike.

It says, in Khmer then English, that the page is an archived copy kept by Refuge and when it
was captured, shows the original URL, and ends with a line of links (each labelled in both
languages). The callers say what differs: the capture time as text, the links as
(href, (Khmer, English)) pairs, the URL; an export also puts a stylesheet inside the bar and
a last line of explanation. The result is pure ASCII (Khmer as numeric character references)
so it fits into a page of any charset, and its inline styles reset everything the archived
page's own CSS could change.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from refuge.formats.urls import display_url
from refuge.mirror.pages.reader import FONTS

Label = tuple[str, str]  # (Khmer, English), plain text
Link = tuple[str, Label]  # (href, label)

# The link to the screenshot of a page captured with a browser (formats.rendered).
SCREENSHOT_LABEL: Label = ("រូបថតអេក្រង់នៃទំព័រ", "Screenshot of the page")

_BAR = ("all:initial;display:block;box-sizing:border-box;width:100%;margin:0;padding:6px 10px;"
        f"background:#fff8d6;color:#222;border-bottom:2px solid #d9b400;font:14px/1.6 {FONTS};"
        "text-align:left;position:relative;z-index:2147483647")
_LINE = "all:initial;display:block;font:inherit;color:inherit"
_LINK = "all:initial;font:inherit;color:#0645ad;text-decoration:underline;cursor:pointer;margin-right:1em"
_URL = "all:initial;font:inherit;font-family:monospace;color:#222;word-break:break-all"


def ascii_text(text: str) -> str:
    """TEXT with every non-ASCII character written as a numeric character reference."""
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def shown_url(url: str) -> str:
    """URL as the banner shows it: readable (display_url), escaped, ASCII."""
    return ascii_text(escape(display_url(url)))


def bar(when: str, links: Sequence[Link], url: str, css: str = "", note: Label | None = None) -> str:
    """The whole banner for a page captured from URL at WHEN (ts_text of its timestamp)."""
    head, tail = bar_parts(when, links, css, note)
    return head + shown_url(url) + tail


def bar_parts(when: str, links: Sequence[Link], css: str = "", note: Label | None = None) -> tuple[str, str]:
    """The banner before and after its shown URL, for a caller that builds many banners that
    differ only in the URL. CSS (a stylesheet, not escaped) goes first inside the bar; NOTE
    is a last line."""
    head = (
        f'<div id="refuge-banner" role="note" style="{escape(_BAR)}">'
        + (f"<style>{css}</style>" if css else "")
        + f'<span lang="km" style="{_LINE}">ច្បាប់ចម្លងបណ្ណសារ ដែល Refuge រក្សាទុក · ថតនៅ {when}</span>'
        f'<span lang="en" style="{_LINE}">Archived copy kept by Refuge · captured {when}</span>'
        f'<span style="{_LINE}"><span lang="km">អាសយដ្ឋានដើម</span> / <span lang="en">Original</span>: '
        f'<span style="{_URL}">'
    )
    anchors = "".join(f'<a style="{_LINK}" href="{escape(href)}">{_label(label)}</a>' for href, label in links)
    tail = f'</span></span><span style="{_LINE}">{anchors}</span>'
    if note:
        tail += f'<span style="{_LINE}">{_label(note)}</span>'
    return ascii_text(head), ascii_text(tail + "</div>")


def _label(label: Label) -> str:
    km, en = label
    return f'<span lang="km">{escape(km)}</span> / <span lang="en">{escape(en)}</span>'
