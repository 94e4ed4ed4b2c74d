"""`refuge export`: one capture of a target as a self-contained static site.

Every captured page and file is written once, at a path derived from its URL
(export.paths, export.plan), with every link between them relative (export.policy),
so the same tree works from a static server under any prefix, an S3 bucket, an IPFS
gateway, file:// and a USB stick. A redirect that was captured is not a file: links
to it go straight to where it led. At the root: ``index.html`` (opens the seed page),
``contents.html`` (every page), ``search.html`` (search over the pages, offline:
export.offline_search), ``mirrors.html`` (the mirror list, or a placeholder),
``refuge-export.json`` (every file with its SHA-256: how a later export recognises
the folder), and for a database target ``data/`` (the records, searchable offline).

A page captured with a browser is written from its rendered DOM, with no script that runs,
so what the page's scripts built (lists fetched from an API, images swapped in when
scrolled to, "Load more" batches, bodies from <template>s) is there without JavaScript; its
screenshot is a file beside it, linked from its banner (export.plan).

A URL taken down (``refuge hide``, storage.catalog.hidden) when the export is made is
left out: no file, not in contents.html, not in data/. Links to it lead to
``withheld/<takedown id>.html``, a bilingual notice with the takedown's reason, since a
link that says why a page is gone is kinder to a reader than one that leads nowhere;
the notice does not name the URL. The WARC files are not touched.

The tree is built in a temporary folder beside OUT and swapped in whole, so OUT never
holds half an export. The same capture always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from html import unescape
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.config.errors import BadInput, Failure
from refuge.config.settings import Settings
from refuge.formats import charset as charsets
from refuge.formats.charset import rewrite_chunks
from refuge.formats.html import utf8_view
from refuge.formats.html.rewriter import HtmlRewriter
from refuge.formats.html.rewriter import prepare as prepare_rewriter
from refuge.mirror.export.banner import banner, charset_label, head_meta
from refuge.mirror.export.data import write_data_index
from refuge.mirror.export.offline_search import NAMES as SEARCH_NAMES
from refuge.mirror.export.offline_search import write_search
from refuge.mirror.export.paths import media_type, rel_href, served_type, type_of_extra
from refuge.mirror.export.plan import WITHHELD, Plan
from refuge.mirror.export.policy import ExportPolicy, folder_of, rewrite_stylesheet
from refuge.mirror.export.root import contents_page, index_page, mirrors_placeholder
from refuge.mirror.export.site import Site
from refuge.mirror.export.tree import ExportedFile, Hashed, Tree, swap_in
from refuge.mirror.pages.withheld import withheld_page
from refuge.storage import catalog
from refuge.storage.capture_records import read_capture_records
from refuge.storage.catalog import hidden, snapshots
from refuge.storage.catalog.index import Hit
from refuge.storage.warc.files import WarcFiles, warc_files
from refuge.storage.warc.payloads import open_payload
from refuge.storage.warc.records import content_encoding, decoded_stream

log = logging.getLogger(__name__)

MANIFEST = "refuge-export.json"
FORMAT = "refuge-export"
ROOT_NAMES = frozenset({"index.html", "contents.html", "mirrors.html", MANIFEST, "data", WITHHELD}) | SEARCH_NAMES
CHUNK = 1024 * 1024
CSS_LIMIT = 64 * 1024 * 1024  # a bigger stylesheet is copied as it is
Progress = Callable[[int, "int | None", int], None]  # (files written, of how many, bytes)
PARALLEL_PAGES = 150  # from this many pages on, worker processes share the work (see _write_all)
MAX_WORKERS = 8


@dataclass(frozen=True)
class Export:
    target: str
    capture_id: str
    root: Path
    seed_path: str
    files: list[ExportedFile]
    digest: str
    pages: list[str]


def export_capture(settings: Settings, engine: Engine, target_name: str, out: Path,
                   capture_id: str | None = None, *, extra_files: Mapping[str, bytes] | None = None,
                   progress: Progress | None = None) -> Export:
    """Write a capture of TARGET_NAME (the newest complete one unless CAPTURE_ID) into OUT.

    OUT is created if missing and replaced whole if it holds an earlier export; any
    other non-empty OUT is refused (BadInput), as are an unknown target or capture.
    EXTRA_FILES (name -> bytes) go at the root with role "list". PROGRESS hears (files
    written, of how many, their bytes) as the captured files are written.
    """
    started = time.monotonic()
    target = catalog.get_target(engine, target_name, include_removed=True)
    capture_id = catalog.pick_capture(engine, target_name, capture_id, "export")
    extra = _check_extra(extra_files or {})
    out = Path(out).absolute()
    _check_out(out)
    files = warc_files(settings, engine)
    takedowns = hidden.active(engine)
    plan = Plan(read_capture_records(engine, files, capture_id), ROOT_NAMES | set(extra), takedowns)
    if not plan.paths:
        raise BadInput(f"capture {capture_id} of {target_name!r}: nothing to export (no successful response"
                       + (", or every one hidden: see `refuge hidden`)" if plan.withheld else ")"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.refuge-{os.getpid()}-{secrets.token_hex(4)}"
    os.mkdir(tmp)
    try:
        tree = Tree(tmp)
        site = Site(target.spec.url)
        titles = _write_all(files, plan, tree, Pages(site, {}), progress)
        pages = sorted(titles)
        seed_path = plan.lookup(target.spec.url)
        if seed_path is None or seed_path in plan.notices:  # the site opens at a page it has
            seed_path = pages[0] if pages else min(plan.paths.values())
        for path, takedown in sorted(plan.notices.items()):
            tree.write(path, withheld_page(takedown["reason"], home="../index.html"), "index",
                       "text/html; charset=utf-8")
        has_data = target.spec.kind == "database" and snapshots.snapshot(engine, capture_id) is not None
        if has_data:
            _write_data(engine, target_name, capture_id, plan, tree, takedowns)
        ts = capture_id[:14]
        tree.write("contents.html", contents_page(target_name, ts, titles, plan), "index",
                   "text/html; charset=utf-8")
        write_search(tree, titles, {path: plan.urls[key] for key, path in plan.paths.items()}, target_name, ts)
        tree.write("index.html", index_page(target_name, target.spec.url, ts, seed_path, has_data), "index",
                   "text/html; charset=utf-8")
        if "mirrors.html" not in extra:
            tree.write("mirrors.html", mirrors_placeholder(), "list", "text/html; charset=utf-8")
        for name, data in sorted(extra.items()):
            tree.write(name, data, "list", type_of_extra(name))
        listed = [f for f in tree.files if f.role != "list"]
        tree.write(MANIFEST, _manifest(target_name, capture_id, target.spec.url, seed_path, listed), "index",
                   "application/json")
        files = sorted(tree.files, key=lambda f: f.path)
        swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    digest = hashlib.sha256("".join(f"{f.path} {f.sha256}\n" for f in files if f.role != "list")
                            .encode("utf-8")).hexdigest()
    log.info("exported %s capture %s to %s: %d files in %.2f s", target_name, capture_id, out, len(files),
             time.monotonic() - started)
    return Export(target=target_name, capture_id=capture_id, root=out, seed_path=seed_path, files=files,
                  digest=digest, pages=pages)


# -- checking what was asked ---------------------------------------------------------

def _check_extra(extra: Mapping[str, bytes]) -> dict[str, bytes]:
    for name in extra:
        if (not name or "/" in name or "\\" in name or name.startswith(".") or name in ROOT_NAMES - {"mirrors.html"}
                or not all(c.isalnum() or c in "._-" for c in name)):
            raise BadInput(f"extra file {name!r}: must be a plain file name other than {sorted(ROOT_NAMES)}")
    return {name: bytes(data) for name, data in extra.items()}


def _is_export(folder: Path) -> bool:
    try:
        doc = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise BadInput(f"--out {out}: not a directory")
    if os.path.ismount(out):  # the tree is built beside OUT and swapped in: not possible for a mount point
        raise BadInput(f"--out {out}: a mount point; give a folder inside it (such as {out / 'mirror'})")
    if out.is_dir() and any(out.iterdir()) and not _is_export(out):
        raise BadInput(f"--out {out}: not empty and not a Refuge export (no {MANIFEST}); "
                       "give an empty or new directory")


# -- writing ---------------------------------------------------------------------------------

def _single_threaded() -> bool:
    return threading.active_count() == 1


@dataclass
class Pages:
    """What the pages of one export share: the site (whose scripts run), and the rewriter's
    memos, one for each folder of pages (export.policy.folder_of) and way of reading them."""

    site: Site
    memos: dict[tuple[str, str, bool], dict[str, str]]


def _write_all(files: WarcFiles, plan: Plan, tree: Tree, pages: Pages,
               progress: Progress | None = None) -> dict[str, str]:
    """Write every captured file; {path: title} of the pages. The HTML parser is pure Python,
    so many pages are shared out to forked worker processes (where forking is safe: Linux,
    a process with no other thread), each writing its own files."""
    global _JOB
    jobs = sorted(plan.paths.items(), key=lambda kv: kv[1])
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    written = 0  # bytes, for PROGRESS
    if len(plan.pages) >= PARALLEL_PAGES and workers > 1 and sys.platform == "linux" and _single_threaded():
        _JOB = (files, plan, tree, pages)
        prepare_rewriter()  # compiled once, inherited by every worker
        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = []
                for part in pool.imap_unordered(_write_part, _shares(jobs, plan, workers)):
                    results.extend(part)
                    written = _told(progress, part, written, len(results), len(jobs))
        finally:
            _JOB = None
    else:
        results = []
        for key, path in jobs:
            results.append(_write_entry(files, plan, tree, pages, key, path))
            written = _told(progress, results[-1:], written, len(results), len(jobs))
    results.sort(key=lambda r: r[0].path)  # in path order, however the workers finished
    titles = {}
    for file, title in results:
        tree.files.append(file)
        if title is not None:
            titles[file.path] = title
    return titles


def _told(progress: Progress | None, new: list[tuple[ExportedFile, str | None]], written: int, done: int,
          total: int) -> int:
    """Bytes written so far, NEW's included; told to PROGRESS with the files done."""
    written += sum(f.size for f, _title in new)
    if progress is not None:
        progress(done, total, written)
    return written


