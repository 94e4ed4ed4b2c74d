"""The pages only the replay server shows, and the banner of a replayed page.

    front_page       /: a search box (/search, search_page), every target, its newest capture,
                     its last fixity check (no link to a seed URL taken down)
    captures_page    /web/*/URL: every capture of a URL, newest first
    not_found_page   a URL that was not captured (or cannot be served), with captures that
                     exist, and the search box
    message_page     any other error
    banner           the bar after <body> of a replayed page (mirror.pages.banner, with
                     absolute links to the URL's captures, the front page and, for a page
                     captured with a browser, its screenshot)

Pages are reader pages (mirror.pages.reader), sent with READER_HEADERS: no script, no
external reference, no frame, no referrer. Links are archive URLs of replay.policy.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime
from html import escape
from typing import Any, Iterable

from refuge.formats.urls import display_url
from refuge.mirror.pages.banner import SCREENSHOT_LABEL, bar
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page, ts_text
from refuge.mirror.replay.policy import archive_url, quote_url

PREFIX_ALL = "/web/*/"
SEARCH = "/search"  # the full-text search's page (search_page)

READER_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def http_date(ts: str) -> str:
    """RFC 1123 date of a 14-digit timestamp (for Memento-Datetime)."""
    try:
        dt = datetime.strptime(ts[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        dt = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return format_datetime(dt, usegmt=True)


def banner(url: str, ts: str, screenshot: str | None = None) -> str:
    """The bar inserted right after <body> of a replayed page, as ASCII HTML; SCREENSHOT is
    where the page's screenshot opens (a page captured with a browser has one)."""
    links = [(PREFIX_ALL + quote_url(url), ("ច្បាប់ចម្លងទាំងអស់", "All captures")),
             ("/", ("ទំព័រដើម", "Home"))]
    if screenshot:
        links.append((screenshot, SCREENSHOT_LABEL))
    return bar(ts_text(ts), links, url)


def search_box() -> str:
    """A one-line form that sends its words to the search page, as a plain GET (no script)."""
    return (f'<form class="search" method="get" action="{SEARCH}" role="search">'
            '<input type="search" name="q" aria-label="ស្វែងរក / Search" '
            'style="width:65%;box-sizing:border-box;font:inherit;padding:.3em"> '
            f'<button style="font:inherit">{_t("ស្វែងរក", "Search", " / ")}</button></form>')


# -- front page -------------------------------------------------------------------------

def front_page(entries: Iterable[dict[str, Any]]) -> bytes:
    """ENTRIES: dicts with name, url, ts (newest capture of the seed URL, or None), fixity
    (the last check of the target's copies, or None) and withheld (the seed URL was taken
    down: no link to it)."""
    items = []
    for e in entries:
        url = e["url"]
        if e.get("withheld"):
            withheld = _t("បានដកចេញពីការបង្ហាញ", "Withheld", " / ")
            items.append(f'<li><strong>{escape(e["name"])}</strong><br>{withheld}'
                         f'{_data_link(e)}{_fixity_line(e.get("fixity"))}</li>')
            continue
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
        f"{search_box()}{listing}"
        f'<p><a href="/mirrors">{_t("កញ្ចក់ទាំងអស់ ប្រសិនបើអាសយដ្ឋាននេះត្រូវបានបិទ", "Every mirror, in case this address is blocked", "<br>")}</a></p>'
    )
    return reader_page("Refuge", body)


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
    return reader_page(f"Captures of {display_url(url)}", body)


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
    parts.append(f"<h2>{_t('ស្វែងរកក្នុងបណ្ណសារ', 'Search the archive', ' / ')}</h2>{search_box()}")
    parts.append(f'<p><a href="/">{_t("ទៅទំព័រដើម ដើម្បីមើលគេហទំព័រទាំងអស់", "Go to the front page for every archived site", "<br>")}</a></p>')
    return reader_page("Not captured / មិនបានរក្សាទុក", "".join(parts))


def message_page(km: str, en: str) -> bytes:
    """A short page for other errors (bad request, method not allowed, server error)."""
    return reader_page(en, f"<h1>{_t(km, en, '<br>')}</h1>")
