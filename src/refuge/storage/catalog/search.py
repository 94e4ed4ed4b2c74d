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
Filters: a target's name, and capture dates (UTC, inclusive) a page's span of captures must
meet; the hit then shows its newest capture in the range.

PostgreSQL: pg_trgm reads words as the database's LC_CTYPE says; under the "C" locale it finds
no trigram in Khmer text, and a Khmer query reads every row (still right, slower):
`trigram_problem` says so. docs/search.md has what operators need.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, column, func, literal_column, select, table, text

from refuge.storage.catalog import hidden
from refuge.storage.catalog.schema import cdx, search_pages, targets
from refuge.storage.catalog.search_index import Reindexed, index_capture, reindex
from refuge.storage.catalog.search_query import MAX_QUERY_CHARS, MAX_QUERY_TERMS, MIN_TERM, QueryError, snippet, terms

__all__ = ["Hit", "Results", "QueryError", "MAX_QUERY_CHARS", "MAX_QUERY_TERMS", "MAX_PAGE_SIZE", "search",
           "index_capture", "reindex", "Reindexed", "trigram_problem"]

MAX_PAGE_SIZE = 100
_WILDCARDS = re.compile("[%_]")
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
    total: int  # every page that matches, for paging
    page: int  # 1-based
    page_size: int


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
        target_id = _target_id(conn, target)
        ranked = conn.execute(_ranked(engine.dialect.name, wanted, target_id, low, high)).all()
        takedowns = hidden.active(conn)
        if len(takedowns):
            ranked = [r for r in ranked if takedowns.for_key(r.urlkey) is None]
        shown = [r.id for r in ranked[(page - 1) * page_size:page * page_size]]
        hits = _hits(conn, shown, wanted, low, high)
    return Results(query.strip(), tuple(hits), len(ranked), page, page_size)


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
    """SELECT id, urlkey of every match, one per target and URL (its newest), best first."""
    p = search_pages
    long = [t for t in wanted if len(t) >= MIN_TERM]
    where = [_BOTH.ilike(_like(t), escape="/") for t in wanted if len(t) < MIN_TERM]
    if dialect == "sqlite":
        # FTS5 takes a plain two-argument LIKE only, where '%' and '_' are wildcards: it is given
        # the longest run of a term without them (SQLite 3.40 crashes on an AND of such LIKEs
        # when a run between wildcards is shorter than a trigram), and a term with them is
        # also looked for as it is written. A query with no such run reads every page.
        runs = [r for r in (max(_WILDCARDS.split(t), key=len) for t in long) if len(r) >= MIN_TERM]
        source = p.join(_FTS, _FTS.c.rowid == p.c.id) if runs else p
        where += [_FTS.c.doc.like(f"%{r}%") for r in runs]
        where += [_BOTH.ilike(_like(t), escape="/") for t in long if _WILDCARDS.search(t)]
    else:
        source = p
        where += [_BOTH.ilike(_like(t), escape="/") for t in long]
    if target_id is not None:
        where.append(p.c.target_id == target_id)
    if low is not None:
        where.append(p.c.last_ts >= low)
    if high is not None:
        where.append(p.c.first_ts <= high)
    in_title = sum((case((p.c.title.ilike(_like(t), escape="/"), 1), else_=0) for t in wanted), literal_column("0"))
    newest = func.row_number().over(partition_by=(p.c.target_id, p.c.urlkey), order_by=(p.c.last_ts.desc(),
                                                                                        p.c.id.desc()))
    matched = (select(p.c.id, p.c.urlkey, p.c.last_ts, in_title.label("in_title"), _LANG_ORDER.label("lang_order"),
                      newest.label("newest"))
               .select_from(source).where(and_(*where)).subquery())
    return (select(matched.c.id, matched.c.urlkey).where(matched.c.newest == 1)
            .order_by(matched.c.in_title.desc(), matched.c.lang_order, matched.c.last_ts.desc(), matched.c.id.desc()))


def _hits(conn: Connection, ids: list[int], wanted: list[str], low: str | None, high: str | None) -> list[Hit]:
    if not ids:
        return []
    p = search_pages
    rows = {r.id: r for r in conn.execute(
        select(p.c.id, p.c.target_id, targets.c.name, p.c.urlkey, p.c.url, p.c.digest, p.c.first_ts, p.c.last_ts,
               p.c.lang, p.c.title, p.c.text).join(targets, targets.c.id == p.c.target_id).where(p.c.id.in_(ids)))}
    return [Hit(target=r.name, url=r.url, timestamp=_shown_time(conn, r, low, high), title=r.title,
                snippet=snippet(r.text, wanted), lang=r.lang) for r in (rows[i] for i in ids if i in rows)]


def _shown_time(conn: Connection, row: Any, low: str | None, high: str | None) -> str:
    """The capture a hit links: the newest of its payload, or with an end date after it the
    newest capture of that payload up to that date (its span may reach past it)."""
    if high is None or row.last_ts <= high:
        return str(row.last_ts)
    cond = [cdx.c.urlkey == row.urlkey, cdx.c.target_id == row.target_id, cdx.c.digest == row.digest,
            cdx.c.timestamp <= high]
    if low is not None:
        cond.append(cdx.c.timestamp >= low)
    found = conn.execute(select(func.max(cdx.c.timestamp)).where(and_(*cond))).scalar()
    return str(found or row.first_ts)
