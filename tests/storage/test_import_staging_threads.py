"""Imports running side by side in one process (the admin server's threads): one import's
sweep of what crashed imports left never takes another live import's staging folder, while
a folder naming this process that no import of it is using (an earlier process's, with the
same pid) is still cleared."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import import_archives as ia

from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import imports as catalog_imports
from refuge.storage.imports import importer, staging


def _folders(target_dir: Path) -> list[str]:
    return sorted(p.name for p in target_dir.iterdir())


def test_a_live_staging_folder_is_kept_until_its_import_is_done(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data")
    engine = catalog.connect(settings.catalog_url)
    target_dir = settings.archive_dir / "site"
    at_work = staging.open_staging(target_dir)  # an import checking its files
    (at_work / "a.warc.gz").write_bytes(b"being checked")
    ia.recorder_warc(tmp_path / "b.warc.gz")
    with ThreadPoolExecutor(max_workers=1) as other:  # another import of the target, in another thread
        summary = other.submit(importer.import_archives, settings, engine, "site", [tmp_path / "b.warc.gz"]).result()
    assert (at_work / "a.warc.gz").read_bytes() == b"being checked"
    assert _folders(target_dir) == sorted([at_work.name, summary["id"]])

    def recorded(capture_id: str) -> bool:
        return catalog_imports.recorded(engine, capture_id)

    # Moved into place and not yet recorded: still an import at work.
    final = target_dir / "20240101000000-000beef"
    staging.place(at_work, final)
    assert staging.sweep(target_dir, recorded) == [] and (final / "a.warc.gz").exists()
    staging.discard(final)
    # A folder naming this process that none of its imports uses: an earlier process's, with our pid.
    left = target_dir / f"{staging.PREFIX}left"
    left.mkdir()
    (left / staging.OWNER).write_text(catalog.worker_id() + "\n")
    assert staging.sweep(target_dir, recorded) == [left]
    assert _folders(target_dir) == [summary["id"]]


def test_two_imports_of_one_target_at_once_both_land(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data")
    engine = catalog.connect(settings.catalog_url)
    catalog.save_target(engine, make_target(ia.SITE, name="site"))
    paths = []
    for n in range(4):
        path = tmp_path / f"{n}.warc.gz"
        ia.recorder_warc(path, site=f"http://news{n}.example/")
        paths.append(path)
    start = threading.Barrier(len(paths))

    def run(path: Path) -> dict:
        start.wait()
        return importer.import_archives(settings, engine, "site", [path])

    with ThreadPoolExecutor(max_workers=len(paths)) as pool:
        summaries = list(pool.map(run, paths))
    ids = {s["id"] for s in summaries}
    assert len(ids) == len(paths)
    assert {c["id"] for c in catalog.list_captures(engine, "site")} == ids
    assert _folders(settings.archive_dir / "site") == sorted(ids)  # nothing staged is left behind
