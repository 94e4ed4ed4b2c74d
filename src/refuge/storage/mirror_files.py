"""The stored mirror list: where its files live under the data directory, their names and
content types, and reading them back.

    DATA/mirrors/list/mirrors.json          the list
    DATA/mirrors/list/mirrors.json.minisig  its signature
    DATA/mirrors/list/mirrors.html          the list for readers
    DATA/mirrors/list/refuge.pub            the public key

:mod:`refuge.mirror.publish.mirror_list` builds and writes them (each atomically, the
signature last); the replay server only reads them, through :func:`stored`.
"""

from __future__ import annotations

from pathlib import Path

from refuge.config.settings import Settings

LIST_FILES = ("mirrors.json", "mirrors.json.minisig", "mirrors.html", "refuge.pub")
CONTENT_TYPES = {
    "mirrors.json": "application/json",
    "mirrors.json.minisig": "text/plain; charset=utf-8",
    "mirrors.html": "text/html; charset=utf-8",
    "refuge.pub": "text/plain; charset=utf-8",
}


def list_dir(settings: Settings) -> Path:
    """The folder that holds the stored list files."""
    return settings.data / "mirrors" / "list"


def stored(settings: Settings) -> dict[str, bytes] | None:
    """The list files as the replay server serves them; None before the first publish
    or check built them (the replay server never writes, nor makes keys)."""
    folder = list_dir(settings)
    try:
        return {name: (folder / name).read_bytes() for name in LIST_FILES}
    except FileNotFoundError:
        return None
