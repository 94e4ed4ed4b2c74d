"""`/search?q=...`: the replay server's full-text search of every captured page, for readers.

Parameters (a plain GET form, all optional):
    q        words, Khmer or English (storage.catalog.search reads and caps them)
    target   a target's name: only its pages
    from/to  dates, YYYY-MM-DD as <input type=date> sends them: pages captured on or
             after FROM, on or before TO
    page     1, 2, ... (PAGE_SIZE results a page; past MAX_PAGE is clamped to it)

Each result shows the page's title linking to its capture (/web/<ts>/<url>, replay.policy),
a snippet with the matched words in <mark>, its URL, target and capture time. Everything
from the index is escaped: the snippet comes as plain-text pieces and only <mark> is ours.
Pages are reader pages (mirror.pages.reader): Khmer first, then English, laid out for a
phone, no script at all, so it works with JavaScript off; previous/next links keep the
filters. Hidden (taken-down) pages are never in results (the search leaves them out).

No q: just the form. A query the search refuses (too long, too many words: QueryError) and
hostile parameters (bad dates, a target that does not exist, a parameter given twice, too
many of them, bytes that are not UTF-8, a page that is not a number) get status 400 with
a clear message and the form; never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from html import escape
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import Engine

from refuge.formats.urls import display_url
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page, ts_text
from refuge.mirror.replay.pages import SEARCH as PATH
from refuge.mirror.replay.policy import archive_url
from refuge.storage import catalog
from refuge.storage.catalog.search import Hit, QueryError, Results, search

PAGE_SIZE = 20
MAX_PAGE = 500  # deeper than any reader goes; a bigger number is clamped to it
ECHO_CHARS = 1000  # of a refused query, put back into the form
MAX_FIELDS = 16  # parameters in one request (a form sends five)
NAMES = ("q", "target", "from", "to", "page")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"[+-]?\d+")
_CSS = ("form.search label{display:block;margin:.4em 0 .1em}"
        "form.search input,form.search select{width:100%;box-sizing:border-box;font:inherit;padding:.35em}"
        "form.search button{font:inherit;padding:.35em 1.2em;margin-top:.6em}"
        ".dates{display:flex;gap:.6em}.dates>div{flex:1}mark{background:#ffe066;color:inherit}"
        ".snippet{margin:.2em 0}.meta{color:#555}.pager{display:flex;justify-content:space-between;gap:1em}")


class BadParams(ValueError):
    """A parameter that cannot be read; KM and EN say which and why."""

    def __init__(self, km: str, en: str) -> None:
        super().__init__(en)
        self.km, self.en = km, en


@dataclass(frozen=True)
class Params:
    q: str = ""
    target: str = ""
    since: date | None = None
    until: date | None = None
    page: int = 1

    def link(self, page: int) -> str:
        """This search's URL at PAGE, its filters kept."""
        pairs = [("q", self.q), ("target", self.target),
                 ("from", self.since.isoformat() if self.since else ""),
                 ("to", self.until.isoformat() if self.until else ""), ("page", str(page) if page > 1 else "")]
        return PATH + "?" + urlencode([(k, v) for k, v in pairs if v])


def answer(engine: Engine, query: str) -> tuple[int, bytes]:
    """(status, HTML) for GET /search?QUERY (QUERY as the client sent it, percent-encoded)."""
    targets = [t.name for t in catalog.list_targets(engine)]
    try:
        params = read_params(query, targets)
    except BadParams as exc:
        return 400, _page(Params(), targets, _problem(exc.km, exc.en))
    if not params.q:
        return 200, _page(params, targets, "")
    try:
        results = search(engine, params.q, target=params.target or None, since=params.since, until=params.until,
                          page=params.page, page_size=PAGE_SIZE)
    except QueryError as exc:
        # The refused query is shown again to be corrected, but not a megabyte of it.
        shown = replace(params, q=_short(params.q, ECHO_CHARS))
        return 400, _page(shown, targets, _problem("មិនអាចស្វែងរកដូច្នេះបានទេ។", str(exc)))
    return 200, _page(params, targets, _results(params, results))


