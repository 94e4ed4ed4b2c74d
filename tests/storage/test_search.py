"""Full-text search, on SQLite and on PostgreSQL alike: a Khmer word inside a sentence is found,
English and mixed queries, ranking, filters, paging, takedowns and the query limits.

The pages are WARC records imported with their capture times (tests/support/search_corpus.py),
so the index is filled the way a capture's end fills it. The PostgreSQL catalog is a database
with a UTF-8 LC_CTYPE (what docs/search.md asks of operators); test_search_postgres.py has
what differs there.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st
from search_corpus import (
    ABSENT,
    EN,
    FOOTER_WORD,
    KM,
    LAND_GRAB,
    NAV_WORD,
    NEW_SCHOOL,
    OLD_SCHOOL,
    html,
    import_corpus,
    import_pages,
    utf8_database,
)
from sqlalchemy import Engine, select

from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog import search as search_module
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.catalog.index import url_key
from refuge.storage.catalog.schema import search_pages, targets
from refuge.storage.catalog.search import MAX_QUERY_CHARS, MAX_QUERY_TERMS, QueryError, search
from refuge.storage.catalog.search_query import terms


@dataclass
class Corpus:
    settings: Settings
    engine: Engine
    captures: dict[str, dict]


def make_settings(request, folder) -> Settings:
    settings = Settings(data=folder / "data", allow_private_networks=True)
    if request.param == "postgresql":
        settings = settings.replace(database_url=utf8_database(request.getfixturevalue("postgres_server")))
    return settings


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request, tmp_path_factory) -> Corpus:
    folder = tmp_path_factory.mktemp(f"search-{request.param}")
    settings = make_settings(request, folder)
    engine = catalog.connect(settings.catalog_url)
    assert engine.dialect.name == request.param
    return Corpus(settings, engine, import_corpus(settings, engine, folder / "warcs"))


@pytest.fixture(params=BACKENDS)
def empty(request, tmp_path) -> Corpus:
    settings = make_settings(request, tmp_path)
    return Corpus(settings, catalog.connect(settings.catalog_url), {})


def shown(results) -> list[tuple[str, str]]:
    return [(h.url, h.timestamp) for h in results.hits]


def marked(hit) -> str:
    return "".join(f"[{text}]" if match else text for text, match in hit.snippet)


def test_a_khmer_word_inside_a_sentence_is_found(corpus: Corpus) -> None:
    results = search(corpus.engine, LAND_GRAB, target="km-news")
    assert results.total == 1
    hit = results.hits[0]
    assert (hit.target, hit.url, hit.title, hit.lang) == ("km-news", KM + "land.html", "ជម្លោះដីធ្លីនៅកោះកុង", "km")
    assert f"ប្រឆាំងនឹង[{LAND_GRAB}]របស់ក្រុមហ៊ុន" in marked(hit)  # no space either side of it in the page
    assert all(isinstance(text, str) and "<" not in text for text, _ in hit.snippet)
    assert search(corpus.engine, "រំលោភយក").total == 2  # a piece of the word, inside it
    assert search(corpus.engine, ABSENT).total == 0
    assert search(corpus.engine, LAND_GRAB + "ថ្មី").total == 0  # the word, then letters no page has after it


def test_english_and_mixed_queries(corpus: Corpus) -> None:
    assert [h.url for h in search(corpus.engine, "land grab").hits] == [EN + "land-grab.html"]
    assert search(corpus.engine, "LAND Grab").total == 1  # letter case is not looked at
    assert search(corpus.engine, '"grab in Koh"').total == 1  # a phrase, spaces and all
    assert search(corpus.engine, '"Koh grab"').total == 0
    # Khmer and English terms in one query: every term must be on the page.
    mixed = search(corpus.engine, f"Villagers {LAND_GRAB}")
    assert [h.url for h in mixed.hits] == [EN + "land-grab.html"]
    assert marked(mixed.hits[0]).count("[") == 2
    assert search(corpus.engine, f"Villagers {ABSENT}").total == 0


def test_khmer_pages_first_then_title_matches_and_newer_ones(corpus: Corpus) -> None:
    # Both in the text only: the Khmer page (2019) before the English one (2023).
    assert [h.url for h in search(corpus.engine, LAND_GRAB).hits] == [KM + "land.html", EN + "land-grab.html"]
    # In the title of the English page, in the text of the Khmer one: the title wins.
    assert [h.url for h in search(corpus.engine, "Battambang").hits] == [EN + "rice.html", KM + "market.html"]
    # Same language, both in the text: the newer first.
    assert [h.url for h in search(corpus.engine, "farmers").hits] == [EN + "land-grab.html", EN + "harvest.html"]


def test_navigation_scripts_and_footers_are_not_searched(corpus: Corpus) -> None:
    for word in (NAV_WORD, FOOTER_WORD, "asideword", "scriptword"):
        assert search(corpus.engine, word).total == 0, word


def test_one_hit_per_page_at_its_newest_matching_capture(corpus: Corpus) -> None:
    land = search(corpus.engine, "កោះកុង", target="km-news")
    # Unchanged in 2024 (the same payload): one row, linked at its newest capture.
    assert shown(land) == [(KM + "land.html", "20240210080000")]
    # Changed in 2024: the old text is still found, at the capture that has it.
    assert shown(search(corpus.engine, OLD_SCHOOL)) == [(KM + "school.html", "20190601080000")]
    assert shown(search(corpus.engine, NEW_SCHOOL)) == [(KM + "school.html", "20240210080000")]
    assert shown(search(corpus.engine, "ការអប់រំ")) == [(KM + "school.html", "20240210080000")]


def test_filters_by_target_and_capture_date(corpus: Corpus) -> None:
    engine = corpus.engine
    assert [h.target for h in search(engine, LAND_GRAB, target="en-news").hits] == ["en-news"]
    # The Khmer page of 2019 was captured again, unchanged, in 2024: found since 2020 too.
    since = search(engine, LAND_GRAB, since=datetime.date(2020, 1, 1))
    assert shown(since) == [(KM + "land.html", "20240210080000"), (EN + "land-grab.html", "20230701080000")]
    # Its old text was not: the school page is found since 2020 by its new words only.
    assert search(engine, OLD_SCHOOL, since=datetime.date(2020, 1, 1)).total == 0
    until = search(engine, LAND_GRAB, until=datetime.date(2019, 12, 31))
    # Its capture of 2024 is past the end date: the hit links the one of 2019.
    assert shown(until) == [(KM + "land.html", "20190601080000")]
    both = search(engine, "farmers", since=datetime.date(2021, 11, 5), until=datetime.date(2021, 11, 5))
    assert [h.url for h in both.hits] == [EN + "harvest.html"]
    assert search(engine, LAND_GRAB, since=datetime.date(2025, 1, 1)).total == 0


def test_a_version_is_found_in_a_date_range_only_when_captured_in_it(empty: Corpus, tmp_path) -> None:
    # A in 2019, B in 2021, A again in 2024: one row spans A's 2019..2024, but 2020..2022 saw only B.
    page = KM + "versions.html"
    a, b = html("A", "<p>alphaword story</p>", "en"), html("B", "<p>betaword story</p>", "en")
    for date, body in (("2019-06-01T08:00:00Z", a), ("2021-06-01T08:00:00Z", b), ("2024-06-01T08:00:00Z", a)):
        import_pages(empty.settings, empty.engine, "versions", date, {page: body}, tmp_path / date[:4])
    between = {"since": datetime.date(2020, 1, 1), "until": datetime.date(2022, 12, 31)}
    assert search(empty.engine, "alphaword", **between).total == 0
    assert shown(search(empty.engine, "betaword", **between)) == [(page, "20210601080000")]
    assert shown(search(empty.engine, "story", **between)) == [(page, "20210601080000")]
    # A's own captures are found, each linked from the range it is in.
    assert shown(search(empty.engine, "alphaword", until=datetime.date(2020, 1, 1))) == [(page, "20190601080000")]
    assert shown(search(empty.engine, "alphaword", since=datetime.date(2019, 1, 1),
                        until=datetime.date(2024, 12, 31))) == [(page, "20240601080000")]
    assert shown(search(empty.engine, "story")) == [(page, "20240601080000")]


def test_bad_filters_are_refused_with_a_message(corpus: Corpus) -> None:
    with pytest.raises(QueryError, match="no target named 'nope'"):
        search(corpus.engine, LAND_GRAB, target="nope")
    with pytest.raises(QueryError, match="2024-01-02 is after the end date 2024-01-01"):
        search(corpus.engine, LAND_GRAB, since=datetime.date(2024, 1, 2), until=datetime.date(2024, 1, 1))
    with pytest.raises(QueryError, match="start at 1"):
        search(corpus.engine, LAND_GRAB, page=0)
    with pytest.raises(QueryError, match="1 to 100 results"):
        search(corpus.engine, LAND_GRAB, page_size=1000)


def test_paging(empty: Corpus, tmp_path) -> None:
    pages = {f"{KM}decree-{i:02d}.html": html(f"ឯកសារ {i}", f"<p>{ABSENT} លេខ {i}</p>") for i in range(25)}
    import_pages(empty.settings, empty.engine, "decrees", "2022-03-01T00:00:00Z", pages, tmp_path / "warcs")
    seen: list[str] = []
    for number, size in ((1, 10), (2, 10), (3, 5)):
        results = search(empty.engine, ABSENT, page=number, page_size=10)
        assert (results.total, results.page, results.page_size, len(results.hits)) == (25, number, 10, size)
        seen += [h.url for h in results.hits]
    assert sorted(seen) == sorted(pages)  # every page once
    past = search(empty.engine, ABSENT, page=4, page_size=10)
    assert past.total == 25 and past.hits == ()


def test_matches_read_are_capped_and_the_total_says_at_least(empty: Corpus, tmp_path, monkeypatch) -> None:
    pages = {f"{KM}decree-{i:02d}.html": html(f"ឯកសារ {i}", f"<p>{ABSENT} លេខ {i}</p>") for i in range(25)}
    import_pages(empty.settings, empty.engine, "decrees", "2022-03-01T00:00:00Z", pages, tmp_path / "warcs")
    monkeypatch.setattr(search_module, "MAX_MATCHES", 25)
    exact = search(empty.engine, ABSENT)
    assert (exact.total, exact.total_capped) == (25, False)
    monkeypatch.setattr(search_module, "MAX_MATCHES", 10)
    capped = search(empty.engine, ABSENT, page_size=5)
    assert (capped.total, capped.total_capped, len(capped.hits)) == (10, True, 5)
    assert [h.url for h in capped.hits] == [h.url for h in exact.hits[:5]]  # the best ones, as ranked
    assert len(search(empty.engine, ABSENT, page=2, page_size=5).hits) == 5
    assert search(empty.engine, ABSENT, page=3, page_size=5).hits == ()  # past what is read


def test_a_hidden_page_is_never_found_and_comes_back_when_unhidden(empty: Corpus, tmp_path) -> None:
    engine = empty.engine
    import_corpus(empty.settings, engine, tmp_path / "warcs")
    takedown = hidden.hide(engine, KM + "land.html", "court order", CLI_ACTOR)
    results = search(engine, LAND_GRAB)
    assert [h.url for h in results.hits] == [EN + "land-grab.html"] and results.total == 1
    folder = hidden.hide(engine, "https://en.example/*", "request", CLI_ACTOR)
    assert search(engine, LAND_GRAB).total == 0 and search(engine, "farmers").total == 0
    hidden.unhide(engine, takedown["id"], CLI_ACTOR)
    hidden.unhide(engine, folder["id"], CLI_ACTOR)
    assert search(engine, LAND_GRAB).total == 2


def test_queries_are_capped_with_a_message(corpus: Corpus) -> None:
    engine = corpus.engine
    with pytest.raises(QueryError, match=f"too long: at most {MAX_QUERY_CHARS} characters, this one has 201"):
        search(engine, "ក" * 201)
    words = " ".join(f"word{i}" for i in range(MAX_QUERY_TERMS + 1))
    with pytest.raises(QueryError, match=f"Too many words: at most {MAX_QUERY_TERMS}"):
        search(engine, words)
    for blank in ("", "   ", '""', "\u200b"):
        with pytest.raises(QueryError, match="empty"):
            search(engine, blank)
    with pytest.raises(QueryError, match="shorter than 3 characters"):
        search(engine, "ដី of")  # a Khmer consonant and its vowel: two characters
    for error in ("", "ក" * 201, words):
        with pytest.raises(QueryError) as caught:
            search(engine, error)
        assert "\n" not in str(caught.value)
    # A short term beside a longer one narrows that term's pages.
    assert search(engine, "farmers").total == 2
    assert [h.url for h in search(engine, "farmers ដី").hits] == [EN + "land-grab.html"]
    assert search(engine, "farmers zq").total == 0
    # LIKE's wildcards in a term are letters like any other.
    assert [h.url for h in search(engine, "50% in_all").hits] == [EN + "rice.html"]
    assert search(engine, "in%all").total == 0
    assert [h.url for h in search(engine, "50% rice").hits] == [EN + "rice.html"]
    # A word needs three characters in a row the trigram index can look for: % and _ are none.
    for unindexable in ("%%%", "___", "ab%c", "5_%", "50%", "% _ ab"):
        with pytest.raises(QueryError, match="shorter than 3 characters"):
            search(engine, unindexable)


_ALPHABET = "abcdeiklnorstAEKL05 %_\"ក្រុមហ៊ុនដីធ្លីការរំលោភ"
_PIECES = ["ការរំលោភ", "ដីធ្លី", "ដី", "ព្រៃឈើ", "សាលារៀន", "កោះកុង", "Koh", "KONG", "farmers", "grab", '"grab in"',
           "50%", "in_all", "5_%", "n_a", "rice", "Battambang", "%", "_", "the"]
_QUERIES = st.lists(st.sampled_from(_PIECES) | st.text(alphabet=_ALPHABET, max_size=6), min_size=1, max_size=4)


@given(_QUERIES.map(" ".join))
def test_any_query_finds_exactly_the_pages_holding_all_its_terms(corpus: Corpus, query: str) -> None:
    try:
        wanted = terms(query)
    except QueryError:
        return
    results = search(corpus.engine, query, page_size=100)
    with corpus.engine.connect() as conn:
        rows = conn.execute(select(targets.c.name, search_pages.c.url, search_pages.c.urlkey, search_pages.c.title,
                                   search_pages.c.text).join(targets, targets.c.id == search_pages.c.target_id)).all()

    def fold(text: str) -> str:  # ASCII letters only: the case both engines fold alike here
        return text.translate(_ASCII_LOWER)

    holding = {(r.name, r.urlkey) for r in rows
               if all(fold(t) in fold(r.title + " " + r.text) for t in wanted)}
    assert results.total == len(holding)
    assert {(h.target, url_key(h.url)) for h in results.hits} == holding


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
