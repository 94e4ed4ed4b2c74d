"""Revisits the crawler writes are valid: each points at a record that exists and is no
later than itself, so replay and export serve its payload, even when identical payloads
are fetched out of order within one capture, and across two captures."""

from __future__ import annotations

from pathlib import Path

from tiny_site import Route, page, serve
from warcio.archiveiterator import ArchiveIterator
from werkzeug.test import Client

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.mirror.export.exporter import export_capture
from refuge.mirror.replay.app import make_app
from refuge.storage import catalog
from refuge.storage.catalog import index

# Plain text: exported as it is, so the exported file can be compared with it.
SAME = "ខ្លឹមសារដូចគ្នា the same bytes at two URLs\n".encode() * 50
TEXT = "text/plain; charset=utf-8"


def revisits_point_at_records_no_later(paths: list[str], engine) -> int:
    """How many revisits the files hold; fails unless each one's original is indexed,
    dated no later than the revisit."""
    count = 0
    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "revisit":
                    continue
                count += 1
                own = rec.rec_headers.get_header("WARC-Date")
                refers = rec.rec_headers.get_header("WARC-Refers-To-Date")
                assert refers <= own, (rec.rec_headers.get_header("WARC-Target-URI"), refers, own)
                ts = "".join(c for c in refers if c.isdigit())
                url = rec.rec_headers.get_header("WARC-Refers-To-Target-URI")
                assert any(h.url == url and h.timestamp == ts and h.rectype == "response"
                           for h in index.captures_of(engine, url)), (url, ts)
    return count


def test_identical_payloads_fetched_out_of_order_replay_and_export_in_one_capture_and_the_next(
        tmp_path: Path) -> None:
    # /a.txt starts first and answers last; /b.txt, found later through /c.html, is
    # written first: the later-written /a.txt must not be a revisit of a later record.
    routes = {"/robots.txt": Route(b"", 404, "text/plain"), "/": Route(page("/a.txt", "/c.html")),
              "/a.txt": Route(SAME, content_type=TEXT, delay=2.5), "/b.txt": Route(SAME, content_type=TEXT),
              "/c.html": Route(page("/b.txt", title="c"), delay=1.2)}
    settings = Settings(data=tmp_path / "data", allow_private_networks=True, backoff=0.05, timeout=10, workers=3,
                        processes=1, per_host=3)
    with serve(routes) as site:
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url("/"), name="same", scope="host"))
        client = Client(make_app(settings, engine))
        for run in ("first", "second"):
            summary = run_capture(settings, engine, "same")
            assert summary["status"] == "complete", summary
            revisits = revisits_point_at_records_no_later(summary["warcs"], engine)
            assert revisits == summary["revisits"]
            if run == "second":
                assert revisits >= 2  # both are revisits of the first capture's record
            hits = {h.url.removeprefix(site.origin): h for h in index.capture_hits(engine, summary["id"])}
            for path in ("/a.txt", "/b.txt"):
                replayed = client.get(f"/web/{hits[path].timestamp}id_/{site.url(path)}")
                assert replayed.status_code == 200 and replayed.data == SAME, (run, path, hits[path])
            out = export_capture(settings, engine, "same", tmp_path / f"export-{run}", summary["id"])
            exported = {f.path for f in out.files}
            host = site.origin.removeprefix("http://").replace(":", "_")
            for name in ("a.txt", "b.txt"):
                assert f"{host}/{name}" in exported, exported
                assert (out.root / host / name).read_bytes() == SAME
