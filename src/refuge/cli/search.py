"""`refuge search QUERY [--target NAME] [--since DATE] [--until DATE] [--page N] [--json]`:
captured pages that contain every word of QUERY (Khmer and English alike; storage.catalog.search
says how), each with its title, its replay URL on this machine's `refuge serve`, its target and
capture time, and a snippet with the matches marked ([brackets], or bold on a terminal).
`refuge search --reindex [NAME]`: rebuild the search index of target NAME (every target's
without one), for captures made before search existed or after the text extraction changed.

Exit status: 0 (no match is not an error); 2 for a query that cannot be run (empty, too long,
too many words, no word of three characters), an unknown target or a bad date, with one line
saying which. Archived text is printed without its control characters: a page cannot move the
terminal's cursor or reorder its line.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from typing import Any

from refuge.cli.output import EXIT_OK, print_json
from refuge.config.errors import BadInput
from refuge.config.settings import Settings
from refuge.mirror.replay.policy import archive_url
from refuge.storage import catalog
from refuge.storage.catalog import search as searching
from refuge.storage.catalog.search_query import QueryError, terms

ALL = "\0all"  # --reindex without a NAME
# C0 and C1 controls, and the marks that reorder text (bidirectional overrides and isolates).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    if args.reindex is not None:
        if args.query is not None:
            raise BadInput("--reindex rebuilds the index: give it a target's NAME, not a QUERY")
        return _reindex(args, settings)
    if args.query is None:
        raise BadInput("give a QUERY to search for (or --reindex to rebuild the index)")
    try:
        terms(args.query)  # bad input touches nothing, not even a new catalog
        engine = catalog.connect(settings.catalog_url)
        results = searching.search(engine, args.query, target=args.target, since=args.since, until=args.until,
                                   page=args.page, page_size=args.page_size)
    except QueryError as exc:
        raise BadInput(str(exc)) from None
    base = replay_base(settings)
    if args.json:
        print_json({"query": results.query, "total": results.total, "total_capped": results.total_capped,
                    "page": results.page,
                    "page_size": results.page_size,
                    "hits": [{"target": h.target, "url": h.url, "timestamp": h.timestamp, "title": h.title,
                              "lang": h.lang, "replay_url": base + archive_url(h.timestamp, "", h.url),
                              "snippet": [[piece, matched] for piece, matched in h.snippet]}
                             for h in results.hits]})
        return EXIT_OK
    _print(results, base, bold=sys.stdout.isatty())
    return EXIT_OK


def replay_base(settings: Settings) -> str:
    """The address of this machine's replay server (`refuge serve`), as a browser here reaches it."""
    host = settings.host if settings.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _print(results: searching.Results, base: str, bold: bool) -> None:
    if not results.total:
        print(f"no page found for {_clean(results.query)}")
        return
    pages = -(-results.total // results.page_size)
    first = (results.page - 1) * results.page_size
    found = f"at least {results.total}" if results.total_capped else str(results.total)
    print(f"{found} page(s) found for {_clean(results.query)}; page {results.page} of {pages}")
    for n, hit in enumerate(results.hits, first + 1):
        print()
        print(f"{n}. {_clean(hit.title) or _clean(hit.url)}")
        print(f"   {base + archive_url(hit.timestamp, '', _clean(hit.url))}")
        when = f"{hit.timestamp[0:4]}-{hit.timestamp[4:6]}-{hit.timestamp[6:8]} {hit.timestamp[8:10]}:" \
               f"{hit.timestamp[10:12]} UTC"
        print(f"   {hit.target} · {when}" + (f" · {hit.lang}" if hit.lang else ""))
        if hit.snippet:
            print("   " + "".join(_mark(_clean(piece), bold) if matched else _clean(piece)
                                  for piece, matched in hit.snippet))
    if not results.hits:
        print(f"\n(page {results.page} is past the last page, {pages})")
    elif results.page < pages:
        print(f"\nnext: --page {results.page + 1}")


def _mark(text: str, bold: bool) -> str:
    return f"\033[1m{text}\033[0m" if bold else f"[{text}]"


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("", text)


def _reindex(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    name = None if args.reindex == ALL else args.reindex
    try:
        done = searching.reindex(engine, settings, name)
    except LookupError:
        raise BadInput(f"target {name!r}: no such target (see `refuge targets`)") from None
    problem = searching.trigram_problem(engine)
    if args.json:
        print_json({**done.as_dict(), "warning": problem})
        return EXIT_OK
    what = f"target {name}" if name else f"{done.targets} target(s)"
    print(f"reindexed {what}: {done.pages} pages of {done.captures} capture(s), {done.rows} in the index "
          f"(one per page and content), {done.seconds:.1f} s")
    if problem:
        print(f"refuge: warning: {problem}", file=sys.stderr)
    return EXIT_OK


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _page(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a page number (1, 2, ...)")
    return int(text)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("search", help="find captured pages by their words (Khmer and English); --reindex rebuilds")
    p.add_argument("query", metavar="QUERY", nargs="?",
                   help='words every page found contains ("quoted words" as one phrase)')
    p.add_argument("--target", metavar="NAME", help="only this target's pages")
    p.add_argument("--since", metavar="DATE", type=_date, help="only pages captured on or after DATE (YYYY-MM-DD)")
    p.add_argument("--until", metavar="DATE", type=_date, help="only pages captured on or before DATE (YYYY-MM-DD)")
    p.add_argument("--page", metavar="N", type=_page, default=1, help="page N of the results (default 1)")
    p.add_argument("--page-size", dest="page_size", metavar="N", type=_page, default=20,
                   help=f"results per page (default 20, at most {searching.MAX_PAGE_SIZE})")
    p.add_argument("--reindex", metavar="NAME", nargs="?", const=ALL,
                   help="rebuild the index of target NAME (all targets' without NAME) from its captures")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_search)