def read_params(query: str, targets: Sequence[str]) -> Params:
    """The search QUERY asks for, checked against the TARGETS that exist; BadParams if not readable."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise BadParams("ការស្វែងរកមានតួអក្សរដែលមិនអាចអានបាន (មិនមែន UTF-8)។",
                        "The search has characters that cannot be read (not UTF-8).") from None
    except ValueError:  # more fields than MAX_FIELDS
        raise BadParams(f"ប៉ារ៉ាម៉ែត្រច្រើនពេក (យ៉ាងច្រើន {MAX_FIELDS})។",
                        f"Too many parameters (at most {MAX_FIELDS}).") from None
    given: dict[str, str] = {}
    for name, value in pairs:
        if name not in NAMES:
            continue  # what a link may add (tracking tags) changes nothing
        if name in given:
            raise BadParams(f"ប៉ារ៉ាម៉ែត្រ «{name}» ត្រូវបានផ្តល់ឱ្យច្រើនដង។", f"Parameter {name!r} is given more than once.")
        given[name] = value.strip()
    params = Params(q=given.get("q", ""), target=given.get("target", ""),
                    since=_date(given.get("from", ""), "from"), until=_date(given.get("to", ""), "to"),
                    page=_page_number(given.get("page", "")))
    if params.target and params.target not in targets:
        raise BadParams(f"មិនមានគេហទំព័រឈ្មោះ «{_short(params.target)}» ទេ។",
                        f"No target named {_short(params.target)!r}.")
    if params.since and params.until and params.since > params.until:
        raise BadParams("កាលបរិច្ឆេទ «ពី» ស្ថិតនៅក្រោយកាលបរិច្ឆេទ «ដល់»។",
                        f"The 'from' date {params.since} is after the 'to' date {params.until}.")
    return params


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise BadParams(f"កាលបរិច្ឆេទ «{name}» មិនត្រឹមត្រូវ៖ {_short(value)} (ត្រូវជា ឆ្នាំ-ខែ-ថ្ងៃ ឧ. 2023-07-17)។",
                        f"The '{name}' date {_short(value)!r} is not a date (YYYY-MM-DD, e.g. 2023-07-17).") from None


def _page_number(value: str) -> int:
    if not value:
        return 1
    if not _NUMBER.fullmatch(value):
        raise BadParams(f"លេខទំព័រមិនត្រឹមត្រូវ៖ {_short(value)}។", f"The page {_short(value)!r} is not a number.")
    if len(value.lstrip("+-0")) > len(str(MAX_PAGE)):  # 10**30 is never turned into an int to compare
        return 1 if value.startswith("-") else MAX_PAGE
    return min(max(int(value), 1), MAX_PAGE)


# -- the page ----------------------------------------------------------------------------

def _form(params: Params, targets: Sequence[str]) -> str:
    options = [f'<option value="">{escape("ទាំងអស់ / All")}</option>']
    for name in targets:
        chosen = " selected" if name == params.target else ""
        options.append(f'<option value="{escape(name)}"{chosen}>{escape(name)}</option>')
    since = params.since.isoformat() if params.since else ""
    until = params.until.isoformat() if params.until else ""
    return (
        f'<form class="search" method="get" action="{PATH}" role="search">'
        f'<label for="q">{_t("ពាក្យដែលត្រូវស្វែងរក ជាភាសាខ្មែរ ឬអង់គ្លេស", "Words to look for, in Khmer or English", " / ")}</label>'
        f'<input id="q" type="search" name="q" value="{escape(params.q)}">'
        f'<label for="target">{_t("គេហទំព័រ", "Site", " / ")}</label>'
        f'<select id="target" name="target">{"".join(options)}</select>'
        f'<div class="dates"><div><label for="from">{_t("ថតចាប់ពី", "Captured from", " / ")}</label>'
        f'<input id="from" type="date" name="from" value="{since}"></div>'
        f'<div><label for="to">{_t("ដល់", "to", " / ")}</label>'
        f'<input id="to" type="date" name="to" value="{until}"></div></div>'
        f"<button>{_t('ស្វែងរក', 'Search', ' / ')}</button></form>"
    )


def _page(params: Params, targets: Sequence[str], main: str) -> bytes:
    body = f"<h1>{_t('ស្វែងរកក្នុងបណ្ណសារ', 'Search the archive', '<br>')}</h1>{_form(params, targets)}{main}"
    title = f"{_short(params.q)} — ស្វែងរក / Search" if params.q else "ស្វែងរក / Search"
    return reader_page(title, body, head=f"<style>{_CSS}</style>")


def _problem(km: str, en: str) -> str:
    return f'<p class="problem" role="alert"><strong>{_t(km, en, "<br>")}</strong></p>'


def _results(params: Params, results: Results) -> str:
    if results.total == 0:
        return f"<p>{_t('រកមិនឃើញទំព័រណាមួយទេ។', 'No page found.', '<br>')}</p>"
    size = max(results.page_size, 1)
    last = min(-(-results.total // size), MAX_PAGE)
    if not results.hits:  # a page past the last one
        back = params.link(last)
        return (f"<p>{_t(f'គ្មានលទ្ធផលនៅទំព័រ {results.page} ទេ។', f'No results on page {results.page}.', '<br>')}</p>"
                f'<p><a href="{escape(back)}">{_t("ទៅទំព័រចុងក្រោយ", "Go to the last page", " / ")}</a></p>')
    first = (results.page - 1) * size + 1
    upto = first + len(results.hits) - 1
    total = f"{results.total}+" if results.total_capped else str(results.total)  # "at least" past what search reads
    head = f"<p>{_t(f'លទ្ធផល {first}–{upto} នៃ {total}', f'Results {first}–{upto} of {total}', ' / ')}</p>"
    items = "".join(_hit(h) for h in results.hits)
    return f'{head}<ol class="results" start="{first}">{items}</ol>{_pager(params, results.page, last)}'


def _hit(hit: Hit) -> str:
    shown = display_url(hit.url)
    lang = f' lang="{escape(hit.lang)}"' if hit.lang else ""
    snippet = "".join(f"<mark>{escape(text)}</mark>" if matched else escape(text) for text, matched in hit.snippet)
    return (f'<li><a href="{escape(archive_url(hit.timestamp, "", hit.url))}"{lang}>{escape(hit.title or shown)}</a>'
            + (f'<p class="snippet"{lang}>{snippet}</p>' if snippet else "")
            + f'<small class="meta"><span class="url">{escape(shown)}</span><br>'
            f"{escape(hit.target)} · {escape(ts_text(hit.timestamp))}</small></li>")


def _pager(params: Params, page: int, last: int) -> str:
    links = []
    if page > 1:
        links.append(f'<a rel="prev" href="{escape(params.link(min(page - 1, last)))}">← {_t("មុន", "Previous", " / ")}</a>')
    else:
        links.append("<span></span>")
    links.append(f"<span>{_t(f'ទំព័រ {page} នៃ {last}', f'Page {page} of {last}', ' / ')}</span>")
    if page < last:
        links.append(f'<a rel="next" href="{escape(params.link(page + 1))}">{_t("បន្ទាប់", "Next", " / ")} →</a>')
    else:
        links.append("<span></span>")
    return f'<nav class="pager">{"".join(links)}</nav>'

