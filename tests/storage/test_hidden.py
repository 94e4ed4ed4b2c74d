"""Takedowns in the catalog (storage.catalog.hidden): what a hide covers, what bad input is
refused with, and that every change is in the audit log with who made it."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, text

from refuge.config.errors import BadInput
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR, Actor, list_events

EDITOR = Actor("sokha", "203.0.113.7")


@pytest.fixture
def engine(tmp_settings):
    engine = catalog.connect(tmp_settings.catalog_url)
    yield engine
    engine.dispose()


def covering(engine, url: str) -> int | None:
    """The id of the takedown covering URL, asked both ways; they must agree."""
    one = hidden.hidden_for(engine, url)
    listed = hidden.active(engine).for_url(url)
    assert (one or {}).get("id") == (listed or {}).get("id"), url
    return one["id"] if one else None


def test_an_exact_takedown_covers_its_url_in_any_spelling_and_nothing_else(engine) -> None:
    row = hidden.hide(engine, "https://news.example/en/article-1.html", "Protects a source", EDITOR)
    assert row == {"id": row["id"], "url": "https://news.example/en/article-1.html", "match": "exact",
                   "reason": "Protects a source", "created_at": row["created_at"], "created_by": "sokha",
                   "removed_at": None, "removed_by": None}
    for same in ("https://news.example/en/article-1.html", "http://www.news.example/en/article-1.html",
                 "HTTPS://NEWS.EXAMPLE/en/article-1.html", "news.example/en/article-1.html"):
        assert covering(engine, same) == row["id"], same
    for other in ("https://news.example/en/article-2.html", "https://news.example/en/article-1.html?page=2",
                  "https://news.example/en/", "https://other.example/en/article-1.html"):
        assert covering(engine, other) is None, other


def test_a_prefix_covers_what_starts_with_it(engine) -> None:
    folder = hidden.hide(engine, "https://news.example/km/*", "Court order 12/2026", CLI_ACTOR)
    loose = hidden.hide(engine, "https://news.example/new", "Names a witness", CLI_ACTOR, prefix=True)
    assert folder["match"] == loose["match"] == "prefix"
    for url in ("https://news.example/km/", "https://news.example/km", "https://news.example/km/?page=2",
                "https://news.example/km/a/b.html", "http://www.news.example/km/%E1%9E%80.html"):
        assert covering(engine, url) == folder["id"], url
    for url in ("https://news.example/news", "https://news.example/newsletter/1.html"):
        assert covering(engine, url) == loose["id"], url
    # A folder prefix is the folder, not every path that starts with its name.
    for url in ("https://news.example/kmer.html", "https://news.example/", "https://news.example/en/km/"):
        assert covering(engine, url) is None, url
    site = hidden.hide(engine, "news.example/*", "Whole site", CLI_ACTOR)
    assert covering(engine, "https://news.example/en/") == site["id"]
    assert covering(engine, "https://news.example/km/x.html") == folder["id"]  # the most specific speaks


def test_unhide_ends_a_takedown_and_keeps_its_history(engine) -> None:
    row = hidden.hide(engine, "https://news.example/en/*", "Protects a source", EDITOR)
    ended = hidden.unhide(engine, row["id"], CLI_ACTOR)
    assert ended["removed_by"] == "cli" and ended["removed_at"] is not None
    assert covering(engine, "https://news.example/en/a.html") is None
    assert hidden.list_hidden(engine) == []
    assert [r["id"] for r in hidden.list_hidden(engine, include_removed=True)] == [row["id"]]
    with pytest.raises(BadInput, match=rf"^id: no active takedown has id {row['id']}$"):
        hidden.unhide(engine, row["id"], CLI_ACTOR)
    with pytest.raises(BadInput, match=r"^id: no active takedown has id 999$"):
        hidden.unhide(engine, 999, CLI_ACTOR)
    again = hidden.hide(engine, "https://news.example/en/*", "A second request", EDITOR)  # may be hidden again
    assert covering(engine, "https://news.example/en/a.html") == again["id"]


def test_every_hide_and_unhide_is_in_the_audit_log_with_its_actor(engine) -> None:
    row = hidden.hide(engine, "https://news.example/en/*", "Protects a source", EDITOR)
    hidden.unhide(engine, row["id"], CLI_ACTOR)
    changes = list_events(engine, kind="change")
    assert [(e["action"], e["actor"], e["source"], e["subject"], e["detail"]["id"]) for e in changes] == [
        ("unhide", "cli", "cli", "https://news.example/en/*", row["id"]),
        ("hide", "sokha", "203.0.113.7", "https://news.example/en/*", row["id"]),
    ]
    assert changes[1]["detail"]["reason"] == "Protects a source"


@pytest.mark.parametrize(("url", "reason", "message"), [
    ("", "r", r"^url: must not be empty$"),
    ("ftp://news.example/a", "r", r"^url: 'ftp://news.example/a': only http and https"),
    ("https://news.example:99999/", "r", r"^url: 'https://news.example:99999/': "),
    ("https:///a.html", "r", r"^url: 'https:///a.html': no host$"),
    ("https://*.news.example/", "r", r"^url: .*'\*' may only end a prefix$"),
    ("https://news.example/a b", "r", r"^url: .*white space"),
    ("https://news.example/" + "a" * 4000, "r", r"^url: at most 4000 characters"),
    ("https://news.example/" + "a" * 600 + "*", "r", r"^url: a prefix at most 500 characters"),
    ("https://news.example/a.html", "", r"^reason: must not be empty"),
    ("https://news.example/a.html", " \n ", r"^reason: must not be empty"),
    ("https://news.example/a.html", "x" * 2001, r"^reason: at most 2000 characters \(got 2001\)$"),
])
def test_bad_input_is_refused_with_the_field_named_and_nothing_written(engine, url, reason, message) -> None:
    with pytest.raises(BadInput, match=message) as caught:
        hidden.hide(engine, url, reason, CLI_ACTOR)
    assert "\n" not in str(caught.value)
    assert hidden.list_hidden(engine, include_removed=True) == [] and list_events(engine) == []


def test_the_same_takedown_twice_is_refused(engine) -> None:
    row = hidden.hide(engine, "https://news.example/a.html", "first", CLI_ACTOR)
    refused = rf"^url: 'http://www.news.example/a.html' is hidden already \(takedown {row['id']}\)"
    with pytest.raises(BadInput, match=refused):
        hidden.hide(engine, "http://www.news.example/a.html", "second", CLI_ACTOR)
    assert hidden.hide(engine, "https://news.example/a.html*", "a prefix is another takedown", CLI_ACTOR)


def test_a_lookup_is_one_indexed_query(engine) -> None:
    """Replay asks on every request: the lookup probes the index on urlkey, never scans."""
    for i in range(50):
        hidden.hide(engine, f"https://news.example/{i}/*", f"reason {i}", CLI_ACTOR)
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    assert covering(engine, "https://news.example/7/a.html") is not None
    event.remove(engine, "before_cursor_execute", seen)
    lookup = statements[0]
    assert len([s for s in statements if "FROM hidden" in s]) == 2  # hidden_for, then active() in covering()
    sql = lookup.replace("?", "'x'")
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "hidden_by_key" in plan and "SCAN hidden" not in plan, plan


@pytest.mark.postgres
def test_takedowns_on_postgresql(tmp_settings, postgres_server) -> None:
    url = postgres_server.create_database("t" + uuid.uuid4().hex[:12])
    engine = catalog.connect(url)
    try:
        folder = hidden.hide(engine, "https://news.example/km/*", "Court order", EDITOR)
        exact = hidden.hide(engine, "https://news.example/en/a.html", "Protects a source", EDITOR)
        assert covering(engine, "https://news.example/km/b.html") == folder["id"]
        assert covering(engine, "https://news.example/km?page=2") == folder["id"]
        assert covering(engine, "https://news.example/en/a.html") == exact["id"]
        assert covering(engine, "https://news.example/kmer.html") is None
        hidden.unhide(engine, folder["id"], EDITOR)
        assert covering(engine, "https://news.example/km/b.html") is None
        assert [e["action"] for e in list_events(engine)] == ["unhide", "hide", "hide"]
    finally:
        engine.dispose()
