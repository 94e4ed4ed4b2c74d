"""What a resumed capture does with what its killed run left: records it wrote but never
reported are read back, not fetched again (a redirect and its target, a revisit); a
record it lost is fetched again and counted once; a capture whose leftovers cannot be
salvaged ends, not left running; the journal does not repeat a refused link.

The killed run's state is made the way a kill leaves it: a real capture stopped at a
known page (its journal and sealed files), then records written by the capture's own WARC
writer from real fetches and left '.open', as a worker killed before reporting them
leaves them.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from tiny_site import Route, TinySite, page, serve
from werkzeug.test import Client

from refuge.archiver.capture import run_capture
from refuge.archiver.fetch import FetchPolicy, crawler_session, fetch
from refuge.archiver.journal import JOURNAL_NAME, Journal, read_journal
from refuge.archiver.warcwriter import RollingWarcWriter, warcinfo_fields
from refuge.archiver.worker import Outcome, Task
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import index

SAME = page("/after.html", title="the same bytes at two URLs")


def routes() -> dict[str, Route]:
    return {
        "/robots.txt": Route(b"", 404, "text/plain"),
        "/": Route(page("/o.html", "/stop.html", "/old", "/u.html", "/missing")),
        "/o.html": Route(SAME),
        # Slow enough that the coordinator has told its worker to stop before the next task.
        "/stop.html": Route(page(title="stop"), delay=0.8),
        "/old": Route(b"", 302, headers=(("Location", "/new"),)),
        "/new": Route(page(title="new")),
        "/u.html": Route(SAME),
        "/after.html": Route(page(title="after")),
        "/missing": Route(b"not here", 404, "text/plain"),
    }


def settings_for(tmp_path: Path) -> Settings:
    # One fetch at a time: the killed run's progress is the same every time.
    return Settings(data=tmp_path / "data", allow_private_networks=True, backoff=0.05, timeout=5, workers=1,
                    processes=1, per_host=1)


@pytest.fixture
def interrupted(tmp_path):
    """(settings, engine, site, capture id): a capture of the tiny site stopped while it
    fetched /stop.html; /old, /u.html, /missing and /after.html are still to do."""
    settings = settings_for(tmp_path)
    with serve(routes()) as site:
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url("/"), name="tiny", scope="host"))
        stop = threading.Event()
        site.routes["/stop.html"].hook = stop.set
        first = run_capture(settings, engine, "tiny", stop=stop)
        site.routes["/stop.html"].hook = None
        assert first["status"] == "interrupted"
        assert set(site.hits.counts()) == {"/robots.txt", "/", "/o.html", "/stop.html"}
        yield settings, engine, site, first["id"]


def leave_unreported(settings: Settings, site: TinySite, capture_id: str, paths: list[str],
                     revisit_of: str | None = None) -> None:
    """Fetch PATHS and write them as the killed run's worker would have, into an '.open'
    file of the capture (as revisits of REVISIT_OF's record if given), never reported."""
    engine = catalog.connect(settings.catalog_url, create=False)
    writer = RollingWarcWriter(settings.archive_dir / "tiny" / capture_id, f"tiny-{capture_id}-w7",
                               settings.warc_max_bytes, warcinfo_fields("tiny", settings.user_agent, "obey"),
                               on_seal=lambda warc: pytest.fail("the killed run sealed nothing"))
    session = crawler_session(settings.user_agent, True)
    policy = FetchPolicy(timeout=5, retries=0, backoff=0.05, max_retry_after=1, max_bytes=1_000_000)
    for path in paths:
        ex = fetch(session, site.url(path), policy)
        if revisit_of is None:
            writer.write_response(ex)
        else:
            [original] = [h for h in index.capture_hits(engine, capture_id) if h.url == site.url(revisit_of)]
            ts = original.timestamp
            writer.write_revisit(ex, original.url, f"{ts[:4]}-{ts[4:6]}-{ts[6:8]}T{ts[8:10]}:{ts[10:12]}:{ts[12:14]}Z")
        ex.close()
    del writer  # killed: its file stays '.open', every record in it whole
    gc.collect()
    assert list((settings.archive_dir / "tiny" / capture_id).glob("*-w7-*.warc.gz.open"))
    site.hits.clear()


def records_per_url(engine, capture_id: str, site: TinySite) -> Counter[str]:
    return Counter(h.url.removeprefix(site.origin) for h in index.capture_hits(engine, capture_id))


def test_a_redirect_and_its_target_written_but_not_reported_are_read_back_and_replay(interrupted) -> None:
    settings, engine, site, capture_id = interrupted
    leave_unreported(settings, site, capture_id, ["/old", "/new"])
    summary = run_capture(settings, engine, "tiny")
    assert summary["id"] == capture_id and summary["status"] == "complete"
    assert "/old" not in site.hits and "/new" not in site.hits, site.hits
    held = records_per_url(engine, capture_id, site)
    assert held["/old"] == 1 and held["/new"] == 1
    # The chain goes on from the record read back: the replayed redirect leads to /new.
    client = Client(make_app(settings, engine))
    replayed = client.get(f"/web/{summary['started'][:4]}id_/{site.url('/old')}", follow_redirects=True)
    assert replayed.status_code == 200 and replayed.data == page(title="new")


def test_a_revisit_written_but_not_reported_is_read_back_once_not_fetched_and_written_again(interrupted) -> None:
    settings, engine, site, capture_id = interrupted
    leave_unreported(settings, site, capture_id, ["/u.html"], revisit_of="/o.html")
    summary = run_capture(settings, engine, "tiny")
    assert summary["status"] == "complete"
    assert "/u.html" not in site.hits, site.hits
    hits = [h for h in index.capture_hits(engine, capture_id) if h.url == site.url("/u.html")]
    assert [h.rectype for h in hits] == ["revisit"]
    assert summary["revisits"] == 1
    client = Client(make_app(settings, engine))
    replayed = client.get(f"/web/{hits[0].timestamp}id_/{site.url('/u.html')}")
    assert replayed.status_code == 200 and replayed.data == SAME


def test_a_url_whose_record_was_lost_is_fetched_again_and_its_failure_counted_once(interrupted) -> None:
    settings, engine, site, capture_id = interrupted
    # The killed run reported /missing (a 404, recorded), but its record did not survive.
    journal = Journal(settings.archive_dir / "tiny" / capture_id / JOURNAL_NAME)
    journal.write(Outcome(Task(site.url("/missing"), "page", 1), status=404, recorded="response"), [])
    journal.close()
    summary = run_capture(settings, engine, "tiny")
    assert summary["status"] == "complete" and site.hits.count("/missing") == 1
    assert records_per_url(engine, capture_id, site)["/missing"] == 1
    assert [f["url"] for f in summary["failures"]] == [site.url("/missing")]
    assert summary["failed"] == 1


def test_a_damaged_file_the_killed_run_left_is_set_aside_and_the_capture_resumes(interrupted) -> None:
    settings, engine, site, capture_id = interrupted
    # A file the killed run sealed but never indexed, damaged since: it cannot be read.
    damaged = settings.archive_dir / "tiny" / capture_id / f"tiny-{capture_id}-w7-00001.warc.gz"
    damaged.write_bytes(b"\x1f\x8b damaged")
    resumed = run_capture(settings, engine, "tiny")
    assert resumed["id"] == capture_id and resumed["status"] == "complete", resumed
    assert not damaged.exists()
    assert damaged.with_name(damaged.name + ".damaged").read_bytes() == b"\x1f\x8b damaged"  # kept as it was
    assert run_capture(settings, engine, "tiny")["status"] == "complete"  # nor does it stop the next


def test_a_link_refused_from_many_pages_is_journaled_once_at_most(tmp_path) -> None:
    """Every page links the same deep pages, past max_depth: the journal holds each link
    at most once, and the capture resumed from it is the capture a fresh one would be."""
    nav = [f"/deep/{i}.html" for i in range(30)]
    pages = {f"/p{i}.html": Route(page(*nav, title=f"p{i}")) for i in range(8)}
    site_routes = {"/robots.txt": Route(b"", 404, "text/plain"), "/": Route(page(*pages, *nav)), **pages,
                   **{path: Route(page(*nav, title=path)) for path in nav}}
    settings = Settings(data=tmp_path / "data", allow_private_networks=True, backoff=0.05, timeout=5, workers=1,
                        processes=1, per_host=1, max_depth=1, max_pages=9)
    site_routes["/p7.html"].delay = 0.8
    with serve(site_routes) as site:
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url("/"), name="tiny", scope="host"))
        stop = threading.Event()
        site.routes["/p7.html"].hook = stop.set
        first = run_capture(settings, engine, "tiny", stop=stop)
        assert first["status"] == "interrupted"
        lines = list(read_journal(settings.archive_dir / "tiny" / first["id"] / JOURNAL_NAME))
        assert len(lines) >= 8
        journaled = Counter(url for out in lines for url, _ in out.links)
        assert max(journaled.values()) == 1, {u: n for u, n in journaled.items() if n > 1}
        site.routes["/p7.html"].hook = None
        second = run_capture(settings, engine, "tiny")
        assert second["id"] == first["id"] and second["status"] == "complete"
        held = set(records_per_url(engine, second["id"], site))
        assert held == {"/robots.txt", "/", *pages}, held
        assert json.dumps(second)  # what --json prints