_JOB: tuple[WarcFiles, Plan, Tree, Pages] | None = None  # what forked workers inherit


def _shares(jobs: list[tuple[str, str]], plan: Plan, workers: int) -> list[list[tuple[str, str]]]:
    """JOBS (in path order) cut into WORKERS runs of about equal work. Each worker takes one
    run, so the pages of a folder mostly go to one worker, and what the site's pages share
    (their navigation, rewritten once per folder: Pages.memos) is worked out once."""
    def cost(key: str) -> int:  # a page is parsed and rewritten; anything else is copied
        return 4096 + plan.hits[key].length * (6 if key in plan.pages else 1)

    costs = [cost(key) for key, _path in jobs]
    share = sum(costs) / workers
    runs: list[list[tuple[str, str]]] = [[]]
    done = 0
    for job, c in zip(jobs, costs):
        if done >= share * len(runs) and len(runs) < workers:
            runs.append([])
        runs[-1].append(job)
        done += c
    return runs


def _write_part(jobs: list[tuple[str, str]]) -> list[tuple[ExportedFile, str | None]]:
    assert _JOB is not None
    files, plan, tree, pages = _JOB
    return [_write_entry(files, plan, tree, pages, key, path) for key, path in jobs]


def _write_entry(files: WarcFiles, plan: Plan, tree: Tree, pages: Pages, key: str,
                 path: str) -> tuple[ExportedFile, str | None]:
    """Write the captured file of KEY (a canonical URL in the plan) at PATH; its entry and, for
    a page, its title (possibly "")."""
    hit = plan.hits[key]
    page = key in plan.pages
    dom = plan.doms.get(key) if page else None  # what the browser rendered, if it was one
    with ExitStack() as stack:
        try:
            record, source = (dom, None) if dom is not None else (hit, plan.sources.get(key))
            head, body = stack.enter_context(open_payload(files, record, source))
            ctype = head.http_headers.get_header("Content-Type") if head.http_headers else None
            stream = decoded_stream(body, content_encoding(body))
            if stream is None:  # an encoding this Python cannot undo: the bytes as stored
                stream, page = body.raw_stream, False
            mime = media_type(ctype) or media_type(hit.mime)
            out = Hashed(stack.enter_context(tree.open(path)))
            title = None
            if page:
                title, label = _write_html(stream, ctype, hit, path, plan.lookup, pages, out, dom,
                                           plan.screenshot_path(key))
                content_type = f"text/html; charset={label}"
            elif mime == "text/css":
                content_type = _write_css(stream, ctype, hit, path, plan.lookup, out)
            else:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                content_type = served_type(ctype, mime, path)
        except Failure as exc:
            raise Failure(f"export of {hit.url}: {exc}") from None
        except (OSError, EOFError, ValueError) as exc:
            if isinstance(exc, OSError) and exc.filename is not None:
                raise
            raise Failure(f"export of {hit.url}: the archived record cannot be read ({exc})") from None
    when = _capture_time(hit.timestamp)
    if when is not None:  # the file's time is the capture's: a static server's Last-Modified says when it was captured
        try:
            tree.set_time(path, when)
        except OSError:
            pass
    return ExportedFile(path, out.sha.hexdigest(), out.size, content_type, "page" if page else "asset"), title


