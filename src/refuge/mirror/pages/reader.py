"""Reader pages of the replay server (front page, capture list, not-found) and the
banner put at the top of every replayed page.

Khmer first, then English. Mobile-friendly, no script, no external reference, a
few lines of inline CSS. Reader pages are UTF-8; the banner is pure ASCII (Khmer as
numeric character references) so it can go into a page of any charset.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from html import escape
from typing import Any, Iterable

from refuge.formats.urls import display_url
from refuge.mirror.replay.policy import archive_url, quote_url

FONTS = "\"Noto Sans Khmer\",\"Khmer OS\",\"Khmer OS System\",system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif"

PREFIX_ALL = "/web/*/"

READER_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

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


def http_date(ts: str) -> str:
    """RFC 1123 date of a 14-digit timestamp (for Memento-Datetime)."""
    try:
        dt = datetime.strptime(ts[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        dt = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return format_datetime(dt, usegmt=True)


def _ascii(text: str) -> str:
    return text.encode("ascii", "xmlcharrefreplace").decode("ascii")


def _t(km: str, en: str, sep: str = " ") -> str:
    return f'<span lang="km">{escape(km)}</span>{sep}<span lang="en" class="en">{escape(en)}</span>'


def _page(title: str, body: str, home: str = "/", head: str = "") -> bytes:
    """A reader page. HOME is where the footer's Home link goes (a relative path in a
    static copy); HEAD is extra markup for <head>."""
    return (
        '<!DOCTYPE html>\n<html lang="km"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style>{head}</head><body>\n{body}\n"
        f'<footer><a href="{escape(home)}">{_t("ទំព័រដើម", "Home", " / ")}</a> · Refuge</footer>'
        "</body></html>\n"
    ).encode("utf-8")


# Public names for the other reader pages (data_pages.py).
reader_page = _page
bilingual = _t


# -- the banner -------------------------------------------------------------------------

_BAR = (f"all:initial;display:block;box-sizing:border-box;width:100%;margin:0;padding:6px 10px;"
        f"background:#fff8d6;color:#222;border-bottom:2px solid #d9b400;font:14px/1.6 {FONTS};"
        "text-align:left;position:relative;z-index:2147483647")
_LINE = "all:initial;display:block;font:inherit;color:inherit"
_LINK = "all:initial;font:inherit;color:#0645ad;text-decoration:underline;cursor:pointer;margin-right:1em"
_URL = "all:initial;font:inherit;font-family:monospace;color:#222;word-break:break-all"


def banner(url: str, ts: str) -> str:
    """The bar inserted right after <body> of a replayed page, as ASCII HTML."""
    when = ts_text(ts)
    shown = escape(display_url(url))
    parts = [
        f'<div id="refuge-banner" role="note" style="{escape(_BAR)}">',
        f'<span lang="km" style="{_LINE}">ច្បាប់ចម្លងបណ្ណសារ ដែល Refuge រក្សាទុក · ថតនៅ {when}</span>',
        f'<span lang="en" style="{_LINE}">Archived copy kept by Refuge · captured {when}</span>',
        f'<span style="{_LINE}"><span lang="km">អាសយដ្ឋានដើម</span> / <span lang="en">Original</span>: '
        f'<span style="{_URL}">{shown}</span></span>',
        f'<span style="{_LINE}"><a style="{_LINK}" href="{escape(PREFIX_ALL + quote_url(url))}">'
        '<span lang="km">ច្បាប់ចម្លងទាំងអស់</span> / <span lang="en">All captures</span></a>'
        f'<a style="{_LINK}" href="/"><span lang="km">ទំព័រដើម</span> / <span lang="en">Home</span></a></span>',
        "</div>",
    ]
    return _ascii("".join(parts))


# -- front page -------------------------------------------------------------------------

def front_page(entries: Iterable[dict[str, Any]]) -> bytes:
    """ENTRIES: dicts with name, url, ts (newest capture of the seed URL, or None) and
    fixity (the last check of the target's copies, or None)."""
    items = []
    for e in entries:
        url = e["url"]
        if e.get("ts"):
            link = (f'<a href="{escape(archive_url(e["ts"], "", url))}">'
                    f'{_t("បើកច្បាប់ចម្លងចុងក្រោយ", "Open the newest copy", " / ")}</a>'
                    f' <small>({escape(ts_text(e["ts"]))})</small>')
        else:
            link = _t("មិនទាន់មានច្បាប់ចម្លងនៅឡើយ", "Not captured yet", " / ")
        items.append(
            f'<li><strong>{escape(e["name"])}</strong><br><span class="url">{escape(display_url(url))}</span><br>'
            f'{link} · <a href="{escape(PREFIX_ALL + quote_url(url))}">{_t("ច្បាប់ចម្លងទាំងអស់", "All captures", " / ")}</a>'
            f'{_data_link(e)}{_fixity_line(e.get("fixity"))}</li>'
        )
    listing = "<ul>" + "".join(items) + "</ul>" if items else f"<p>{_t('មិនទាន់មានគេហទំព័រណាមួយទេ។', 'No sites yet.')}</p>"
    body = (
        f'<h1>{_t("Refuge — បណ្ណសារព័ត៌មាន", "Refuge — news archive", "<br>")}</h1>'
        f'<p lang="km">ច្បាប់ចម្លងនៃគេហទំព័រព័ត៌មានដែលត្រូវបានបិទ។ អ្នកអានវាបាន ដោយមិនចាំបាច់ចូលទៅគេហទំព័រដើម។</p>'
        f'<p lang="en" class="en">Copies of blocked news sites. You can read them without contacting the original site.</p>'
        f"{listing}"
        f'<p><a href="/mirrors">{_t("កញ្ចក់ទាំងអស់ ប្រសិនបើអាសយដ្ឋាននេះត្រូវបានបិទ", "Every mirror, in case this address is blocked", "<br>")}</a></p>'
    )
    return _page("Refuge", body)


def _data_link(e: dict[str, Any]) -> str:
    if e.get("kind") != "database":
        return ""
    return f' · <a href="/data/{quote_url(e["name"])}/">{_t("កំណត់ត្រាជាទិន្នន័យ", "Records as data", " / ")}</a>'


def _fixity_line(doc: dict[str, Any] | None) -> str:
    """The last fixity check of a target's copies, for archivists and admins."""
    if not doc:
        return ""
    when = escape(doc["checked_at"] or "")
    if doc["status"] == "ok":
        text = _t(f"ច្បាប់ចម្លងទាំង {doc['ok']} ត្រឹមត្រូវ", f"all {doc['ok']} copies intact", " / ")
        return f'<br><small class="fixity ok">✓ {text} ({when})</small>'
    bad = doc["bad"] + doc["missing"]
    text = _t(f"ច្បាប់ចម្លង {bad} ខូច ឬបាត់", f"{bad} copies bad or missing", " / ")
    return f'<br><small class="fixity bad">✗ {text} ({when})</small>'


# -- capture list -----------------------------------------------------------------------

def captures_page(url: str, hits: list[Any]) -> bytes:
    """Every capture of URL, newest first."""
    rows = []
    for h in sorted(hits, key=lambda h: h.timestamp, reverse=True):
        what = "revisit" if h.rectype == "revisit" else ""
        rows.append(
            f'<tr><td><a href="{escape(archive_url(h.timestamp, "", url))}">{escape(ts_text(h.timestamp))}</a></td>'
            f'<td>{h.status if h.status is not None else "-"}</td><td>{escape(h.mime)} {what}</td>'
            f'<td><a href="{escape(archive_url(h.timestamp, "id_", url))}">{_t("ដើម", "original bytes", " / ")}</a></td></tr>'
        )
    if rows:
        table = (f'<table><tr><th>{_t("ពេលវេលា", "Time", " / ")}</th><th>{_t("ស្ថានភាព", "Status", " / ")}</th>'
                 f'<th>{_t("ប្រភេទ", "Type", " / ")}</th><th></th></tr>' + "".join(rows) + "</table>")
    else:
        table = f'<p>{_t("មិនមានច្បាប់ចម្លងនៃទំព័រនេះទេ។", "This page was not captured.", "<br>")}</p>'
    body = (
        f'<h1>{_t("ច្បាប់ចម្លងទាំងអស់", "All captures", " / ")} ({len(hits)})</h1>'
        f'<p class="url">{escape(display_url(url))}</p>{table}'
    )
    return _page(f"Captures of {display_url(url)}", body)


# -- not found --------------------------------------------------------------------------

def not_found_page(url: str | None, others: list[Any], nearby: list[Any],
                   problem: tuple[str, str] | None = None) -> bytes:
    """The page for a URL that was not captured (or cannot be served), with links to
    captures that exist: OTHERS of the same URL, else NEARBY URLs on the same host."""
    if problem:
        head = _t(problem[0], problem[1], "<br>")
    else:
        head = _t("ទំព័រនេះមិនត្រូវបានរក្សាទុកទេ។", "This page was not captured.", "<br>")
    parts = [f"<h1>{head}</h1>"]
    if url:
        parts.append(f'<p class="url">{escape(display_url(url))}</p>')
    if others:
        parts.append(f'<h2>{_t("ច្បាប់ចម្លងផ្សេងទៀតនៃទំព័រនេះ", "Other captures of this page", " / ")}</h2><ul>')
        for h in sorted(others, key=lambda h: h.timestamp, reverse=True)[:50]:
            parts.append(f'<li><a href="{escape(archive_url(h.timestamp, "", url or h.url))}">'
                         f'{escape(ts_text(h.timestamp))}</a> ({h.status if h.status is not None else "-"})</li>')
        parts.append("</ul>")
    elif nearby:
        parts.append(f'<h2>{_t("ទំព័រដែលបានរក្សាទុកនៅលើគេហទំព័រដដែល", "Captured pages on the same site", " / ")}</h2><ul>')
        for h in nearby:
            parts.append(f'<li><a class="url" href="{escape("/web/" + quote_url(h.url))}">'
                         f"{escape(display_url(h.url))}</a></li>")
        parts.append("</ul>")
    parts.append(f'<p><a href="/">{_t("ទៅទំព័រដើម ដើម្បីមើលគេហទំព័រទាំងអស់", "Go to the front page for every archived site", "<br>")}</a></p>')
    return _page("Not captured / មិនបានរក្សាទុក", "".join(parts))


def message_page(km: str, en: str) -> bytes:
    """A short page for other errors (bad request, method not allowed, server error)."""
    return _page(en, f"<h1>{_t(km, en, '<br>')}</h1>")
