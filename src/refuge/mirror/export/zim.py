"""`refuge bundle NAME --format zim`: a capture's static export as one ZIM file, the format
Kiwix reads offline (Android, iOS, desktop, kiwix-serve), written with libzim.

The ZIM holds every file of the export (exporter.export_capture, not re-implemented here)
at its export path, with the type the export gives it, so the export's relative links
resolve inside the ZIM as they do on disk: kiwix-serve serves the entry at PATH as
``/<book>/PATH`` (3.3) or ``/content/<book>/PATH`` (later), a Kiwix app at its own root.
Its front page is the seed page (the export's index.html would only send a reader on
there, and a Kiwix reader pressing Back would be sent on again). Captured pages are front
articles, in the title index and in the full-text index (zim_text: Khmer made searchable
word by word); the root pages, notices and data files are not, since they name every
page and would match every search. Metadata and the 48x48 illustration come from
zim_metadata.

The full-text index is configured for English ("eng"): the language only chooses the
stemmer and stop words, which help English words (a search for "disputes" finds
"dispute"); Xapian has no Khmer stemmer, and Khmer terms pass through the English one
unchanged.

A page in another charset than UTF-8 goes into the ZIM as UTF-8 (its text unchanged, the
charset the export declared first in its head now saying utf-8): Kiwix's readers take every
page for UTF-8, and kiwix-serve 3.3 turns the bytes of any other into U+FFFD before a
browser sees them. The export and the WARC files keep the page's own bytes.

Files are streamed into libzim from disk (FileProvider, a MiB at a time; a page made UTF-8
is written to a scratch file first) and libzim holds a bounded queue of work. Xapian keeps
the postings of the pages it indexed in memory until it has XAPIAN_FLUSH_THRESHOLD of them
(10,000 by default: about half a GB of news pages with their Khmer terms); a ZIM is made
with it at XAPIAN_FLUSH_DOCS, so memory stops growing however big the export. libzim
offers no other handle on it, so it is set in the process's environment, which only
Xapian reads. The ZIM is written to a temporary name beside OUT, synced, hashed and
renamed over OUT: OUT is never half a file.
libzim prints its progress on standard output, where `--json` output goes; while it
writes, that output is sent to standard error instead.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from libzim.writer import Creator, FileProvider, Hint, IndexData, Item
from sqlalchemy import Engine

from refuge.config.errors import Failure
from refuge.config.settings import Settings
from refuge.formats import charset as charsets
from refuge.mirror.export.banner import head_meta
from refuge.mirror.export.exporter import Export, Progress, export_capture
from refuge.mirror.export.tree import ExportedFile
from refuge.mirror.export.zim_metadata import ILLUSTRATION_SIZE, ZimAbout, illustration, metadata
from refuge.mirror.export.zim_text import clear_cache, fold, index_text, khmer_terms, page_text
from refuge.storage import catalog
from refuge.storage.out_file import checked_out
from refuge.storage.warc.sealed import fsync_dir

log = logging.getLogger(__name__)

INDEX_LANGUAGE = "eng"  # see the module docstring
MIME = "application/x-zim"  # what Kiwix's catalogue calls a ZIM file
PAGE_READ_LIMIT = 8 * 1024 * 1024  # bytes of a page read for its title and index text
XAPIAN_FLUSH_DOCS = 1000  # pages whose index terms Xapian holds in memory before writing them out
_COMPRESSED_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "image/svg+xml")
_CHUNK = 1024 * 1024
_STDOUT = threading.Lock()  # one redirection of file descriptor 1 at a time: one ZIM at a time in a process


@dataclass(frozen=True)
class ZimBundle:
    path: Path
    target: str
    capture_id: str
    entries: int  # files of the export in the ZIM (metadata and indexes not counted)
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "format": "zim"}


def write_zim(settings: Settings, engine: Engine, name: str, out: Path, capture_id: str | None = None, *,
              extra_files: Mapping[str, bytes] | None = None, progress: Progress | None = None) -> ZimBundle:
    """Write a capture of target NAME (the newest complete one unless CAPTURE_ID) to OUT as a
    ZIM file (replaced if there). EXTRA_FILES go into the export's root (the mirror list).
    BadInput for an unknown target or capture, or an OUT that cannot be written."""
    out = checked_out(Path(out), ".zim", "a ZIM file")
    target = catalog.get_target(engine, name, include_removed=True)
    settings.data.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".zim-export-", dir=settings.data))
    try:
        exp = export_capture(settings, engine, name, scratch / "export", capture_id, extra_files=extra_files,
                             progress=progress)
        about = ZimAbout(target=target.name, source_url=target.spec.url, capture_id=exp.capture_id,
                         operator=settings.operator)
        return zim_from_export(exp, about, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def zim_from_export(exp: Export, about: ZimAbout, out: Path) -> ZimBundle:
    """The export EXP (a finished tree on disk) as the ZIM file OUT."""
    started = time.monotonic()
    out = Path(out).absolute()
    stem = f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}"
    tmp, scratch = out.with_name(stem + ".tmp"), out.with_name(stem + ".utf8")
    os.environ["XAPIAN_FLUSH_THRESHOLD"] = str(XAPIAN_FLUSH_DOCS)  # read when libzim opens its index
    try:
        with _stdout_to_stderr():
            creator = (Creator(tmp).config_verbose(False).config_indexing(True, INDEX_LANGUAGE)
                       .config_nbworkers(max(1, min(os.cpu_count() or 1, 4))))
            with creator:
                creator.set_mainpath(exp.seed_path)
                for name, text in metadata(about).items():
                    creator.add_metadata(name, text)
                creator.add_illustration(ILLUSTRATION_SIZE, illustration())
                pages = set(exp.pages)
                for f in exp.files:
                    creator.add_item(_item(exp.root, f, f.path in pages, scratch))
        shutil.rmtree(scratch, ignore_errors=True)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        size, digest = _size_and_sha256(tmp)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except RuntimeError as exc:  # libzim's errors: a path it refuses, a disk that filled
        _discard(tmp, scratch)
        raise Failure(f"ZIM of {exp.target} capture {exp.capture_id}: libzim: {exc}") from None
    except BaseException:
        _discard(tmp, scratch)
        raise
    finally:
        clear_cache()  # the terms of this site's runs are of no use to the next ZIM
    log.info("wrote ZIM of %s capture %s to %s: %d entries, %d bytes in %.2f s", exp.target, exp.capture_id, out,
             len(exp.files), size, time.monotonic() - started)
    return ZimBundle(path=out, target=exp.target, capture_id=exp.capture_id, entries=len(exp.files), size=size,
                     sha256=digest)


# -- entries ---------------------------------------------------------------------------------

class _FileItem(Item):
    """One file of the export, streamed from disk."""

    def __init__(self, path: str, source: Path, mimetype: str, title: str, hints: dict[Hint, int],
                 index: IndexData | None) -> None:
        super().__init__()
        self._path, self._source, self._mimetype, self._title = path, source, mimetype, title
        self._hints, self._index = hints, index

    def get_path(self) -> str:
        return self._path

    def get_title(self) -> str:
        return self._title

    def get_mimetype(self) -> str:
        return self._mimetype

    def get_contentprovider(self) -> FileProvider:
        return FileProvider(str(self._source))

    def get_hints(self) -> dict[Hint, int]:
        return self._hints

    def get_indexdata(self) -> IndexData | None:  # None: not in the full-text index
        return self._index


class _PageIndex(IndexData):
    """What the full-text index holds for a page (zim_text)."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self._title, self._text = title, text

    def has_indexdata(self) -> bool:
        return bool(self._title or self._text)

    def get_title(self) -> str:
        return self._title

    def get_content(self) -> str:
        return index_text(self._text)

    def get_keywords(self) -> str:
        # A Khmer title is one long "word" to Xapian: its terms (and the title folded) weigh as the title does.
        terms, folded = khmer_terms(self._title), fold(self._title)
        return " ".join([folded, *terms] if folded != self._title.lower() else terms)

    def get_wordcount(self) -> int:
        return len(self._text.split())

    def get_geoposition(self) -> tuple[float, float] | None:
        return None


