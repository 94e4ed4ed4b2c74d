"""`refuge export / publish / urls / check / key`: static mirrors and the signed list."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_FAILURE, EXIT_OK, print_json, print_table, size
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import mirrors


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.progress import step_progress
    from refuge.mirror.export.exporter import export_capture
    from refuge.mirror.publish import mirror_list

    engine = catalog.connect(settings.catalog_url)
    catalog.get_target(engine, args.name)
    with step_progress(f"export {args.name}", "files", wanted=not args.json) as progress:
        exp = export_capture(settings, engine, args.name, Path(args.out), args.capture,
                             extra_files=mirror_list.build_files(settings, engine), progress=progress)
    doc = {"target": exp.target, "capture": exp.capture_id, "out": str(exp.root), "index": "index.html",
           "seed": exp.seed_path, "pages": len(exp.pages), "files": len(exp.files),
           "bytes": sum(f.size for f in exp.files), "digest": exp.digest}
    if args.json:
        print_json(doc)
    else:
        print(f"exported capture {exp.capture_id} of {exp.target}: {doc['pages']} pages, {doc['files']} files, "
              f"{size(doc['bytes'])}\n  open {exp.root / 'index.html'}")
    return EXIT_OK


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.progress import step_progress
    from refuge.mirror.publish.publisher import publish

    engine = catalog.connect(settings.catalog_url)
    with step_progress(f"publish {args.name}: export", "files", wanted=not args.json) as progress:
        report = publish(settings, engine, args.name, args.capture, progress)
    if args.json:
        print_json(report.as_dict())
        return EXIT_OK if report.ok else EXIT_FAILURE
    print(f"published capture {report.capture} of {report.target} ({report.files} files)")
    for ch in report.channels:
        if ch.error:
            print(f"  {ch.channel}: FAILED: {ch.error}")
            continue
        print(f"  {ch.channel}: {ch.uploaded} uploaded ({size(ch.bytes_uploaded)}), {ch.unchanged} unchanged"
              + (f", {ch.deleted} deleted" if ch.deleted else "") + (f"; {ch.note}" if ch.note else ""))
        for url in ch.urls:
            print(f"    {url}")
    for b in report.bundles:
        if b.error:
            print(f"  {b.format}: FAILED: {b.error}")
            continue
        print(f"  {b.format}: {b.name} ({size(b.size)}, {'made now' if b.made else 'unchanged'}), "
              f"SHA-256 {b.sha256}" + (f"; uploaded to {', '.join(b.uploaded)}" if b.uploaded else ""))
        for url in b.urls:
            print(f"    {url}")
    return EXIT_OK if report.ok else EXIT_FAILURE


def print_publish_summary(doc: dict[str, Any]) -> None:
    if doc.get("error"):
        print(f"  not published: {doc['error']}")
    for ch in doc.get("channels", []):
        what = ch["error"] or ", ".join(ch["urls"]) or ch["note"] or "uploaded"
        print(f"  published to {ch['channel']}: {what}")
    for b in doc.get("bundles", []):
        print(f"  {b['format']}: {b['error'] or ', '.join(b['urls']) or b['name']}")


def url_rows(engine: Any, name: str | None) -> list[dict[str, Any]]:
    if name is not None:
        catalog.get_target(engine, name)
    return [{"target": r["target"], "channel": r["channel"], "style": r["style"], "url": r["url"],
             "content": r["content"], "capture": r["capture_id"], "published_at": r["published_at"],
             "checked_at": r["checked_at"], "status": r["status"], "detail": r["detail"]}
            for r in mirrors.active(engine, name)]


def cmd_urls(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    if args.history:
        return _print_history(engine, args)
    rows = url_rows(engine, args.name)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no mirror published yet: run `refuge publish NAME`")
        return EXIT_OK
    print_table(rows, [("TARGET", "target"), ("STATUS", "status"), ("CHANNEL", "channel"),
                       ("CHECKED", lambda r: r["checked_at"] or "-"), ("URL", "url")])
    return EXIT_OK


def _print_history(engine: Any, args: argparse.Namespace) -> int:
    if args.name is not None:
        catalog.get_target(engine, args.name)
    rows = [{k: r[k] for k in ("checked_at", "target", "url", "vantage", "status", "detail", "seconds")}
            for r in mirrors.history(engine, args.name, limit=args.history)]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no checks yet: run `refuge check`")
    else:
        print_table(rows, [("CHECKED", "checked_at"), ("STATUS", "status"), ("VANTAGE", "vantage"),
                           ("URL", "url"), ("DETAIL", "detail")])
    return EXIT_OK


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.mirror.publish.check import check_mirrors

    engine = catalog.connect(settings.catalog_url)
    results = check_mirrors(settings, engine, args.name)
    down = [r for r in results if r["status"] != "up"]
    if args.json:
        print_json({"ok": not down, "checks": results})
    elif not results:
        print("no mirror to check: run `refuge publish NAME` first")
    else:
        print(f"checked {len(results)} mirror URL(s) from {len({r['vantage'] for r in results})} vantage point(s): "
              f"{len(results) - len(down)} up, {len(down)} down")
        print_table(results, [("STATUS", "status"), ("VANTAGE", "vantage"), ("TARGET", "target"),
                              ("URL", "url"), ("DETAIL", "detail")])
    return EXIT_FAILURE if down else EXIT_OK


def cmd_key(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.mirror.publish.signing_key import load_or_create_key, signing_key

    from refuge.storage.wacz.signing import ALGORITHM, wacz_key

    engine = catalog.connect(settings.catalog_url) if settings.queue else None
    if args.wacz:  # the PEM alone, so `refuge key --wacz > wacz.pub` is what openssl reads
        print(wacz_key(settings, engine).public_key_pem(), end="")
        return EXIT_OK
    key = signing_key(settings, engine) if engine is not None else load_or_create_key(settings.data)
    if args.json:
        wacz = wacz_key(settings, engine)
        print_json({"public_key": key.public_key_b64(), "key_id": key.key_id_hex,
                    "file": key.public_key_file(),
                    "wacz": {"public_key": wacz.public_key_b64(), "fingerprint": wacz.fingerprint(),
                             "algorithm": ALGORITHM, "file": wacz.public_key_pem()}})
    else:
        print(key.public_key_file(), end="")  # the minisign .pub file alone: `refuge key > refuge.pub`
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("export", help="write a capture as a static site (relative links)")
    p.add_argument("name")
    p.add_argument("--capture", help="capture id (default: the newest complete one)")
    p.add_argument("--out", required=True, help="directory to write (created; a previous export is replaced)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("publish", help="export the newest capture and upload it to S3 and IPFS")
    p.add_argument("name")
    p.add_argument("--capture", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_publish)

    p = sub.add_parser("urls", help="every mirror URL, working ones first")
    p.add_argument("name", nargs="?")
    p.add_argument("--history", type=int, metavar="N", help="the last N checks instead, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_urls)

    p = sub.add_parser("check", help="fetch every mirror URL and compare with what was published")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("key", help="the public key that signs the mirror list (--wacz: the one that signs "
                                   "WACZ packages)")
    p.add_argument("--wacz", action="store_true", help="the WACZ packages' public key instead, as PEM")
    p.add_argument("--json", action="store_true", help="both keys")
    p.set_defaults(handler=cmd_key)
