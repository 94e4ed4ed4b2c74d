"""What a ZIM bundle's full-text index holds for one exported page: its title, the text a
reader sees, and for Khmer every run of clusters a reader may type as a word.

libzim indexes with Xapian, which splits text into words at spaces and punctuation. Khmer
puts no space between words, so a whole sentence would be one "word" (or none at all: Xapian
skips words longer than 64 bytes), and a Khmer word inside a sentence would never be found.
So the text given to the index is the page's own text followed by, for each run of Khmer
text, every sequence of 1 to MAX_CLUSTERS consecutive orthographic clusters (a base letter
with its subscripts, vowels and signs: a word never starts or ends inside one), each a word
of its own. A query for a Khmer word of up to MAX_CLUSTERS clusters, typed as one word,
is then an exact match wherever it stands in a sentence: substring search at cluster
granularity, with no dictionary to keep (a segmenter's dictionary misses names, and a
misplaced split loses the word). The page shown to readers, and the snippets kiwix-serve
cuts from it, are the page itself: only the index sees these terms.

libzim 9 (current Kiwix apps, python-libzim) folds every query before searching: lower
case, and every combining mark removed (ICU's "Lower; NFD; [:M:] remove; NFC", so that
"resume" finds "résumé"). Khmer vowels, signs and subscripts are combining marks, so a
Khmer query reaches its index as base letters alone (អ៊ីនធឺណិត as អនធណត). libzim 8 (Debian
12's kiwix-serve 3.3) searches the query as typed. So every term is given in both forms,
as written and folded (fold): what makes a term match either reader, not a change to the
page. libzim's own indexer folds; an item that brings its own index text must do it.

The text is formats.html's page_text of the page: the markup bounded first (a hostile page's
nesting cannot stall the ZIM, or the publish waiting on it), without the Refuge banner each
exported page carries nor the site's navigation, headers and footers (BOILERPLATE, as the
catalog's search leaves out): the same words on every page would find every page.

A page's Khmer terms are bounded: at most MAX_TERMS, taken from the start of the page (both
forms of each, side by side), so a page of spaceless Khmer gives index text of a few MB at
most; it is found by its beginning, as a page longer than TEXT_CHARS is. The terms of short
runs (a site's names and common words recur from page to page) are cached, a bounded number
of them; zim.py empties the cache when a ZIM is done (clear_cache), since a long-lived process
(the scheduler, the admin server) would otherwise keep them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import chain

from refuge.formats.html.text import BOILERPLATE
from refuge.formats.html.text import page_text as bounded_page_text

MAX_CLUSTERS = 8  # long compounds (រាជរដ្ឋាភិបាល: 7 clusters) are words readers type
MAX_TERM_BYTES = 64  # Xapian's term generator drops longer words
TEXT_CHARS = 200_000  # of a page's text, indexed; a longer page is found by its beginning
MAX_TERMS = 100_000  # Khmer terms of one page: ample for a long article, a bound for a hostile page
CACHED_RUN = 32  # characters: runs up to this long have their terms cached
CACHED_RUNS = 1024  # runs whose terms are cached
BANNER = "#refuge-banner"
DROP = (BANNER, *BOILERPLATE)
_JOINERS = frozenset("\u200b\u200c\u200d")

# A Khmer orthographic cluster: a consonant or independent vowel, then subscript consonants
# (COENG + consonant), dependent vowels, signs and joiners. Runs of them are Khmer "words"
# to Xapian; anything else (spaces, ZWSP, digits, ។) separates runs.
_CLUSTER = "[\u1780-\u17b3\u17dc](?:\u17d2[\u1780-\u17a2]|[\u17b4-\u17d1\u17d3\u17dd\u200c\u200d])*"
CLUSTER = re.compile(_CLUSTER)
KHMER_RUN = re.compile(f"(?:{_CLUSTER})+")


def page_text(html: bytes, codec: str) -> tuple[str, str]:
    """(title, text) of an exported page in CODEC (a Python codec: formats.charset's
    html_charset), whitespace collapsed, the markup bounded and DROP left out; "" for what it
    does not have."""
    page = bounded_page_text(html.decode(codec, "replace"), TEXT_CHARS, drop=DROP)
    return page.title, page.text


def fold(text: str) -> str:
    """TEXT as libzim 9 folds a query: lower case, without combining marks or joiners."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    kept = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M") and c not in _JOINERS)
    return unicodedata.normalize("NFC", kept)


def khmer_terms(text: str) -> list[str]:
    """Every sequence of 1 to MAX_CLUSTERS consecutive clusters of each Khmer run in TEXT,
    as written and folded (each at most MAX_TERM_BYTES long), each once (a page's words
    recur, and a term said once finds the page as well as one said often), the first
    MAX_TERMS of them."""
    runs = dict.fromkeys(KHMER_RUN.findall(text))
    terms: dict[str, None] = {}
    for term in chain.from_iterable(_run_terms(run) for run in runs):
        terms[term] = None
        if len(terms) >= MAX_TERMS:
            break
    return list(terms)


def clear_cache() -> None:
    """Forget the cached terms of short runs (see the module docstring)."""
    _short_run_terms.cache_clear()


def _run_terms(run: str) -> Iterable[str]:
    # A long run is a sentence, rarely seen twice; its terms are made as they are taken.
    return _short_run_terms(run) if len(run) <= CACHED_RUN else _grams(run)


@lru_cache(maxsize=CACHED_RUNS)  # a site's pages share most short runs (names, common words)
def _short_run_terms(run: str) -> tuple[str, ...]:
    return tuple(_grams(run))


def _grams(run: str) -> Iterator[str]:
    """The terms of RUN, from its start: those starting at each cluster as written, then folded."""
    clusters = CLUSTER.findall(run)
    folded = [fold(c) for c in clusters]  # folding never crosses a cluster
    forms = (clusters, folded) if folded != clusters else (clusters,)
    for i in range(len(clusters)):
        for form in forms:
            term = ""
            for cluster in form[i:i + MAX_CLUSTERS]:
                term += cluster
                if len(term.encode("utf-8")) > MAX_TERM_BYTES:
                    break
                if term:
                    yield term


def index_text(text: str) -> str:
    """TEXT as the index should see it: as written, folded, then its Khmer terms."""
    folded = fold(text)
    parts = [text] if folded == text.lower() else [text, folded]
    terms = khmer_terms(text)
    if terms:
        parts.append(" ".join(terms))
    return "\n".join(parts)