@lru_cache(maxsize=256)
def _capture_time(timestamp: str) -> float | None:
    try:
        return datetime.strptime(timestamp[:14], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _write_html(stream: Any, ctype: str | None, hit: Hit, path: str, lookup: Callable[[str], str | None],
                pages: Pages, out: Hashed, dom: Hit | None = None, screenshot: str | None = None) -> tuple[str, str]:
    """Write the page HIT at PATH (from its rendered DOM, the record DOM, if it has one);
    its title and charset label."""
    read = stream.read
    chunk = read(CHUNK)
    codec = charsets.html_charset(ctype, chunk[:4096])
    label = charset_label(codec)
    view = utf8_view.usable(codec)
    if view:
        dec, enc = utf8_view.decoder(), utf8_view.encoder()
    else:
        dec, enc = charsets.decoder(codec), charsets.encoder(codec)
    when = dom.timestamp if dom is not None else hit.timestamp
    policy = ExportPolicy(hit.url, path, lookup, pages.site, head_meta(label), banner(hit.url, when, path, screenshot),
                          scripts=dom is None)
    memo = pages.memos.setdefault((*folder_of(hit.url, path), view), {})
    rewriter = HtmlRewriter(policy, view=view, memo=memo)
    for data in rewrite_chunks(read, chunk, dec, enc, rewriter, CHUNK):
        out.write(data)
    return unescape(rewriter.title), label


def _write_css(stream: Any, ctype: str | None, hit: Hit, path: str, lookup: Callable[[str], str | None],
               out: Hashed) -> str:
    data = stream.read(CSS_LIMIT + 1)
    codec = charsets.css_charset(ctype, data[:4096])
    if len(data) > CSS_LIMIT:
        out.write(data)
        while chunk := stream.read(CHUNK):
            out.write(chunk)
    else:
        text = charsets.decoder(codec).decode(data, True)
        out.write(charsets.encoder(codec).encode(rewrite_stylesheet(text, hit.url, path, lookup), True))
    return f"text/css; charset={charset_label(codec)}"


def _write_data(engine: Engine, target_name: str, capture_id: str, plan: Plan, tree: Tree,
                takedowns: hidden.Takedowns) -> None:
    def href(url: str, _ts: str) -> str | None:
        path = plan.lookup(url.split("#", 1)[0])
        return rel_href("data/index.html", path) if path else None

    def withheld(url: str) -> bool:
        return bool(takedowns) and takedowns.for_url(url) is not None

    types = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
    for written in write_data_index(engine, target_name, tree.root / "data", href, capture_id, home="../index.html",
                                    withheld=withheld):
        data = written.read_bytes()
        tree.add(f"data/{written.name}", hashlib.sha256(data).hexdigest(), len(data),
                 types.get(written.suffix, "application/octet-stream"), "data")


def _manifest(target_name: str, capture_id: str, seed_url: str, seed_path: str, files: list[ExportedFile]) -> bytes:
    """refuge-export.json: the export, then each file on a line of its own, in path order
    (what a reader compares or greps; json.dumps with indent= would also take five times as
    long, in Python rather than C)."""
    dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
    head = dumps({"format": FORMAT, "version": 1, "target": target_name, "capture": capture_id,
                  "seed_url": seed_url, "seed_path": seed_path})
    lines = ",\n".join("  " + dumps({"path": f.path, "sha256": f.sha256, "size": f.size,
                                      "content_type": f.content_type, "role": f.role})
                       for f in sorted(files, key=lambda f: f.path))
    return (head[:-1] + ',\n "files": [\n' + lines + "\n ]}\n").encode("utf-8")


