"""Full-text search over every target's captured pages, in Khmer and English in one box.

    search(engine, query, *, target=None, since=None, until=None, page=1, page_size=20) -> Results
    index_capture(engine, settings, capture_id) -> int        (search_index: fill the index)
    reindex(engine, settings, target=None) -> Reindexed       (search_index: rebuild it)
    QueryError, MAX_QUERY_CHARS, MAX_QUERY_TERMS               (search_query: what a query may be)

How Khmer is found: Khmer is written without spaces between words, so an index of words (split
at spaces) holds whole sentences and misses a word inside one. Refuge indexes trigrams (every
run of three characters) and finds a term as a substring: the index says which pages hold every
trigram of the term, and the database checks each of those pages for the term itself (LIKE).
On SQLite the index is FTS5's with its `trigram` tokenizer over a page's title and text, kept
with detail=none (which pages hold a trigram, not where: a small fraction of a positional
index's size, for a check of the candidates' text); on PostgreSQL, pg_trgm's GIN over the same.
No dictionary, no model, the same answer on both engines, and the same for English and Khmer
terms mixed in one query. Letter case: ASCII letters match either case (Khmer has none).

A Khmer word segmenter was weighed against this: the package registries offer khmer-nltk (a
CRF model, last released 2023), newer one-author segmenters, and ICU's dictionary word breaks
(PyICU, which needs the ICU C++ library built). Each splits some words and names (a place, a
person, a compound) differently in a page than in a query, which is just the miss the issue is
about, and the index would need the text stored split beside the text shown. Trigrams cost
index space (bench/README.md has the figures) and find substrings ("land" inside "landmark"),
which for Khmer is what a reader expects.

Results: one hit per target and URL, its newest capture among those that match; ranked by how
many of the query's terms are in the title (ASCII letter case folded), then Khmer pages before
English ones before others, then newest first. A page under an active takedown
(storage.catalog.hidden) is never returned; `total` counts what is returned, for paging.
Filters: a target's name, and capture dates (UTC, inclusive): a version of a page (its URL and
payload) is found when the CDX index has a capture of it dated in the range, and the hit shows
the newest such capture (a version seen before and after the range, but not in it, is not).

Bounds: a query needs a run of MIN_TERM characters the trigram index can use (search_query);
at most MAX_MATCHES matches are read and ranked (`total_capped` says more exist); on
PostgreSQL a search statement is cancelled after TIMEOUT_MS (a QueryError saying so).

PostgreSQL: pg_trgm reads words as the database's LC_CTYPE says; under the "C" locale it finds
no trigram in Khmer text, and a Khmer query reads every row (still right, slower):
`trigram_problem` says so. docs/search.md has what operators need.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, column, func, literal, literal_column, or_, select, table, text
from sqlalchemy.exc import OperationalError

from refuge.formats.rendered import DOM
from refuge.storage.catalog import hidden
from refuge.storage.catalog.schema import cdx, search_pages, targets
from refuge.storage.catalog.search_index import Reindexed, index_capture, reindex
from refuge.storage.catalog.search_query import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TERMS,
    MIN_TERM,
    WILDCARDS,
    QueryError,
    longest_run,
    snippet,
    terms,
)

__all__ = ["Hit", "Results", "QueryError", "MAX_QUERY_CHARS", "MAX_QUERY_TERMS", "MAX_PAGE_SIZE", "MAX_MATCHES",
           "search", "index_capture", "reindex", "Reindexed", "trigram_problem"]

MAX_PAGE_SIZE = 100
MAX_MATCHES = 10_000  # matches read and ranked for one search: the replay page's 500 pages of 20
TIMEOUT_MS = 10_000  # PostgreSQL: a search statement running longer is cancelled
_CANCELLED = "57014"  # PostgreSQL's SQLSTATE query_canceled (statement_timeout)
_FTS = table("search_fts", column("rowid"), column("doc"))
_LANG_ORDER = case((search_pages.c.lang == "km", 0), (search_pages.c.lang == "en", 1), else_=2)
# Title and text as pg_trgm's index holds them: the expression must be the index's, exactly.
_BOTH = search_pages.c.title.concat(literal_column("' '")).concat(search_pages.c.text)


@dataclass(frozen=True)
class Hit:
    target: str
    url: str
    timestamp: str  # 14 digits: the capture to link (/web/<timestamp>/<url>)
    title: str  # "" when the page has none
    snippet: tuple[tuple[str, bool], ...]  # plain-text pieces in order; True marks a match
    lang: str  # "km", "en" or "" (unknown)


@dataclass(frozen=True)
class Results:
    query: str
    hits: tuple[Hit, ...]
    total: int  # every page that matches, for paging (at least this many when total_capped)
    page: int  # 1-based
    page_size: int
    total_capped: bool = False  # more than MAX_MATCHES pages match: only the first MAX_MATCHES are counted


def search(engine: Engine, query: str, *, target: str | None = None, since: datetime.date | None = None,
           until: datetime.date | None = None, page: int = 1, page_size: int = 20) -> Results:
    """The pages matching QUERY (see the module's docstring), page PAGE of PAGE_SIZE. QueryError
    (one line a reader can be shown) for a query that cannot be run: empty, too long, too many
    terms, no term of MIN_TERM characters; an unknown target; dates the wrong way round; a
    page below 1 or a page size outside 1..MAX_PAGE_SIZE."""
    wanted = terms(query)
    if page < 1:
        raise QueryError("Page numbers start at 1.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise QueryError(f"A page shows 1 to {MAX_PAGE_SIZE} results.")
    if since is not None and until is not None and since > until:
        raise QueryError(f"The start date {since.isoformat()} is after the end date {until.isoformat()}.")
    low = since.strftime("%Y%m%d000000") if since is not None else None
    high = until.strftime("%Y%m%d235959") if until is not None else None
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":  # for this transaction only: the connection goes back to the pool
            conn.execute(text(f"SET LOCAL statement_timeout = {int(TIMEOUT_MS)}"))
        target_id = _target_id(conn, target)
        try:
            ranked = conn.execute(_ranked(engine.dialect.name, wanted, target_id, low, high)).all()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == _CANCELLED:
                raise QueryError("This search took too long: add a word or a filter to narrow it.") from None
            raise
        capped = len(ranked) > MAX_MATCHES
        ranked = ranked[:MAX_MATCHES]
        takedowns = hidden.active(conn)
        if len(takedowns):
            ranked = [r for r in ranked if takedowns.for_key(r.urlkey) is None]
        shown = {r.id: r.ts for r in ranked[(page - 1) * page_size:page * page_size]}
        hits = _hits(conn, shown, wanted)
    return Results(query.strip(), tuple(hits), len(ranked), page, page_size, capped)


def trigram_problem(engine: Engine) -> str | None:
    """Why the search index cannot use its trigram index for Khmer here, or None: on
    PostgreSQL with a database LC_CTYPE that makes pg_trgm skip Khmer letters ("C")."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        found = conn.execute(text("SELECT array_length(show_trgm('ការ'), 1)")).scalar()
        ctype = conn.execute(text("SELECT datctype FROM pg_database WHERE datname = current_database()")).scalar()
    if found:
        return None
    return (f"PostgreSQL's pg_trgm finds no trigrams in Khmer text under this database's LC_CTYPE ({ctype}): "
            "Khmer searches read every page; make the database with a UTF-8 LC_CTYPE such as C.UTF-8 "
            "(docs/search.md)")


def _target_id(conn: Connection, name: str | None) -> int | None:
    if name is None:
        return None
    found = conn.execute(select(targets.c.id).where(targets.c.name == name)).scalar()
    if found is None:
        raise QueryError(f"There is no target named {name[:100]!r}.")
    return int(found)


def _like(term: str) -> str:
    return "%" + term.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def _ranked(dialect: str, wanted: list[str], target_id: int | None, low: str | None, high: str | None) -> Any:
    """SELECT id, urlkey, ts (the capture to show) of every match, one per target and URL (its
    newest), best first; at most MAX_MATCHES + 1 of them (the one past says there are more)."""
    p = search_pages
    long = [t for t in wanted if len(t) >= MIN_TERM]
    where = [_BOTH.ilike(_like(t), escape="/") for t in wanted if len(t) < MIN_TERM]
    if dialect == "sqlite":
        # FTS5 takes a plain two-argument LIKE only, where '%' and '_' are wildcards: it is given
        # the longest run of a term without them (SQLite 3.40 crashes on an AND of such LIKEs
        # when a run between wildcards is shorter than a trigram), and a term with them is
        # also looked for as it is written. terms() refused a query with no such run.
        runs = [r for r in (longest_run(t) for t in long) if len(r) >= MIN_TERM]
        source = p.join(_FTS, _FTS.c.rowid == p.c.id) if runs else p
        where += [_FTS.c.doc.like(f"%{r}%") for r in runs]
        where += [_BOTH.ilike(_like(t), escape="/") for t in long if WILDCARDS.search(t)]
    else:
        source = p
        where += [_BOTH.ilike(_like(t), escape="/") for t in long]
    if target_id is not None:
        where.append(p.c.target_id == target_id)
    if low is not None:  # the span must reach the range (cheap, by the row alone) ...
        where.append(p.c.last_ts >= low)
    if high is not None:
        where.append(p.c.first_ts <= high)
    shown = p.c.last_ts if low is None and high is None else _seen_in_range(low, high)
    in_title = sum((case((p.c.title.ilike(_like(t), escape="/"), 1), else_=0) for t in wanted), literal_column("0"))
    matched = (select(p.c.id, p.c.target_id, p.c.urlkey, shown.label("ts"), in_title.label("in_title"),
                      _LANG_ORDER.label("lang_order"))
               .select_from(source).where(and_(*where)).subquery())
    newest = func.row_number().over(partition_by=(matched.c.target_id, matched.c.urlkey),
                                    order_by=(matched.c.ts.desc(), matched.c.id.desc()))
    # ... and a version counts only with a capture in the range (ts is None without one).
    numbered = select(matched, newest.label("newest")).where(matched.c.ts.is_not(None)).subquery()
    return (select(numbered.c.id, numbered.c.urlkey, numbered.c.ts).where(numbered.c.newest == 1)
            .order_by(numbered.c.in_title.desc(), numbered.c.lang_order, numbered.c.ts.desc(), numbered.c.id.desc())
            .limit(MAX_MATCHES + 1))


def _seen_in_range(low: str | None, high: str | None) -> Any:
    """The newest capture of a search_pages row's version (same target, URL and payload digest)
    dated from LOW to HIGH, from the CDX index (by its (target, digest) index); NULL if none.
    The URL is the page's, or its rendered DOM's (urn:dom:<page>), whose text the row may hold."""
    p = search_pages
    cond = [cdx.c.target_id == p.c.target_id, cdx.c.digest == p.c.digest,
            or_(cdx.c.urlkey == p.c.urlkey, cdx.c.url == literal(DOM).concat(p.c.url))]
    if low is not None:
        cond.append(cdx.c.timestamp >= low)
    if high is not None:
        cond.append(cdx.c.timestamp <= high)
    return select(func.max(cdx.c.timestamp)).where(and_(*cond)).scalar_subquery()


def _hits(conn: Connection, shown: dict[int, str], wanted: list[str]) -> list[Hit]:
    """The hits of the rows SHOWN (id -> the capture to link), in its order."""
    if not shown:
        return []
    p = search_pages
    rows = {r.id: r for r in conn.execute(
        select(p.c.id, targets.c.name, p.c.url, p.c.lang, p.c.title, p.c.text)
        .join(targets, targets.c.id == p.c.target_id).where(p.c.id.in_(list(shown))))}
    return [Hit(target=r.name, url=r.url, timestamp=str(shown[r.id]), title=r.title,
                snippet=snippet(r.text, wanted), lang=r.lang) for r in (rows[i] for i in shown if i in rows)]
