"""Where a command writes one file the user named with --out (a WACZ package, a ZIM or a
CAR bundle): checked before any work is done, so a bad --out costs nothing.

    checked_out(out, suffix, what) -> Path     OUT made absolute, its folder created
"""

from __future__ import annotations

import os
from pathlib import Path

from refuge.config.errors import BadInput


def checked_out(out: Path, suffix: str, what: str) -> Path:
    """OUT made absolute with its folder created; BadInput (one line naming --out) when its
    name does not end in SUFFIX (".wacz"), it is a directory, a parent is a file, or its
    folder cannot be made or written. WHAT names the file for the message ("a ZIM file")."""
    out = Path(out).absolute()
    if out.suffix.lower() != suffix:
        raise BadInput(f"--out {out}: {what}'s name must end in {suffix}")
    if out.is_dir():
        raise BadInput(f"--out {out}: a directory; give a file name ending in {suffix}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise BadInput(f"--out {out}: {blocking} is a file, not a folder")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out {out}: cannot create its folder ({exc.strerror or exc})") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise BadInput(f"--out {out}: its folder {out.parent} is not writable")
    return out
