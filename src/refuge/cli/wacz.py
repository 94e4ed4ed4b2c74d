"""`refuge wacz` (a capture as a signed WACZ package) and `refuge verify FILE.wacz` (checking
one offline; `refuge verify` in cli/replicas.py hands a .wacz path here)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_FAILURE, EXIT_OK, print_json, size
from refuge.config.settings import Settings
from refuge.storage import catalog


def cmd_wacz(args: argparse.Namespace, settings: Settings) -> int:
    from refuge.storage.wacz.package import write_wacz  # the package's stack, for this command only
    from refuge.storage.wacz.signing import ALGORITHM

    engine = catalog.connect(settings.catalog_url)
    packaged = write_wacz(settings, engine, args.name, Path(args.out), args.capture)
    if args.json:
        print_json(packaged.as_dict())
        return EXIT_OK
    print(f"packaged capture {packaged.capture_id} of {packaged.target}: {packaged.warcs} WARC file(s) "
          f"({size(packaged.warc_bytes)}), {packaged.records} index lines, {packaged.pages} pages")
    print(f"  {packaged.path} ({size(packaged.size)})")
    print(f"  signed with this archive's WACZ key ({ALGORITHM}) {packaged.fingerprint} (`refuge key --wacz`)")
    if packaged.withheld:
        print(f"  {packaged.withheld} page(s) under a takedown are not in the page list; their records stay "
              f"in the WARC files, unaltered")
    print(f"  check it with `refuge verify {packaged.path}` or `wacz validate -f {packaged.path}`")
    return EXIT_OK


def verify_package(path: Path, as_json: bool, settings: Settings) -> int:
    """`refuge verify FILE.wacz`: every problem on a line of its own and exit status 1, or a
    short summary and 0."""
    from refuge.storage.wacz.signing import fingerprint, own_public_key
    from refuge.storage.wacz.verify import verify_wacz

    check = verify_wacz(path)
    print_key = fingerprint(check.public_key) if check.public_key else None
    ours = check.public_key is not None and check.public_key == own_public_key(settings.data)
    if as_json:
        print_json({"file": str(path), **dataclasses.asdict(check), "fingerprint": print_key, "own_key": ours})
        return EXIT_OK if check.ok else EXIT_FAILURE
    if not check.ok:
        print(f"{path}: {len(check.problems) or 1} problem(s)")
        for problem in check.problems or ["the signature does not verify"]:
            print(f"  {problem}")
        return EXIT_FAILURE
    print(f"{path}: OK: every file's SHA-256 and size are the ones datapackage.json lists")
    if check.signed:
        whose = "this archive's own WACZ key" if ours else "a key to compare with one you trust"
        print(f"  signed by {print_key} ({whose}), created {check.created or '-'} "
              f"by {check.software or '-'}")
        print(f"  public key: {check.public_key}")
    else:
        print("  NOT signed: the hashes show the files are whole, not who made them")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("wacz", help="write a capture as a signed WACZ package (ReplayWeb.page, `wacz validate`)")
    p.add_argument("name")
    p.add_argument("--capture", help="capture id (default: the newest complete one)")
    p.add_argument("--out", required=True, metavar="FILE.wacz", help="the package to write (replaced if there)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_wacz)
