"""`refuge dataset / diff`: a database target's snapshots as data, and what changed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_OK, print_json
from refuge.config.dbspec import spec_from_dict
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import snapshots


def _database_target(engine: Any, name: str) -> Any:
    target = catalog.get_target(engine, name, include_removed=True)
    if target.spec.kind != "database":
        raise BadInput(f"target {name!r}: not a database target (add it with --kind database --spec FILE)")
    return target


def cmd_dataset(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.mirror.export.dataset import export

    engine = catalog.connect(settings.catalog_url)
    target = _database_target(engine, args.name)
    capture_id = snapshots.pick(engine, args.name, args.capture)
    spec = spec_from_dict(json.loads(target.spec.database), f"target {args.name}")
    rows = snapshots.records(engine, capture_id)
    count = export(rows, [f.name for f in spec.record.fields], args.format, Path(args.out))
    summary = snapshots.snapshot(engine, capture_id) or {}
    state = "complete" if summary.get("complete") else "INCOMPLETE"
    print(f"wrote {count} rows ({summary.get('records', 0)} records) of snapshot {capture_id} to {args.out}; "
          f"the snapshot is {state}")
    for what, detail in (summary.get("missing") or {}).items():
        if isinstance(detail, str):
            print(f"  {what}: {detail}")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    _database_target(engine, args.name)
    ids = snapshots.snapshot_ids(engine, args.name)
    newer = snapshots.pick(engine, args.name, args.to)
    if args.from_ is not None:
        older = snapshots.pick(engine, args.name, args.from_)
    else:
        earlier = [i for i in ids if i < newer]
        if not earlier:
            raise BadInput(f"target {args.name!r}: no snapshot before {newer} to compare with")
        older = earlier[-1]
    result = snapshots.diff(engine, older, newer)
    if args.json:
        print_json(result)
        return EXIT_OK
    print(f"{args.name}: snapshot {older} -> {newer}")
    for what in ("added", "removed", "changed"):
        ids_text = ", ".join(result[what][:50]) + (" ..." if len(result[what]) > 50 else "")
        print(f"  {what}: {len(result[what])}{': ' + ids_text if result[what] else ''}")
    print(f"  unchanged: {result['unchanged']}" + (f" ({len(result['markup_only'])} with only markup changed)"
                                                   if result["markup_only"] else ""))
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("dataset", help="a database target's snapshot as JSON Lines, CSV or SQLite")
    p.add_argument("name")
    p.add_argument("--capture", metavar="ID", help="which snapshot (default: the newest)")
    p.add_argument("--format", choices=("jsonl", "csv", "sqlite"), required=True)
    p.add_argument("--out", required=True, metavar="FILE")
    p.set_defaults(handler=cmd_dataset)

    p = sub.add_parser("diff", help="records added, removed and changed between two snapshots")
    p.add_argument("name")
    p.add_argument("--from", dest="from_", metavar="ID", help="the older snapshot (default: the one before --to)")
    p.add_argument("--to", metavar="ID", help="the newer snapshot (default: the newest)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_diff)
