"""`refuge push / replicas / verify / stores`: the replicas of captures in every store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_FAILURE, EXIT_OK, print_json, print_table, size
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import replicas
from refuge.storage.replicate import push
from refuge.storage.stores.interface import configured_store_names, open_store


def cmd_push(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.progress import step_progress  # rich, for this command only

    engine = catalog.connect(settings.catalog_url)
    with step_progress("push", "copies", wanted=not args.json) as progress:
        report = push(settings, engine, _capture_scope(engine, args), progress=progress)
    if args.json:
        print_json(report.as_dict())
    else:
        print_push_report(report)
    return EXIT_OK if report.ok else EXIT_FAILURE


def print_push_report(report: Any, out: Any = None) -> None:
    out = out or sys.stdout
    uploaded = sum(e["size"] for e in report.uploaded)
    print(f"pushed {len(report.uploaded)} file(s), {size(uploaded)}; {len(report.already_there)} already there",
          file=out)
    for error in report.store_errors.values():
        print(f"  {error}", file=out)
    for e in report.failed:
        print(f"  failed: {e['store']} {e['file'] or e['capture']}: {e['error']}", file=out)
    if report.pending:
        print(f"  {report.pending} copy(ies) still pending; `refuge push` or the scheduler retries them", file=out)


def cmd_replicas(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    capture = catalog.get_capture(engine, args.capture)
    rows = replicas.copies(engine, args.capture)
    roots = replicas.roots(engine, args.capture)
    if args.json:
        print_json({"capture": capture, "roots": roots, "copies": rows})
        return EXIT_OK
    print(f"capture {capture['id']} of {capture['target']} ({capture['status']})")
    for store, location in sorted(roots.items()):
        print(f"  {store} folder: {location}")
    if not rows:
        print("  no copies recorded yet: run `refuge push`")
        return EXIT_OK
    print_table(rows, [
        ("FILE", "file"), ("STORE", "store"), ("STATE", "state"),
        ("CHECK", lambda r: r["result"] or "-"), ("VERIFIED", lambda r: r["verified_at"] or "-"),
        ("LOCATION", lambda r: r["location"] or f"(pending: {r['last_error'] or 'queued'})")])
    return EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.progress import step_progress
    from refuge.storage import fixity  # only for this command: it brings the CID code

    if args.capture and args.capture.lower().endswith(".wacz"):  # no capture id ends so: a package
        return _verify_package(args, settings)
    engine = catalog.connect(settings.catalog_url)
    stores = None
    if args.store:
        if args.store not in configured_store_names(settings):
            raise BadInput(f"--store {args.store}: not configured (configured: "
                           f"{', '.join(configured_store_names(settings))})")
        stores = [args.store]
    with step_progress("verify", "copies", wanted=not args.json) as progress:
        checks = fixity.verify(settings, engine, _capture_scope(engine, args), stores, repair=args.repair,
                               progress=progress)
    failing = [c for c in checks if c.result != "ok" and not c.repaired]
    if args.json:
        print_json({"ok": not failing, "counts": fixity.summary(checks), "copies": [c.as_dict() for c in checks]})
    else:
        counts = fixity.summary(checks)
        print(f"checked {len(checks)} copies: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        for c in checks:
            if c.result == "ok":
                continue
            fixed = "" if c.repaired is None else (f" -> repaired from {c.repaired_from}" if c.repaired
                                                   else " -> NOT repaired")
            print(f"  {c.result.upper()}: {c.store} {c.capture}/{c.file}: {c.reason}{fixed}")
    return EXIT_OK if not failing else EXIT_FAILURE


def _verify_package(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.wacz import verify_package

    package = Path(args.capture)
    if not package.is_file():
        raise BadInput(f"{package}: no such WACZ package")
    if args.all or args.store or args.repair:
        raise BadInput(f"{package}: --all, --store and --repair are for captures, not a WACZ package")
    return verify_package(package, args.json, settings)


def cmd_stores(args: argparse.Namespace, settings: Settings) -> int:
    docs = [open_store(settings, name).status() for name in configured_store_names(settings)]
    if args.json:
        print_json(docs)
    else:
        print_table(docs, [("STORE", "store"), ("REACHABLE", lambda d: "yes" if d["reachable"] else "NO"),
                           ("VERSION", lambda d: d["version"] or "-"),
                           ("FREE", lambda d: size(d["free_bytes"]) if d["free_bytes"] is not None else "-"),
                           ("WHERE", "where")])
        for d in docs:
            if d["error"]:
                print(f"  {d['store']}: {d['error']}")
    return EXIT_OK if all(d["reachable"] for d in docs) else EXIT_FAILURE


def _capture_scope(engine: Any, args: argparse.Namespace) -> list[str] | None:
    if args.all and args.capture:
        raise BadInput("give a CAPTURE or --all, not both")
    if args.capture:
        catalog.get_capture(engine, args.capture)  # a one-line error for an unknown id
        return [args.capture]
    return None


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("push", help="copy captures to every configured store now (what is pending)")
    p.add_argument("capture", nargs="?", metavar="CAPTURE")
    p.add_argument("--all", action="store_true", help="every capture (the default)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_push)

    p = sub.add_parser("replicas", help="where every copy of every file of a capture is")
    p.add_argument("capture", metavar="CAPTURE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_replicas)

    p = sub.add_parser("verify", help="re-read every copy and check its SHA-256 (and CID); --repair heals; "
                                      "or check a WACZ package's hashes and signature (FILE.wacz)")
    p.add_argument("capture", nargs="?", metavar="CAPTURE | FILE.wacz")
    p.add_argument("--all", action="store_true", help="every capture (the default)")
    p.add_argument("--store", choices=("local", "s3", "ipfs"))
    p.add_argument("--repair", action="store_true", help="replace bad or missing copies from an intact one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("stores", help="each configured store: reachable? version? free space?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stores)

