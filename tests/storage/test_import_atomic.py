"""An import is whole or absent (storage.imports): whatever stops it (an error, a kill at any
moment) leaves no capture, no file row and no index row in the catalog, and no folder a
later import does not clear away."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import import_archives as ia
import pytest
from sqlalchemy import func, select
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import imports as catalog_imports
from refuge.storage.catalog.schema import captures, cdx, files, import_sources, targets
from refuge.storage.imports import importer, staging

REFUGE = str(Path(sys.executable).with_name("refuge"))


def _counts(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (targets, captures, files, cdx, import_sources)}


def _leftovers(data: Path) -> list[Path]:
    """Folders under the archive that no capture in the catalog owns."""
    engine = catalog.connect(Settings(data=data).catalog_url)
    root = data / "archive"
    found = []
    for folder in root.glob("*/*") if root.exists() else []:
        if folder.name.startswith(staging.PREFIX) or not catalog_imports.recorded(engine, folder.name):
            found.append(folder)
    return found


def test_a_failure_while_recording_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data=tmp_path / "data")
    engine = catalog.connect(settings.catalog_url)
    ia.recorder_warc(tmp_path / "a.warc.gz")

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("the catalog went away")

    monkeypatch.setattr(importer, "commit_import", broken)
    with pytest.raises(RuntimeError):
        importer.import_archives(settings, engine, "gone", [tmp_path / "a.warc.gz"])
    assert set(_counts(engine).values()) == {0}
    assert not (settings.archive_dir / "gone").exists()


def test_what_a_dead_import_left_is_cleared_by_the_next(tmp_path: Path) -> None:
    settings = Settings(data=tmp_path / "data")
    engine = catalog.connect(settings.catalog_url)
    ia.recorder_warc(tmp_path / "a.warc.gz")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = f"{catalog.worker_id().rpartition(':')[0]}:{dead.stdout.strip()}\n"
    target_dir = settings.archive_dir / "site"
    # One killed while checking its files, one killed between moving them in and recording them.
    checking = staging.open_staging(target_dir)
    (checking / staging.OWNER).write_text(owner)
    placed = staging.open_staging(target_dir)
    (placed / staging.OWNER).write_text(owner)
    (placed / "x.warc.gz").write_bytes(b"half")
    staging.place(placed, target_dir / "20240101000000-000beef")
    # One still running (this process's parent is alive): left alone.
    alive = staging.open_staging(target_dir)
    (alive / staging.OWNER).write_text(f"{catalog.worker_id().rpartition(':')[0]}:{os.getppid()}\n")

    summary = importer.import_archives(settings, engine, "site", [tmp_path / "a.warc.gz"])
    left = sorted(p.name for p in target_dir.iterdir())
    assert left == sorted([alive.name, summary["id"]])
    assert not (target_dir / summary["id"] / staging.OWNER).exists()


def _big_warc(path: Path, records: int = 240, size: int = 128 * 1024) -> None:
    rng = random.Random(7)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(records):
            body = rng.randbytes(size)
            head = StatusAndHeaders("200 OK", [("Content-Type", "application/octet-stream"),
                                               ("Content-Length", str(size))], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                f"https://big.example/{i}.bin", "response", payload=io.BytesIO(body), length=size, http_headers=head,
                warc_headers_dict={"WARC-Date": "2024-05-01T00:00:00Z"}))


@pytest.mark.parametrize("after", [0.4, 0.7, 1.0])
def test_an_import_killed_at_any_moment_leaves_no_half_capture(tmp_path: Path, after: float) -> None:
    big = tmp_path / "big.warc.gz"
    _big_warc(big)
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    env["REFUGE_DATA"] = str(data)
    proc = subprocess.Popen([REFUGE, "import", "big", *[str(big)] * 4], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    engine = catalog.connect(Settings(data=data).catalog_url)
    counts = _counts(engine)
    if counts["captures"]:  # it finished before the kill: then all of it is there
        assert counts["cdx"] == 4 * 240 and counts["import_sources"] == 4
    else:
        assert set(counts.values()) == {0}
    # The next import of the target clears what the killed one left, and is whole itself.
    done = subprocess.run([REFUGE, "import", "big", str(big)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _leftovers(data) == []


@pytest.mark.postgres
def test_an_import_is_recorded_whole_on_postgresql(tmp_settings, postgres_server, tmp_path: Path) -> None:
    import uuid

    settings = tmp_settings.replace(database_url=postgres_server.create_database("i" + uuid.uuid4().hex[:12]))
    engine = catalog.connect(settings.catalog_url)
    assert engine.dialect.name == "postgresql"
    ia.recorder_warc(tmp_path / "a.warc.gz")
    summary = importer.import_archives(settings, engine, "pg", [tmp_path / "a.warc.gz"])
    assert summary["status"] == "complete" and catalog.get_target(engine, "pg").spec.kind == "imported"
    assert _counts(engine) == {"targets": 1, "captures": 1, "files": 4, "cdx": 6, "import_sources": 1}
    assert catalog_imports.sources_of(engine, summary["id"])[0]["stored_as"] == Path(summary["warcs"][0]).name
