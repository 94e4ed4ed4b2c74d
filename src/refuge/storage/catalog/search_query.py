"""What a search query means, and what a result shows of a page: pure text functions for
storage.catalog.search.

    terms(query) -> list[str]                     the query's terms; QueryError for a bad query
    longest_run(term) -> str                      TERM's longest run without `%` or `_`
    snippet(text, terms) -> tuple[(str, bool)]     a piece of TEXT around its first match

A query is words separated by white space; "a quoted phrase" is one term, spaces included (a
missing closing quote ends it at the end of the query; typographic quotes count too). Every
term must be found, as a substring: a Khmer word inside a sentence is found, and so is "land"
inside "landmark". The query is normalised as the index is (search_index.for_index: NFC, no
ZERO WIDTH SPACE); ASCII letters match in either case, in the index and in snippet().

Limits: at most MAX_QUERY_CHARS characters and MAX_QUERY_TERMS terms. A term shorter than
MIN_TERM characters (code points: a Khmer consonant with its vowel sign is two) cannot be found
by a trigram index alone: beside a longer term it narrows that term's pages (a plain substring
test over them); a query with no run of MIN_TERM characters the index can use (`%` and `_`
break a run: SQLite's index reads them as wildcards) is refused with a message saying so,
rather than read every page of the archive.
"""

from __future__ import annotations

import re
import unicodedata

from refuge.storage.catalog.search_index import for_index

MAX_QUERY_CHARS = 200
MAX_QUERY_TERMS = 8
MIN_TERM = 3
SNIPPET_CHARS = 240  # characters of text a snippet shows, about
_LEAD = SNIPPET_CHARS // 3  # of them before the first match
_TOKEN = re.compile(r'"([^"]*)"?|([^\s"]+)')
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})
_COENG = "\u17d2"  # joins the next consonant below this one: never cut after it
_NEAR = 20  # characters a snippet's edge moves to fall on white space
WILDCARDS = re.compile("[%_]")  # LIKE's: SQLite's trigram index cannot look for them as letters


class QueryError(ValueError):
    """A query that cannot be run; str() is one line a reader can be shown."""


def terms(query: str) -> list[str]:
    """The distinct terms of QUERY, in order (see the module's docstring); QueryError naming
    what is wrong: empty, too long, too many terms, no term long enough."""
    query = (query or "").strip()
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"The search is too long: at most {MAX_QUERY_CHARS} characters, this one has {len(query)}.")
    found: list[str] = []
    for phrase, word in _TOKEN.findall(for_index(query).translate(_QUOTES)):
        term = " ".join((phrase or word).split())
        if term and term not in found:
            found.append(term)
    if not found:
        raise QueryError("The search is empty: type a word to look for.")
    if len(found) > MAX_QUERY_TERMS:
        raise QueryError(f"Too many words: at most {MAX_QUERY_TERMS} in one search, this one has {len(found)}.")
    if all(len(longest_run(t)) < MIN_TERM for t in found):
        raise QueryError(f"Every word of this search is shorter than {MIN_TERM} characters (% and _ not counted): "
                         "add a longer word (shorter ones are looked for only beside a longer one).")
    return found


def longest_run(term: str) -> str:
    """The longest piece of TERM between `%` and `_` characters (the first of equal length)."""
    return max(WILDCARDS.split(term), key=len)


def snippet(text: str, wanted: list[str]) -> tuple[tuple[str, bool], ...]:
    """About SNIPPET_CHARS characters of TEXT around the first place a term of WANTED is found
    (the start of TEXT if none is), as plain-text pieces in order, True for each match. Cut at
    white space near the edges when there is some, never inside a Khmer cluster; '…' marks
    text left out."""
    if not text:
        return ()
    pattern = re.compile("|".join(re.escape(t) for t in sorted(wanted, key=len, reverse=True)), re.IGNORECASE)
    first = pattern.search(text)
    start = 0 if first is None else max(0, first.start() - _LEAD)
    end = min(len(text), start + SNIPPET_CHARS)
    if first is not None:
        end = max(end, first.end())
    start, end = _edge(text, start, forward=True), _edge(text, end, forward=False)
    window = text[start:end].strip()
    pieces: list[tuple[str, bool]] = []
    at = 0
    for m in pattern.finditer(window):
        if m.start() > at:
            pieces.append((window[at:m.start()], False))
        pieces.append((m.group(), True))
        at = m.end()
    if at < len(window):
        pieces.append((window[at:], False))
    if start > 0:
        pieces.insert(0, ("… ", False))
    if end < len(text):
        pieces.append((" …", False))
    return tuple(pieces)


def _edge(text: str, i: int, forward: bool) -> int:
    """Where to cut TEXT near I: just past white space within _NEAR characters (inward: later
    for a start, earlier for an end), else the nearest place that splits no cluster."""
    if 0 < i < len(text):
        if forward:
            space = text.find(" ", i, i + _NEAR)
            if space != -1:
                return space + 1
        else:
            space = text.rfind(" ", max(0, i - _NEAR), i)
            if space != -1:
                return space
    while 0 < i < len(text) and not _splittable(text, i):
        i += 1
    return i


def _splittable(text: str, i: int) -> bool:
    """Whether TEXT may be cut before its I-th character: not before a combining sign (a
    Khmer vowel or diacritic) nor after a COENG."""
    return not (unicodedata.category(text[i]).startswith("M") or text[i - 1] == _COENG
                or text[i] in "\u200c\u200d")
