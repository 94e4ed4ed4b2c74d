"""The catalog on PostgreSQL through the same URL setting: a capture, its index, and the locks."""

from __future__ import annotations

import uuid

import pytest

from refuge.archiver.capture import run_capture
from refuge.config.targets import make_target
from refuge.storage import catalog, index

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_settings(tmp_settings, postgres_server):
    return tmp_settings.replace(database_url=postgres_server.create_database("t" + uuid.uuid4().hex[:12]),
                                max_pages=10)


def test_capture_and_lookups_on_postgresql(pg_settings, fixture_site) -> None:
    engine = catalog.connect(pg_settings.catalog_url)
    assert engine.dialect.name == "postgresql"
    catalog.save_target(engine, make_target(fixture_site.abs("/km/"), name="km", every="6h"))
    first = run_capture(pg_settings, engine, "km")
    assert first["status"] == "complete" and first["pages"] >= 3 and first["files"] >= 1
    second = run_capture(pg_settings, engine, "km")
    assert second["revisits"] >= 3  # dedup lookups by digest work on PostgreSQL too
    hit = index.closest(engine, fixture_site.abs("/km/article-1.html"), first["started"].replace("-", "")[:8])
    assert hit is not None and hit.capture_id == first["id"] and hit.mime == "text/html"
    assert [c["id"] for c in catalog.list_captures(engine, "km")] == [second["id"], first["id"]]


def test_one_running_capture_per_target_on_postgresql(pg_settings) -> None:
    engine = catalog.connect(pg_settings.catalog_url)
    target, _ = catalog.save_target(engine, make_target("https://example.org/", name="ex"))
    catalog.start_capture(engine, target, 600)
    with pytest.raises(catalog.AlreadyRunning):
        catalog.start_capture(engine, target, 600)
