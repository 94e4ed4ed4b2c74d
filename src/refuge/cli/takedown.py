"""`refuge hide / unhide / hidden`: take a URL (or every URL under a prefix) down from what
readers are shown, and put it back.

A takedown (storage.catalog.hidden) makes replay answer 451 with its reason and the next
export and publish leave the URL out; the WARC files stay as they were. Changes made here
are recorded in the audit log as the CLI's (events.CLI_ACTOR).
"""

from __future__ import annotations

import argparse
from typing import Any

from refuge.cli.output import EXIT_OK, print_json, print_table
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

SHOWN_REASON = 60  # characters of a reason in the table; --json has it whole


def cmd_hide(args: argparse.Namespace, settings: Settings) -> int:
    hidden.check_url(args.url, args.prefix)  # bad input touches nothing, not even a new catalog
    hidden.check_reason(args.reason)
    engine = catalog.connect(settings.catalog_url)
    row = hidden.hide(engine, args.url, args.reason, CLI_ACTOR, prefix=args.prefix)
    if args.json:
        print_json(row)
        return EXIT_OK
    what = "every URL under" if row["match"] == "prefix" else "URL"
    print(f"hid {what} {row['url']} (takedown {row['id']}): replay answers 451 with the reason")
    print("  the next export and publish leave it out; to remove it from published mirrors now, "
          "run `refuge publish NAME`")
    return EXIT_OK


def cmd_unhide(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    row = hidden.unhide(engine, args.id, CLI_ACTOR)
    if args.json:
        print_json(row)
    else:
        print(f"unhid {row['url']} (takedown {row['id']}); the next publish puts it back in published mirrors")
    return EXIT_OK


def cmd_hidden(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    rows = hidden.list_hidden(engine, include_removed=args.all)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("nothing hidden" + ("" if args.all else " now (`--all` lists removed takedowns too)"))
        return EXIT_OK
    columns: list[tuple[str, Any]] = [("ID", "id"), ("MATCH", "match"), ("CREATED", "created_at"),
                                      ("BY", "created_by")]
    if args.all:
        columns.append(("REMOVED", lambda r: r["removed_at"] or "-"))
    columns += [("URL", "url"), ("REASON", _short_reason)]
    print_table(rows, columns)
    return EXIT_OK


def _short_reason(row: dict[str, Any]) -> str:
    text = " ".join(row["reason"].split())  # one line in the table
    return text if len(text) <= SHOWN_REASON else text[:SHOWN_REASON - 1] + "…"


def _takedown_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a takedown id (see `refuge hidden`)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a takedown id (see `refuge hidden`)")
    return value


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("hide", help="take a URL, or every URL under a prefix (URL*), down from what readers see")
    p.add_argument("url", metavar="URL|PREFIX", help="an http(s) URL, or a host and path; ending in * or with "
                                                    "--prefix: every URL that starts so")
    p.add_argument("--reason", required=True, metavar="TEXT",
                   help=f"why (shown to readers with the 451 answer; at most {hidden.MAX_REASON} characters)")
    p.add_argument("--prefix", action="store_true", help="hide every URL that starts with URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_hide)

    p = sub.add_parser("unhide", help="end a takedown: readers see the URL again")
    p.add_argument("id", type=_takedown_id, help="the takedown's id (see `refuge hidden`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_unhide)

    p = sub.add_parser("hidden", help="list active takedowns")
    p.add_argument("--all", action="store_true", help="removed takedowns too")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_hidden)
