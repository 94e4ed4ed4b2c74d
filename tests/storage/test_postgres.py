"""The catalog on PostgreSQL through the same URL setting: a capture, its index, and the locks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from refuge.archiver.capture import run_capture
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import index

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


def test_replicas_fixity_and_database_snapshots_on_postgresql(pg_settings) -> None:
    """The replication queue, fixity records, the column migration and database
    snapshots use only SQL that PostgreSQL runs too."""
    from kamnotra_site import UNIQUE_KM_WORD, UNIQUE_RECORD_ID, KamnotraSite
    from refuge.config.dbspec import parse_spec, spec_as_dict
    from refuge.storage import fixity
    from refuge.storage.catalog import replicas, snapshots
    from refuge.storage.replicate import push
    from replica_helpers import flip_byte

    engine = catalog.connect(pg_settings.catalog_url)
    catalog.connect(pg_settings.catalog_url)  # a second open finds nothing to migrate
    with KamnotraSite() as site:
        spec = spec_as_dict(parse_spec(site.gazetteer_spec(), "gazetteer.toml"))
        catalog.save_target(engine, make_target(site.url("/"), name="gazette", kind="database", database=spec,
                                                max_pages=200))
        first = run_capture(pg_settings, engine, "gazette")
        site.remove_record(4)
        second = run_capture(pg_settings, engine, "gazette")
    assert first["snapshot"]["complete"] and first["snapshot"]["records"] == 23
    assert snapshots.diff(engine, first["id"], second["id"])["removed"] == ["4"]
    found = snapshots.records(engine, second["id"], query=UNIQUE_KM_WORD[1:-1])
    assert [(r["record_id"], r["lang"]) for r in found] == [(str(UNIQUE_RECORD_ID), "km")]
    assert push(pg_settings, engine).ok  # local only: manifests written, nothing pending
    assert replicas.needing_queue(engine, ["local"]) == []
    warc = Path(first["warcs"][0])
    flip_byte(warc)
    checks = fixity.verify(pg_settings, engine, [first["id"]])
    assert [c.file for c in checks if c.result == "bad"] == [warc.name]
    target = catalog.get_target(engine, "gazette")
    assert replicas.fixity_by_target(engine)[target.id]["bad"] == 1


def test_urlkeys_are_ordered_byte_by_byte_even_in_an_older_catalog(pg_settings) -> None:
    """The CDX server's prefix and host queries are key ranges: right only in byte order.
    A catalog made before the column said so is brought to it when it is next opened."""
    from sqlalchemy import text

    engine = catalog.connect(pg_settings.catalog_url)
    query = text("SELECT collation_name FROM information_schema.columns WHERE table_name = 'cdx' "
                 "AND column_name = 'urlkey'")
    with engine.begin() as conn:
        assert conn.execute(query).scalar() == "C"
        conn.execute(text('ALTER TABLE cdx ALTER COLUMN urlkey TYPE text COLLATE "default"'))  # as before
        conn.execute(text("DELETE FROM refuge_schema"))  # a catalog from an older Refuge
        assert conn.execute(query).scalar() is None
    engine.dispose()
    engine = catalog.connect(pg_settings.catalog_url)
    with engine.connect() as conn:
        assert conn.execute(query).scalar() == "C"
    engine.dispose()
