"""Search step of the benchmark: the full-text index of the 2,000-page site (issue 18).

The site is the capture step's (`--pages`, cached in bench/.work; its pages are 60% Khmer
paragraphs and 40% English ones, every page declared `lang="km"`), served by the same server
and captured once by `refuge capture`, untimed (its end indexes the pages). Then:

- indexing: the capture's rows are deleted from the index and the capture indexed again, as
  its end does (storage.catalog.search.index_capture, in this process), `--repeat` times; the
  median time over the pages indexed is the time per page. `refuge search --reindex bench`
  (which deletes the rows too) is run once besides, for its wall time;
- queries, in this process through the library the replay server and the CLI call
  (storage.catalog.search.search, page 1 of 20 results): QUERIES words of each language
  drawn from the site's vocabulary (each is on most pages: ranking and de-duplicating them
  all is the work) and QUERIES rarer two-word queries (an article's number in its title),
  each run REPEAT times after one warm-up run; p50 and p95 per kind;
- the peer: the same words found by a plain `LIKE '%word%'` scan over the same stored text
  in the same SQLite file, newest first, with no trigram index and no ranking: what search
  costs without one (the ratio is the scan's p95 over search's, for the site's words, which
  are on nearly every page, and for the rare queries);
- size: the index's tables and indexes in the catalog (SQLite's dbstat), against the
  capture's WARC files.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import procs
import sitegen
import siteserver
from captures import capture_refuge, detail, parse_json_out, refuge_bin, refuge_env, tail

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
MIB = 1024 * 1024
QUERIES = 20  # words per kind
REPEAT = 5  # runs of each query
P95_GOAL = 0.100  # seconds: issue 18's goal for a query's p95


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _reindex(data: Path) -> dict[str, Any]:
    cmd = [str(refuge_bin()), "--data", str(data), "search", "--reindex", "bench", "--json"]
    r = procs.run_measured(cmd, env=refuge_env(data), log=WORK / "search-reindex", timeout=1800)
    doc = parse_json_out(r.stdout)
    if r.returncode != 0 or doc is None:
        return {"ok": False, "error": f"refuge search --reindex exited {r.returncode}: {tail(r.stderr + r.stdout)}"}
    return {"ok": True, "wall": r.seconds, **doc}


def _index_once(engine: Any, settings: Any, capture_id: str) -> tuple[float, int]:
    from sqlalchemy import delete, text

    from refuge.storage.catalog.schema import search_pages
    from refuge.storage.catalog.search import index_capture

    with engine.begin() as conn:
        conn.execute(delete(search_pages))
        conn.execute(text("INSERT INTO search_fts(search_fts) VALUES ('optimize')"))
    t0 = time.perf_counter()
    pages = index_capture(engine, settings, capture_id)
    return time.perf_counter() - t0, pages


def _timed(queries: list[str], run: Any) -> list[float]:
    for q in queries:
        run(q)  # warm: the first read of each posting list comes from disk
    times = []
    for _ in range(REPEAT):
        for q in queries:
            t0 = time.perf_counter()
            run(q)
            times.append(time.perf_counter() - t0)
    return times


def _sizes(catalog_file: Path) -> dict[str, int]:
    """Bytes of the search index's parts in the catalog: its rows (title and text) and their
    key, and the FTS5 index."""
    with sqlite3.connect(catalog_file) as conn:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
    parts = {"rows": 0, "fts": 0}
    for name, size in rows:
        if name.startswith("search_fts"):
            parts["fts"] += size
        elif name == "search_pages" or name.startswith("sqlite_autoindex_search_pages"):
            parts["rows"] += size
    return parts


def run(args: Any, results: dict, ensure_site: Any) -> bool:
    """The search step: one `search:` line, details, results['search']."""
    from refuge.config.settings import Settings
    from refuge.storage import catalog
    from refuge.storage.catalog.search import search

    res: dict[str, Any] = {}
    results["search"] = res
    errors: list[str] = results["errors"]
    root = WORK / f"site-{args.pages}"
    ensure_site(root, args.pages, args.seed)
    server = siteserver.SiteServer(WORK / "search-server", args.server)
    try:
        site = server.start({"search": root})[0]
        cap = capture_refuge(site, "bench", WORK / "search-data", server)
    finally:
        server.stop()
    if not cap["ok"]:
        errors.append(f"search: the capture to index failed: {cap['error']}")
        return False
    data = Path(cap["data_dir"])
    warc_bytes = cap["warc"]["bytes"]

    rebuilt = _reindex(data)
    if not rebuilt["ok"]:
        errors.append(f"search: {rebuilt['error']}")
        return False
    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    runs = [_index_once(engine, settings, cap["json"]["id"]) for _ in range(max(1, args.repeat))]
    seconds, pages = sorted(runs)[(len(runs) - 1) // 2]
    res.update(pages=pages, rows=rebuilt["rows"], index_seconds=seconds, index_seconds_all=[r[0] for r in runs],
               index_ms_per_page=1000 * seconds / pages, reindex_wall=rebuilt["wall"],
               capture_wall=cap["seconds"], capture_own=cap["json"]["seconds"])
    rng = random.Random(args.seed)
    kinds = {
        "khmer": rng.sample(sorted({w for w in sitegen.KHMER_WORDS if len(w) >= 3}), QUERIES),
        "english": rng.sample(sorted({w for w in sitegen.ENGLISH_WORDS if len(w) >= 3}), QUERIES),
        "rare": [f"Article {n:05d}" for n in rng.sample(range(1, pages - 100), QUERIES)],
    }
    found = {kind: [search(engine, q).total for q in queries] for kind, queries in kinds.items()}
    catalog_file = Path(settings.catalog_url.removeprefix("sqlite:///"))
    peer = sqlite3.connect(catalog_file)

    def like_scan(q: str) -> list:
        # What a search without a trigram index does: every term LIKE'd over every stored text.
        terms = q.split()
        where = " AND ".join("(title || ' ' || text) LIKE ?" for _ in terms)
        return peer.execute(f"SELECT id FROM search_pages WHERE {where} ORDER BY last_ts DESC",
                            [f"%{t}%" for t in terms]).fetchall()

    for kind, queries in kinds.items():
        ours = _timed(queries, lambda q: search(engine, q))
        theirs = _timed(queries, like_scan)
        res[kind] = {"queries": queries, "matches_median": statistics.median(found[kind]),
                     "p50": _percentile(ours, 0.5), "p95": _percentile(ours, 0.95),
                     "like_p50": _percentile(theirs, 0.5), "like_p95": _percentile(theirs, 0.95)}
    peer.close()
    engine.dispose()
    sizes = _sizes(catalog_file)
    index_bytes = sizes["rows"] + sizes["fts"]
    res.update(index_bytes=index_bytes, rows_bytes=sizes["rows"], fts_bytes=sizes["fts"], warc_bytes=warc_bytes,
               size_ratio=index_bytes / warc_bytes)
    km, en, rare = res["khmer"], res["english"], res["rare"]
    worst = max(km["p95"], en["p95"])
    res["p95_ratio_vs_like"] = max(km["like_p95"], en["like_p95"]) / worst
    res["rare_p95_ratio_vs_like"] = rare["like_p95"] / rare["p95"]
    print(f"search: index {pages} pages in {seconds:.2f} s ({res['index_ms_per_page']:.2f} ms/page); "
          f"query p50/p95 Khmer {1000 * km['p50']:.1f}/{1000 * km['p95']:.1f} ms, English "
          f"{1000 * en['p50']:.1f}/{1000 * en['p95']:.1f} ms (goal p95 < {1000 * P95_GOAL:.0f} ms); "
          f"vs a LIKE scan (p95 {1000 * max(km['like_p95'], en['like_p95']):.0f} ms, rare words "
          f"{1000 * rare['like_p95']:.0f} ms) ratio {res['p95_ratio_vs_like']:.1f}, rare words "
          f"{res['rare_p95_ratio_vs_like']:.1f}; "
          f"index {index_bytes / MIB:.1f} MiB = {100 * res['size_ratio']:.0f}% of the WARC's "
          f"{warc_bytes / MIB:.1f} MiB", flush=True)
    detail(f"search index runs: {', '.join(f'{s:.2f}s' for s in res['index_seconds_all'])} "
           f"({res['rows']} rows for {pages} pages); `refuge capture` took {cap['seconds']:.1f} s wall, of which "
           f"the crawl {cap['json']['seconds']:.1f} s and then the index; `refuge search --reindex bench` "
           f"{rebuilt['wall']:.1f} s wall")
    detail(f"search matches per query (median): Khmer {km['matches_median']:.0f}, English "
           f"{en['matches_median']:.0f}, rare {rare['matches_median']:.0f}; rare two-word queries p50/p95 "
           f"{1000 * rare['p50']:.1f}/{1000 * rare['p95']:.1f} ms (LIKE scan {1000 * rare['like_p95']:.0f} ms)")
    detail(f"search index size: rows (title and text, capped) {sizes['rows'] / MIB:.1f} MiB, FTS5 trigram index "
           f"{sizes['fts'] / MIB:.1f} MiB")
    return True


def targets(results: dict) -> dict[str, dict]:
    res = results.get("search") or {}
    worst = max(res["khmer"]["p95"], res["english"]["p95"]) if "khmer" in res else None
    return {"search_query_p95_seconds": {"target": P95_GOAL, "op": "<", "value": worst,
                                         "met": worst is not None and worst < P95_GOAL}}


__all__ = ["run", "targets"]
