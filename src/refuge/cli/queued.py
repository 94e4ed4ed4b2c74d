"""`refuge capture` in distributed mode (`queue = "postgres"`): it queues the capture
for a worker (cli/jobs.py) instead of running it, and follows it to its end."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from refuge.cli import jobs
from refuge.cli.output import EXIT_FAILURE, EXIT_OK, print_json
from refuge.config.settings import Settings
from refuge.config.targets import check_capturable
from refuge.storage import catalog


def capture_by_queue(args: argparse.Namespace, settings: Settings) -> tuple[int, dict | None]:
    """Queue a capture of target ARGS.name and, unless --no-wait, follow it to its end:
    (exit code, the capture's summary as the catalog holds it, or None with --no-wait).
    A capture a stopping worker handed back to the queue is followed on to its end."""
    engine = catalog.connect(settings.catalog_url)
    check_capturable(catalog.get_target(engine, args.name).spec)  # bad input here, not in a worker
    app = jobs.queue_app(settings)
    jobs.ensure_queue_schema(engine, app)
    with app.open():
        job: int | None = jobs.enqueue_capture(app, args.name, fresh=args.fresh)
        if args.no_wait:
            if args.json:
                print_json({"job": job, "target": args.name})
            else:
                print(f"queued capture of {args.name}: job {job}")
            return EXIT_OK, None
        print(f"queued capture of {args.name} (job {job}); waiting for a worker", file=sys.stderr)
        while job is not None:
            status = jobs.wait_for(app, job)
            newest = catalog.list_captures(engine, args.name, limit=1)
            if status != jobs.Status.SUCCEEDED or not newest:
                print(f"refuge: failed: job {job} of {args.name} ended {status.value}; see the worker's log",
                      file=sys.stderr)
                return EXIT_FAILURE, None
            summary = catalog.get_capture(engine, newest[0]["id"])
            job = jobs.active_job(app, args.name) if summary["status"] == "interrupted" else None
    summary["seconds"] = _seconds(summary["started"], summary["finished"])
    if summary["status"] == "failed":
        print(f"refuge: failed: {summary['error']}", file=sys.stderr)
        return EXIT_FAILURE, summary
    return EXIT_OK, summary


def _seconds(started: str, finished: str | None) -> float:
    if not finished:
        return 0.0
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (datetime.strptime(finished, fmt) - datetime.strptime(started, fmt)).total_seconds()