def _item(root: Path, f: ExportedFile, page: bool, scratch: Path) -> _FileItem:
    source = root / f.path
    compress = f.content_type.startswith(_COMPRESSED_TYPES)
    hints = {Hint.COMPRESS: compress, Hint.FRONT_ARTICLE: page}
    if not f.content_type.startswith("text/html"):
        return _FileItem(f.path, source, f.content_type, "", hints, None)
    with open(source, "rb") as fh:
        head = fh.read(PAGE_READ_LIMIT)
    codec = charsets.html_charset(f.content_type, head)
    mimetype = f.content_type
    if codec != "utf-8":
        source, mimetype = _as_utf8(source, codec, _label(f.content_type), scratch), "text/html; charset=utf-8"
    if not page:
        return _FileItem(f.path, source, mimetype, "", hints, None)
    title, text = page_text(head, codec)
    return _FileItem(f.path, source, mimetype, title or f.path.rsplit("/", 1)[-1], hints, _PageIndex(title, text))


def _label(content_type: str) -> str:
    """The charset parameter of CONTENT_TYPE, as the export wrote it."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip().strip('"')
    return ""


def _as_utf8(source: Path, codec: str, label: str, scratch: Path) -> Path:
    """A copy of the page SOURCE (in CODEC) in UTF-8, in SCRATCH; the charset the export put
    first in its head (head_meta, declared as LABEL) now says utf-8."""
    scratch.mkdir(exist_ok=True)
    copy = scratch / f"{len(os.listdir(scratch))}.html"
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    declared, utf8 = head_meta(label), head_meta("utf-8")
    first = True
    with open(source, "rb") as src, open(copy, "xb") as dst:
        while chunk := src.read(_CHUNK):
            text = decoder.decode(chunk)
            if first:  # the export puts its own declaration at the start of <head>
                text, first = text.replace(declared, utf8, 1), False
            dst.write(text.encode("utf-8", "replace"))
        dst.write(decoder.decode(b"", True).encode("utf-8", "replace"))
    return copy


def _discard(tmp: Path, scratch: Path) -> None:
    tmp.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)


def _size_and_sha256(path: Path) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 points at standard error inside the block (libzim prints from C++)."""
    with _STDOUT:
        sys.stdout.flush()
        try:
            saved = os.dup(1)
            os.dup2(2, 1)
        except OSError:  # no standard output or error at all: nothing to protect
            yield
            return
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)
