"""The `refuge` command line. Exit status: 0 success, 1 failure, 2 bad input."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlsplit

from sqlalchemy.exc import OperationalError

from refuge import __version__
from refuge.cli import accounts as cli_accounts
from refuge.cli import alert_commands as cli_alerts
from refuge.cli import bundles as cli_bundles
from refuge.cli import cluster_commands as cli_cluster
from refuge.cli import database as cli_database
from refuge.cli import importing as cli_importing
from refuge.cli import mirrors as cli_mirrors
from refuge.cli import replicas as cli_replicas
from refuge.cli import search as cli_search
from refuge.cli import takedown as cli_takedown
from refuge.cli import wacz as cli_wacz
from refuge.cli.output import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, print_json, print_table, size
from refuge.cli.status import target_json, target_rows
from refuge.config.addresses import check_host_allowed
from refuge.config.dbspec import load_spec_file, spec_as_dict
from refuge.config.errors import BadInput, Failure, redact, redact_text
from refuge.config.logs import setup_logging
from refuge.config.settings import Settings, load_settings
from refuge.config.targets import KINDS, SCOPES, make_target
from refuge.storage import catalog
from refuge.storage.catalog import events
from refuge.storage.catalog.events import CLI_ACTOR


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    setup_logging(logging.INFO if args.command in ("run", "serve", "demo", "worker", "scheduler", "admin") or args.verbose else logging.WARNING)
    settings: Settings | None = None
    try:
        settings = load_settings(args.config, overrides={"data": args.data, **_flag_overrides(args)})
        return int(args.handler(args, settings) or 0)
    except BadInput as exc:
        print(f"refuge: error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Failure as exc:
        print(f"refuge: failed: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except OperationalError as exc:
        # The catalog could not be read or written: a full disk, a lock held too long, a
        # server gone. One line naming the cause, not a traceback.
        cause = redact_text((str(exc.orig).strip().splitlines() or ["unknown"])[0][:300])
        if settings is not None and settings.database_url:
            print(f"refuge: failed: the catalog at database_url = {redact(settings.database_url)} could not be "
                  f"used ({cause}); check that the server is up and reachable from here", file=sys.stderr)
        else:
            where = settings.data if settings is not None else "the data directory"
            print(f"refuge: failed: the catalog could not be used ({cause}); if the disk holding {where} is full, "
                  "free space and run the command again", file=sys.stderr)
        return EXIT_FAILURE


def _flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"host": getattr(args, "host", None), "port": getattr(args, "port", None),
            "serve_processes": getattr(args, "processes", None), "admin_host": getattr(args, "admin_host", None),
            "admin_port": getattr(args, "admin_port", None)}


# -- commands -----------------------------------------------------------------------------

def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    database = None
    if args.spec is not None:
        database = spec_as_dict(load_spec_file(Path(args.spec)))
    spec = make_target(args.url, name=args.name, every=args.every, cron=args.cron, scope=args.scope,
                       max_pages=args.max_pages, max_depth=args.max_depth, include=args.include or [],
                       exclude=args.exclude or [], robots=args.robots, kind=args.kind, database=database,
                       browser=args.browser, scroll=args.scroll, click=args.click or [], max_clicks=args.max_clicks)
    host = urlsplit(spec.url).hostname or ""
    addresses = check_host_allowed(host, settings.allow_private_networks, settings.allow_networks)
    if not addresses and not settings.allow_private_networks:
        print(f"refuge: warning: {host} does not resolve now; it is checked again on every connection",
              file=sys.stderr)
    if spec.browser:
        from refuge.archiver.browser import browser_problem  # a cheap check: Playwright is not imported

        problem = browser_problem(settings)
        if problem:
            print(f"refuge: warning: {problem}; until then every page of {spec.name} is listed as failed, "
                  "captured without its scripts", file=sys.stderr)
    engine = catalog.connect(settings.catalog_url)
    target, created = catalog.save_target(engine, spec)
    events.record(engine, CLI_ACTOR, "target.add" if created else "target.change", spec.name,
                  {"url": spec.url, "schedule": spec.schedule})
    if args.json:
        print_json(target_json(target, None))
    else:
        print(f"{'added' if created else 'updated'} target {target.name}: {spec.url} ({spec.scope}, {spec.schedule})")
    return EXIT_OK


def cmd_targets(args: argparse.Namespace, settings: Settings) -> int:
    rows = target_rows(catalog.connect(settings.catalog_url))
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no targets yet: add one with `refuge add URL`")
        return EXIT_OK
    print_table(rows, [("NAME", "name"), ("SCHEDULE", "schedule"), ("SCOPE", "scope"), ("STATUS", _status_cell),
                        ("LAST CAPTURE", lambda r: (r["last_capture"] or {}).get("started") or "-"),
                        ("FIXITY", _fixity_cell), ("MIRRORS", _mirrors_cell), ("URL", "url")])
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.admin.operations import remove_target

    listed = remove_target(settings, catalog.connect(settings.catalog_url), args.name, CLI_ACTOR)
    print(f"removed target {args.name}; its captures stay readable")
    if listed:
        print("  its mirrors are no longer in the mirror list (their content stays where it was published)")
    return EXIT_OK


def cmd_capture(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.pipeline import capture_and_follow  # the crawl's stack, for this command only
    from refuge.cli.progress import capture_progress

    if settings.queue:  # distributed mode: a worker captures it
        from refuge.cli.queued import capture_by_queue

        code, queued = capture_by_queue(args, settings)
        if queued is not None:
            print_json(queued) if args.json else _print_capture(queued)
        return code
    engine = catalog.connect(settings.catalog_url)
    try:
        with capture_progress(args.name, wanted=not args.json) as progress:
            outcome = capture_and_follow(settings, engine, args.name, fresh=args.fresh, progress=progress)
    except catalog.AlreadyRunning as exc:
        raise Failure(str(exc)) from None
    summary = outcome.summary
    if outcome.pushed is not None:
        summary["replication"] = outcome.pushed.as_dict()
    if outcome.published is not None:
        summary["publish"] = outcome.published.as_dict()
    elif outcome.publish_error is not None:
        summary["publish"] = {"ok": False, "error": str(outcome.publish_error), "channels": []}
    if args.json:
        print_json(summary)
    else:
        _print_capture(summary)
        if outcome.pushed is not None:
            cli_replicas.print_push_report(outcome.pushed)
        if "publish" in summary:
            cli_mirrors.print_publish_summary(summary["publish"])
    if summary["status"] == "failed":
        print(f"refuge: failed: {summary['error']}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_captures(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    rows = catalog.list_captures(engine, args.name)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no captures yet")
        return EXIT_OK
    print_table(rows, [("ID", "id"), ("TARGET", "target"), ("STATUS", "status"), ("STARTED", "started"),
                        ("PAGES", "pages"), ("FAILED", "failed"), ("BYTES", lambda r: size(r["bytes"])),
                        ("FILES", "files")])
    return EXIT_OK


# The server, scheduler and demo pull in their own stacks; commands that don't need
# them stay quick to start.
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.service import install_stop_signals, serve_replay

    install_stop_signals()  # SIGTERM stops the server processes too
    catalog.connect(settings.catalog_url).dispose()  # creates the catalog once, before the processes start
    serve_replay(settings)
    return EXIT_OK


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.service import run_service

    run_service(settings)
    return EXIT_OK


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.admin.server import serve_admin
    from refuge.cli.service import install_stop_signals

    install_stop_signals()
    serve_admin(settings)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.cli.demo import run_demo

    return run_demo(settings)


# -- output helpers -------------------------------------------------------------------------

def _status_cell(row: dict[str, Any]) -> str:
    snap = row.get("snapshot")
    if not snap:
        return row["status"]
    of = f"/{snap['expected']}" if snap["expected"] is not None else ""
    return f"{row['status']}, {snap['records']}{of} records" + ("" if snap["complete"] else " INCOMPLETE")


def _fixity_cell(row: dict[str, Any]) -> str:
    doc = row.get("fixity")
    if not doc:
        return "never checked"
    if doc["status"] == "ok":
        return f"ok {doc['checked_at']}"
    return f"{doc['bad'] + doc['missing']} BAD {doc['checked_at']}"


def _mirrors_cell(row: dict[str, Any]) -> str:
    doc = row.get("mirrors")
    if not doc:
        return "-"
    parts = [f"{doc[k]} {k.upper() if k == 'down' else k}" for k in ("up", "down", "unknown") if doc[k]]
    return ", ".join(parts)


def _print_capture(s: dict[str, Any]) -> None:
    print(f"capture {s['id']} of {s['target']}: {s['status']}")
    print(f"  {s['pages']} pages, {s['requisites']} requisites, {s['revisits']} unchanged (revisits), "
          f"{s['failed']} failed; {size(s['bytes'])} in {s['files']} WARC file(s), {s['seconds']:.1f} s")
    for f in s.get("failures", [])[:20]:
        print(f"  failed: {f['url']} - {f['reason']}")
    if len(s.get("failures", [])) > 20:
        print(f"  ... and {len(s['failures']) - 20} more (see --json)")
    for path in s.get("warcs", []):
        print(f"  {path}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _at_least_one(text: str) -> int:
    value = _positive_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get the same one-line error and exit status 2 as any bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"refuge: error: {message} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="refuge", description="Capture blocked sites into WARC files and replay them.")
    p.add_argument("--version", action="version", version=f"refuge {__version__}")
    p.add_argument("--config", type=Path, metavar="FILE", help="settings file (default: DATA/refuge.toml if present)")
    p.add_argument("--data", metavar="DIR", help="data directory (default: $REFUGE_DATA or ./data)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    add = sub.add_parser("add", help="add or update a target")
    add.add_argument("url")
    add.add_argument("--name")
    when = add.add_mutually_exclusive_group()
    when.add_argument("--every", metavar="DURATION", help="capture interval: 30m, 6h, 1d (default 1d)")
    when.add_argument("--cron", metavar="EXPR", help='five-field cron expression in UTC, e.g. "0 */6 * * *"')
    add.add_argument("--scope", choices=SCOPES, default="prefix")
    add.add_argument("--max-pages", type=_positive_int, metavar="N")
    add.add_argument("--max-depth", type=_positive_int, metavar="N")
    add.add_argument("--include", action="append", metavar="REGEX", help="only URLs matching one of these")
    add.add_argument("--exclude", action="append", metavar="REGEX", help="never URLs matching one of these")
    add.add_argument("--robots", choices=("obey", "ignore"), default="obey")
    add.add_argument("--kind", choices=KINDS, default="site", help="site (crawl it) or database (enumerate its records)")
    add.add_argument("--spec", metavar="FILE", help="a database target's spec (TOML: [listing] or [api], [record])")
    add.add_argument("--browser", action="store_true",
                     help="capture each page in headless Chromium: what scripts load is captured too")
    add.add_argument("--scroll", action="store_true", help="browser mode: scroll until the page stops growing")
    add.add_argument("--click", action="append", metavar="SELECTOR",
                     help='browser mode: press elements matching this CSS selector ("Load more"); repeatable')
    add.add_argument("--max-clicks", type=int, metavar="N", help="browser mode: presses per page in all (default 5)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=cmd_add)

    targets = sub.add_parser("targets", help="list targets with schedule, last capture and status")
    targets.add_argument("--json", action="store_true")
    targets.set_defaults(handler=cmd_targets)

    remove = sub.add_parser("remove", help="stop capturing a target (its captures are kept)")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)

    capture = sub.add_parser("capture", help="capture a target now")
    capture.add_argument("name")
    capture.add_argument("--fresh", action="store_true",
                         help="start a new capture even if the last one was interrupted (default: resume it)")
    capture.add_argument("--json", action="store_true")
    capture.add_argument("--no-wait", action="store_true",
                         help='with queue = "postgres": print the queued job and return at once')
    capture.set_defaults(handler=cmd_capture)

    captures = sub.add_parser("captures", help="list captures, newest first")
    captures.add_argument("name", nargs="?")
    captures.add_argument("--json", action="store_true")
    captures.set_defaults(handler=cmd_captures)

    serve = sub.add_parser("serve", help="run the replay server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--processes", type=int, help="server processes sharing the port (default: one per CPU)")
    serve.set_defaults(handler=cmd_serve)

    run = sub.add_parser("run", help="scheduler and replay server in one process, until stopped")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--processes", type=int, help="replay server processes (default: one per CPU)")
    run.set_defaults(handler=cmd_run)

    admin = sub.add_parser("admin", help="run the admin console and API alone (`refuge run` starts it too)")
    admin.add_argument("--admin-host", dest="admin_host", metavar="HOST")
    admin.add_argument("--admin-port", dest="admin_port", type=int, metavar="PORT")
    admin.set_defaults(handler=cmd_admin)

    demo = sub.add_parser("demo", help="capture a bundled sample site on loopback and replay it (no internet needed)")
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.set_defaults(handler=cmd_demo)

    cli_replicas.add_parsers(sub)
    cli_accounts.add_parsers(sub)
    cli_cluster.add_parsers(sub, _at_least_one)
    cli_database.add_parsers(sub)
    cli_mirrors.add_parsers(sub)
    cli_alerts.add_parsers(sub)
    cli_takedown.add_parsers(sub)
    cli_wacz.add_parsers(sub)
    cli_bundles.add_parsers(sub)
    cli_importing.add_parsers(sub)
    cli_search.add_parsers(sub)
    return p


def entry() -> None:
    """The `refuge` console script."""
    code = main()
    # The process is about to end: spare the interpreter a last full collection over
    # everything still alive (a tenth of a second after a big capture).
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
