"""A page's requisites are fetched wherever they live, even when the same URL is also a
link the target's scope refuses."""

from __future__ import annotations

from refuge.archiver.capture import run_capture
from refuge.config.settings import Settings
from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import index
from tiny_site import Route, page, serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_a_link_refused_as_a_page_is_still_fetched_where_it_is_embedded(tmp_path) -> None:
    # The common <a href=X><img src=X></a> with X on another host (a CDN): as a link X is
    # out of a host-scoped target, as an image it is one of the page's requisites.
    with serve({}) as site:
        other = site.origin.replace("127.0.0.1", "localhost")  # another host name, the same server
        site.routes["/"] = Route(f'<html><body><a href="{other}/pic.png"><img src="{other}/pic.png"></a>'
                                 f'<a href="{other}/away.html">away</a></body></html>'.encode())
        site.routes["/pic.png"] = Route(PNG, content_type="image/png")
        site.routes["/away.html"] = Route(page())
        settings = Settings(data=tmp_path / "data", allow_private_networks=True, backoff=0.05, timeout=5)
        engine = catalog.connect(settings.catalog_url)
        catalog.save_target(engine, make_target(site.url("/"), name="t", scope="host"))
        summary = run_capture(settings, engine, "t")
        assert summary["status"] == "complete"
        assert site.hits.counts()["/pic.png"] == 1  # fetched, as the image it is
        assert site.hits.counts()["/away.html"] == 0  # while the page on that host is not followed
        assert [hit.url for hit in index.captures_of(engine, f"{other}/pic.png")] == [f"{other}/pic.png"]
