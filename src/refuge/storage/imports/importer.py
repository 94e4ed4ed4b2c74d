"""`refuge import`: WARC files and WACZ packages made elsewhere become one capture of a target.

`import_archives(settings, engine, name, paths)`:

1. NAME's target is looked up. An existing one (a site, a database, an earlier import)
   gets the capture beside its own captures; a removed one is refused; without one, an
   `imported` target (config.targets.imported_target) is added with the capture, its URL
   the archive's first page (a WACZ's first listed page, else the first HTML response).
2. What crashed imports of the target left is removed (staging.sweep).
3. Every file is copied into a staging folder (sources.stage) and every WARC file read
   whole (storage.warc.validate) before anything is kept or recorded. By default the
   first problem refuses the whole import: BadInput naming the file and the offset, the
   staging folder removed, the catalog untouched. LENIENT: a file that cannot be imported
   at all is listed and left out; a WARC file with bad records is still kept byte for
   byte, and only its good records are indexed (the bytes as received stay the evidence;
   nothing reads a record no index row points to). What was left out is listed, and kept
   as the capture's failures.
4. Each WARC file is named `<target>-<capture>-i<NN>.warc[.gz]` (file names are unique
   across the archive; the name it came with is recorded as its source), its CDXJ index
   written beside it.
5. The staging folder is renamed to the capture's folder and the catalog records
   everything in one transaction (catalog.imports.commit_import) with the audit event.
6. The manifest is written and every file queued for every store (replicate.queue_capture);
   if that fails the capture stands and `refuge push` does it, as after a capture.
7. Its HTML pages are indexed for search (storage.catalog.search), as after a capture; if that
   fails the capture stands and `refuge search --reindex NAME` does it.

The capture's id and `started` come from its earliest record's WARC-Date, `finished` from
its latest (never later than now): it sits in its target's history where its content
belongs, and an old archive does not become the newest capture `refuge publish` picks.
It is `complete`, with pages (HTML: 2xx responses and resources), requisites (the other
responses and resources), revisits, failed (records or files left out), bytes and files.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.config.targets import check_name, imported_target, validate_url
from refuge.storage import catalog
from refuge.storage.catalog.cdxj import write_cdxj
from refuge.storage.catalog.db import iso
from refuge.storage.catalog.events import CLI_ACTOR, Actor
from refuge.storage.catalog.imports import ImportedFile, commit_import, recorded
from refuge.storage.catalog.search_index import index_capture
from refuge.storage.imports import staging
from refuge.storage.imports.sources import Source, StagedWarc, stage
from refuge.storage.replicate import queue_capture
from refuge.storage.stores.interface import file_digest
from refuge.storage.warc.sealed import cdxj_path_for
from refuge.storage.warc.validate import CheckedWarc, check_warc, describe

log = logging.getLogger(__name__)

HTML = ("text/html", "application/xhtml+xml")


def import_archives(settings: Settings, engine: Engine, name: str, paths: list[Path], *, lenient: bool = False,
                    actor: Actor = CLI_ACTOR) -> dict[str, Any]:
    """Import the WARC files and WACZ packages at PATHS as one capture of target NAME (see
    the module's docstring); the capture's summary, with what was left out. BadInput for
    what cannot be imported."""
    check_name(name)
    if not paths:
        raise BadInput("give at least one WARC file or WACZ package to import")
    try:
        existing: catalog.Target | None = catalog.get_target(engine, name, include_removed=True)
    except BadInput:
        existing = None
    if existing is not None and existing.removed_at:
        raise BadInput(f"target {name!r} was removed; add it again (`refuge add`) or import under another name")
    target_dir = settings.archive_dir / name
    staging.sweep(target_dir, lambda capture_id: recorded(engine, capture_id))
    folder = staging.open_staging(target_dir)
    try:
        sources, skipped = _stage_all(paths, folder, lenient)
        checked = [(warc, result) for source in sources for warc in source.warcs
                   if (result := _check(warc, lenient, skipped)) is not None]
        if not any(result.rows for _, result in checked):
            raise BadInput(_nothing_to_import(paths, skipped))
        new_target = None if existing is not None else imported_target(name, _first_url(sources, checked))
        capture = _capture_row(checked, skipped)
        final = target_dir / capture["id"]
        warcs = _name_and_index(settings, name, capture["id"], folder, checked)
        staging.place(folder, final)
        folder = final
    except BaseException:
        staging.discard(folder)
        raise
    try:
        commit_import(engine, target_id=existing.id if existing is not None else None, new_target=new_target,
                      capture=capture, warcs=[w.record for w in warcs], sources=_source_rows(sources, warcs),
                      left_out=_left_out(checked, skipped), actor=actor,
                      event={"target": name, "capture": capture["id"], "files": [p.name for p in paths],
                             "lenient": lenient, "left_out": capture["failed"]})
    except BaseException:
        staging.discard(final)
        raise
    staging.settle(final)
    try:
        queue_capture(settings, engine, capture["id"])
    except Exception as exc:  # noqa: BLE001 - the capture is recorded; `refuge push` writes the manifest
        log.error("capture %s: writing its manifest failed (`refuge push` retries): %s", capture["id"], exc)
    try:
        index_capture(engine, settings, capture["id"])
    except Exception as exc:  # noqa: BLE001 - the capture is recorded; search catches up on a reindex
        log.error("capture %s: indexing it for search failed (`refuge search --reindex` retries): %s",
                  capture["id"], exc)
    summary = catalog.get_capture(engine, capture["id"])
    summary["target_created"] = new_target is not None
    summary["warcs"] = sorted(str(final / w.record.warc["name"]) for w in warcs)
    summary["sources"] = [_source_summary(source, warcs) for source in sources]
    summary["left_out"] = _left_out_summary(checked, skipped)
    return summary


def _stage_all(paths: list[Path], folder: Path, lenient: bool) -> tuple[list[Source], list[dict[str, str]]]:
    """Every file given, staged; with LENIENT, those that cannot be are listed instead."""
    sources: list[Source] = []
    skipped: list[dict[str, str]] = []
    number = 1
    for path in paths:
        try:
            source = stage(path, folder, number)
        except BadInput as exc:
            if not lenient:
                raise
            skipped.append({"file": str(path), "why": str(exc)})
            continue
        number += len(source.warcs)
        sources.append(source)
    return sources, skipped


def _check(warc: StagedWarc, lenient: bool, skipped: list[dict[str, str]]) -> CheckedWarc | None:
    """What WARC holds; with LENIENT, None (and WARC listed in SKIPPED) when nothing of it can be
    imported, where without it the BadInput goes up and ends the import."""
    try:
        return check_warc(warc.path, warc.label, lenient)
    except BadInput as exc:
        if not lenient:
            raise
        skipped.append({"file": warc.label, "why": str(exc)})
        warc.path.unlink(missing_ok=True)
        return None


def _nothing_to_import(paths: list[Path], skipped: list[dict[str, str]]) -> str:
    if skipped:
        return skipped[0]["why"] + (f" (and {len(skipped) - 1} more files that cannot be imported)"
                                    if len(skipped) > 1 else "")
    names = ", ".join(p.name for p in paths)
    return (f"{names}: no response, revisit or resource record of an http(s) URL in it: "
            f"nothing that could be replayed")


def _first_url(sources: list[Source], checked: list[tuple[StagedWarc, CheckedWarc]]) -> str:
    """The new target's URL: a WACZ's first page, else the first HTML page, else the first URL."""
    candidates = [s.first_page for s in sources if s.first_page]
    rows = [row for _, result in checked for row in result.rows]
    candidates += [r["url"] for r in rows if r["mime"] in HTML and r["status"] == 200]
    candidates += [r["url"] for r in rows]
    for url in candidates:
        try:
            return validate_url(url)
        except BadInput:
            continue
    raise BadInput("none of the archive's URLs is an http(s) URL a target can have")


def _capture_row(checked: list[tuple[StagedWarc, CheckedWarc]], skipped: list[dict[str, str]]) -> dict[str, Any]:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    spans = [span for _, result in checked if (span := result.span())]
    first = min(_when(s[0], now) for s in spans)
    last = max(_when(s[1], now) for s in spans)
    rows = [row for _, result in checked for row in result.rows]
    pages = sum(1 for r in rows if r["rectype"] != "revisit" and r["mime"] in HTML
                and (r["status"] is None or 200 <= r["status"] < 300))
    revisits = sum(1 for r in rows if r["rectype"] == "revisit")
    failed = sum(len(result.bad) for _, result in checked) + len(skipped)
    return {"id": catalog.new_capture_id(first), "status": "complete", "started_at": iso(first),
            "finished_at": iso(last), "heartbeat_at": iso(now), "worker": catalog.worker_id(),
            "pages": pages, "requisites": len(rows) - pages - revisits, "failed": failed, "revisits": revisits,
            "bytes": sum(warc.size for warc, _ in checked), "files": len(checked)}


def _when(stamp: str, now: datetime) -> datetime:
    """A record's 14-digit timestamp as a time, never later than NOW (a clock gone wrong)."""
    try:
        when = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return now
    return min(when, now)


class _Kept:
    """A WARC file as the capture keeps it: staged, checked, renamed, indexed."""

    def __init__(self, warc: StagedWarc, result: CheckedWarc, record: ImportedFile, path: Path) -> None:
        self.warc, self.result, self.record, self.path = warc, result, record, path


def _name_and_index(settings: Settings, target: str, capture_id: str, folder: Path,
                    checked: list[tuple[StagedWarc, CheckedWarc]]) -> list[_Kept]:
    """Give each staged WARC file its name in the archive and write its CDXJ index beside it."""
    final = settings.archive_dir / target / capture_id
    kept = []
    for number, (warc, result) in enumerate(checked, 1):
        name = f"{target}-{capture_id}-i{number:02d}.warc{'.gz' if warc.gzipped else ''}"
        staged = folder / name
        warc.path.rename(staged)
        cdxj = cdxj_path_for(staged)
        write_cdxj(cdxj, result.rows, name)
        cdxj_sha, cdxj_size = file_digest(cdxj)
        record = ImportedFile(
            warc={"name": name, "path": _relative(final / name, settings.data), "sha256": warc.sha256,
                  "size": warc.size, "records": result.records},
            cdxj={"name": cdxj.name, "path": _relative(final / cdxj.name, settings.data), "sha256": cdxj_sha,
                  "size": cdxj_size, "records": len(result.rows)},
            rows=result.rows)
        kept.append(_Kept(warc, result, record, staged))
    return kept


def _source_rows(sources: list[Source], kept: list[_Kept]) -> list[dict[str, Any]]:
    """import_sources rows: each file given, and each WARC file a WACZ held."""
    by_warc = {id(k.warc): k for k in kept}
    rows: list[dict[str, Any]] = []
    for source in sources:
        if source.kind == "wacz":
            check = source.wacz or {}
            rows.append({"source": source.name, "member": None, "kind": "wacz", "sha256": source.sha256,
                         "size": source.size, "stored_as": None, "records": None, "bad_records": None,
                         "signed": int(bool(check.get("signed"))),
                         "signature_ok": None if check.get("signature_ok") is None else int(check["signature_ok"]),
                         "detail": json.dumps({k: v for k, v in check.items() if k not in ("signed", "signature_ok")},
                                              ensure_ascii=False)})
        for warc in source.warcs:
            k = by_warc.get(id(warc))
            if k is None:
                continue  # --lenient: nothing in it could be imported
            rows.append({"source": source.name, "member": warc.member, "kind": "warc", "sha256": warc.sha256,
                         "size": warc.size, "stored_as": k.record.warc["name"], "records": k.result.records,
                         "bad_records": len(k.result.bad), "signed": None, "signature_ok": None, "detail": "{}"})
    return rows


def _left_out(checked: list[tuple[StagedWarc, CheckedWarc]], skipped: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The capture's failures: each bad record, and each file that could not be imported."""
    rows = [{"url": bad.url or "", "status": None, "reason": describe(warc.label, bad)}
            for warc, result in checked for bad in result.bad]
    return rows + [{"url": "", "status": None, "reason": s["why"]} for s in skipped]


def _left_out_summary(checked: list[tuple[StagedWarc, CheckedWarc]],
                      skipped: list[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"file": warc.label, **bad.as_dict()} for warc, result in checked for bad in result.bad] + \
        [{"file": s["file"], "offset": None, "url": None, "why": s["why"]} for s in skipped]


def _source_summary(source: Source, kept: list[_Kept]) -> dict[str, Any]:
    by_warc = {id(k.warc): k for k in kept}
    entry: dict[str, Any] = {"file": str(source.given), "kind": source.kind, "sha256": source.sha256,
                             "size": source.size, "warcs": []}
    if source.wacz is not None:
        entry.update({k: source.wacz.get(k) for k in ("signed", "signature_ok", "public_key", "software", "created")})
    for warc in source.warcs:
        k = by_warc.get(id(warc))
        entry["warcs"].append({"member": warc.member, "sha256": warc.sha256, "size": warc.size,
                               "stored_as": k.record.warc["name"] if k else None,
                               "records": k.result.records if k else None,
                               "indexed": len(k.result.rows) if k else 0,
                               "bad_records": len(k.result.bad) if k else None})
    return entry


def _relative(path: Path, data: Path) -> str:
    try:
        return str(path.resolve().relative_to(data.resolve()))
    except ValueError:
        return str(path.resolve())
