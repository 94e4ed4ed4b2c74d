"""`refuge bundle NAME --format zim|car --out FILE`: a capture as one file a reader can carry
and pass on: a ZIM for Kiwix (mirror.export.zim) or a CAR of the published IPFS mirror
(mirror.publish.car). Each format's stack is imported only when it is asked for."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from refuge.cli.output import EXIT_OK, print_json, size
from refuge.config.settings import Settings
from refuge.storage import catalog

FORMATS = ("zim", "car")


def cmd_bundle(args: argparse.Namespace, settings: Settings) -> int:
    engine = catalog.connect(settings.catalog_url)
    catalog.get_target(engine, args.name, include_removed=True)  # a one-line error for an unknown name
    bundle = _zim(args, settings, engine) if args.format == "zim" else _car(args, settings, engine)
    if args.json:
        print_json(bundle.as_dict())
        return EXIT_OK
    print(f"bundled capture {bundle.capture_id} of {bundle.target} as {args.format.upper()}: {bundle.path} "
          f"({size(bundle.size)})")
    print(f"  SHA-256 {bundle.sha256}")
    if args.format == "zim":
        print(f"  {bundle.entries} files of the export; open it in Kiwix, or `kiwix-serve {bundle.path}`")
    else:
        print(f"  root {bundle.root_cid}, {bundle.blocks} blocks; `ipfs dag import {bundle.path}` brings the "
              f"mirror back under the same address")
    return EXIT_OK


def _zim(args: argparse.Namespace, settings: Settings, engine: Any) -> Any:
    from refuge.cli.progress import step_progress
    from refuge.mirror.export.zim import write_zim
    from refuge.mirror.publish import mirror_list
    from refuge.storage.out_file import checked_out

    out = checked_out(Path(args.out), ".zim", "a ZIM file")  # before the export: a bad --out costs nothing
    with step_progress(f"bundle {args.name}: export", "files", wanted=not args.json) as progress:
        return write_zim(settings, engine, args.name, out, args.capture,
                         extra_files=mirror_list.build_files(settings, engine), progress=progress)


def _car(args: argparse.Namespace, settings: Settings, engine: Any) -> Any:
    from refuge.mirror.publish.car import write_car

    return write_car(settings, engine, args.name, Path(args.out), args.capture)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("bundle", help="write a capture as one file to carry: a ZIM for Kiwix, or a CAR of the "
                                      "IPFS mirror")
    p.add_argument("name")
    p.add_argument("--capture", help="capture id (default: the newest complete one)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="zim: the static export for Kiwix; car: the published IPFS mirror, same CID")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write (.zim or .car; replaced if there)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_bundle)
