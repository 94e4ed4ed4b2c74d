"""`refuge alerts [--json]`, `refuge alerts test`, `refuge alerts check`.

    refuge alerts        each condition's state as each [[alert]] sees it (read only)
    refuge alerts test   one test alert to every configured channel: exit 1 if one failed
    refuge alerts check  one evaluation now, sending what changed (what the scheduler does
                         every alert_seconds): for a machine that runs no scheduler
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from refuge.cli import alerts
from refuge.cli.output import EXIT_FAILURE, EXIT_OK, print_json, print_table
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "test":
        return _test(args, settings)
    if args.action == "check":
        return _check(args, settings)
    engine = catalog.connect(settings.catalog_url)
    rows = alerts.current(settings, engine)
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not settings.alerts:
        print("no [[alert]] is configured (see docs/monitoring.md); the conditions as they are now:")
    if not rows:
        print("nothing to watch yet: no targets, stores or mirrors")
        return EXIT_OK
    print_table(rows, [("STATE", _state_cell), ("EVENT", "event"), ("SUBJECT", "subject"),
                        ("SINCE", lambda r: r["since"] or "-"), ("ALERT", lambda r: r["alert"] or "-"),
                        ("DETAIL", "detail")])
    return EXIT_OK


def _state_cell(row: dict[str, Any]) -> str:
    if row["unsent"]:
        return f"{row['state']} (alert not delivered yet)"
    return row["state"]


def _test(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.alerts:
        raise BadInput("no [[alert]] is configured in the settings file: nothing to test (see docs/monitoring.md)")
    results = alerts.send_test(settings, catalog.connect(settings.catalog_url))
    if args.json:
        print_json(results)
    else:
        for r in results:
            print(f"{r['alert']}: {'delivered' if r['delivered'] else 'FAILED: ' + r['error']}")
    return EXIT_OK if all(r["delivered"] for r in results) else EXIT_FAILURE


def _check(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.alerts:
        raise BadInput("no [[alert]] is configured in the settings file: nothing to send (see docs/monitoring.md)")
    outcomes = alerts.evaluate(settings, catalog.connect(settings.catalog_url))
    if args.json:
        print_json([asdict(o) for o in outcomes])
    elif not outcomes:
        print("no change: nothing sent")
    else:
        for o in outcomes:
            result = "delivered" if o.delivered else f"NOT delivered ({o.error}; sent again next time)"
            print(f"{o.event} {o.state}: {o.subject} -> {o.alert}: {result}")
    return EXIT_OK if all(o.delivered for o in outcomes) else EXIT_FAILURE


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("alerts", help="alert conditions and their state; `alerts test` sends a test alert")
    p.add_argument("action", nargs="?", choices=("show", "test", "check"), default="show",
                   help="show (default): each condition's state; test: a test alert to every channel; "
                        "check: evaluate now and send what changed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_alerts)
