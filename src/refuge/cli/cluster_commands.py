"""The commands of distributed mode (`queue = "postgres"`): `refuge worker`, `refuge
scheduler`, `refuge cluster`. Each loads the queue's stack when it runs, so the other
commands stay quick to start."""

from __future__ import annotations

import argparse
from typing import Any

from refuge.cli.output import EXIT_OK
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.storage import catalog


def _distributed(command: str, settings: Settings) -> None:
    if not settings.queue:
        raise BadInput(f'refuge {command} is for distributed mode: set queue = "postgres" and a PostgreSQL '
                       f'database_url (see docs/scaling.md)')


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    _distributed("worker", settings)
    from refuge.cli import jobs

    jobs.run_worker(settings, catalog.connect(settings.catalog_url), args.concurrency)
    return EXIT_OK


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    _distributed("scheduler", settings)
    from refuge.cli.cluster_scheduler import cmd_scheduler_loop

    cmd_scheduler_loop(settings, catalog.connect(settings.catalog_url))
    return EXIT_OK


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    _distributed("cluster", settings)
    from refuge.cli.cluster import print_status

    return print_status(settings, args.json)


def add_parsers(sub: Any, at_least_one: Any) -> None:
    worker = sub.add_parser("worker", help='run queued jobs (queue = "postgres"), on any machine')
    worker.add_argument("--concurrency", type=at_least_one, default=1, help="jobs at once (default 1)")
    worker.set_defaults(handler=cmd_worker)

    scheduler = sub.add_parser("scheduler", help="queue each job when it is due (one active per cluster)")
    scheduler.set_defaults(handler=cmd_scheduler)

    cluster = sub.add_parser("cluster", help="workers, their jobs, what waits, what stalled or failed")
    cluster.add_argument("--json", action="store_true")
    cluster.set_defaults(handler=cmd_cluster)
