"""`refuge import NAME FILE... [--lenient] [--json]`: WARC files and WACZ packages made
elsewhere become one capture of target NAME (storage.imports, which says how), then are
copied to the other stores when more than the local one is configured, as after a capture.

Exit status: 0 imported; 2 bad input (a file that is not WARC or WACZ, a damaged record,
a WACZ that does not verify: one line naming the file and the offset, nothing imported).
The audit log records the import as the CLI's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_OK, print_json, size
from refuge.config.settings import Settings
from refuge.config.targets import check_name
from refuge.storage import catalog
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.imports.importer import import_archives
from refuge.storage.replicate import push
from refuge.storage.stores.interface import configured_store_names

SHOWN_LEFT_OUT = 20  # records left out listed on a terminal; --json lists them all


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    check_name(args.name)  # bad input touches nothing, not even a new catalog
    engine = catalog.connect(settings.catalog_url)
    summary = import_archives(settings, engine, args.name, [Path(f) for f in args.files], lenient=args.lenient,
                              actor=CLI_ACTOR)
    if len(configured_store_names(settings)) > 1:
        # Queued already; copied now, as after a capture (a store that is down gets it later).
        summary["replication"] = push(settings, engine, [summary["id"]], ignore_backoff=True).as_dict()
    if args.json:
        print_json(summary)
        return EXIT_OK
    _print(summary)
    return EXIT_OK


def _print(s: dict[str, Any]) -> None:
    made = " (a new target of kind imported: it is never captured)" if s["target_created"] else ""
    print(f"imported capture {s['id']} of target {s['target']}{made}: {s['pages']} pages, "
          f"{s['requisites']} requisites, {s['revisits']} revisits, {size(s['bytes'])} in {s['files']} WARC files")
    for source in s["sources"]:
        print(f"  {source['file']}: {source['kind'].upper()}, sha256 {source['sha256']}{_signature(source)}")
        for warc in source["warcs"]:
            inside = f"{warc['member']}: " if warc["member"] else ""
            if warc["stored_as"] is None:
                print(f"    {inside}left out: nothing in it could be imported")
                continue
            bad = f", {warc['bad_records']} bad left out" if warc["bad_records"] else ""
            print(f"    {inside}kept byte for byte as {warc['stored_as']} "
                  f"({warc['records']} records, {warc['indexed']} indexed{bad})")
    left_out = s["left_out"]
    if left_out:
        print(f"  left out (--lenient): {len(left_out)}")
        for entry in left_out[:SHOWN_LEFT_OUT]:
            where = f"offset {entry['offset']}: " if entry["offset"] is not None else ""
            print(f"    {entry['file']}: {where}{entry['why']}" if where else f"    {entry['why']}")
        if len(left_out) > SHOWN_LEFT_OUT:
            print(f"    ... and {len(left_out) - SHOWN_LEFT_OUT} more (`refuge import --json` lists them all)")
    replication = s.get("replication")
    if replication is not None:
        state = "done" if replication["ok"] else "incomplete, retried later (see `refuge replicas`)"
        print(f"  copies to the other stores: {state}")


def _signature(source: dict[str, Any]) -> str:
    if source["kind"] != "wacz":
        return ""
    if not source.get("signed"):
        return ", unsigned"
    who = ", ".join(f"{k} {source[k]}" for k in ("software", "created") if source.get(k))
    return f", signature verified (public key {source.get('public_key')}{', ' + who if who else ''})"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("import", help="make a capture of target NAME from WARC files and WACZ packages made elsewhere")
    p.add_argument("name", metavar="NAME", help="the target (an `imported` target is added when there is none)")
    p.add_argument("files", metavar="FILE", nargs="+", help="WARC (.warc, .warc.gz) or WACZ files")
    p.add_argument("--lenient", action="store_true",
                   help="import the good records of damaged files and list the bad ones, instead of refusing them")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_import)
