"""Replay of a browser-mode capture, over real HTTP: the replay script that replayed pages load
first, API calls made with a new cache-buster answered from the archive, root paths asked
from a replayed page sent back to its site by the Referer, and the screenshot linked from the
banner. The capture is written with warcio in browser mode's layout (browser_warc); the same
site captured by a real browser and replayed in Chromium is tests/mirror/test_js_site_readers.py."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import requests

import js_site
from browser_warc import ARTICLE_SHOT, ORIGIN, PAGE_SHOT, SEED, TS, BrowserWarc, home_dom, js_site_capture, later
from guarded_browser import guarded_context
from refuge.mirror.replay import assets
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog
from refuge.storage.catalog import hidden
from refuge.storage.catalog.events import CLI_ACTOR

SCRIPT_TAG = re.compile(r'<script src="/_refuge/replay\.js\?v=([0-9a-f]+)" data-ts="(\d+)" data-url="([^"]*)"></script>')


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    from refuge.config.settings import Settings

    root = tmp_path_factory.mktemp("browser-replay")
    settings = Settings(data=root / "data", allow_private_networks=True)
    settings.data.mkdir()
    engine = catalog.connect(settings.catalog_url)
    capture = js_site_capture(settings, engine)
    with running_server(make_app(settings, engine)) as base:
        yield SimpleNamespace(base=base, settings=settings, engine=engine, capture=capture,
                              host=base.removeprefix("http://"))


def get(replay, path: str, **kw) -> requests.Response:
    return requests.get(replay.base + path, timeout=10, allow_redirects=False, **kw)


# -- the replay script ---------------------------------------------------------------------

def test_every_page_replayed_as_a_document_loads_the_replay_script_before_its_own(replay) -> None:
    for mod in ("", "mp_", "if_"):
        page = get(replay, f"/web/{TS}{mod}/{SEED}").text
        head = page[page.index("<head>") + len("<head>"):]
        m = SCRIPT_TAG.match(head)
        assert m is not None, (mod, head[:200])
        assert m.group(2) == TS and m.group(3) == SEED  # the page's own time and original URL
        assert head.index(m.group(0)) < head.index("<script src=\"/web/")  # before the page's app.js
    for mod in ("id_", "im_", "js_", "oe_"):
        assert "/_refuge/replay.js" not in get(replay, f"/web/{TS}{mod}/{SEED}").text, mod
    assert "/_refuge/" not in get(replay, f"/web/{TS}js_/{ORIGIN}/static/app.js").text


def test_an_html_fragment_a_script_fetches_comes_without_the_replay_script(replay, tmp_path) -> None:
    """A "Load more" answer is a list of <li>s the page inserts: a <script> (or a banner)
    before them would be inserted too. replay.js asks with oe_ for fetch() and XHR; a request the browser says is
    no document (Sec-Fetch-Dest) gets none whatever its modifier."""
    from refuge.config.settings import Settings

    settings = Settings(data=tmp_path / "data", allow_private_networks=True)
    settings.data.mkdir()
    engine = catalog.connect(settings.catalog_url)
    fragment = b'<li class="card"><a href="/a/5.html">Article 5</a></li>\n'
    with BrowserWarc(settings, engine, "frag", SEED) as w:
        w.response(f"{ORIGIN}/more?page=2", fragment, "text/html; charset=utf-8", TS)
    script = assets.SCRIPT.decode()
    assert 'rewrite(input, "oe_")' in script and 'rewrite(url, "oe_")' in script and '"mp_"' not in script
    with running_server(make_app(settings, engine)) as base:
        def body(mod: str, **headers: str) -> str:
            r = requests.get(f"{base}/web/{TS}{mod}/{ORIGIN}/more?page=2", headers=headers, timeout=10)
            assert r.status_code == 200, mod
            return r.text
        for answer in (body("oe_"), body("mp_", **{"Sec-Fetch-Dest": "empty"}), body("", **{"Sec-Fetch-Dest": "empty"})):
            assert answer.startswith('<li class="card"><a href="/web/'), answer[:120]
            assert "/_refuge/replay.js" not in answer and "refuge-banner" not in answer
        # Loaded as a document or a frame (or by a client that does not say), it gets it.
        for mod, dest in (("mp_", "document"), ("if_", "iframe"), ("mp_", "")):
            assert "/_refuge/replay.js" in body(mod, **({"Sec-Fetch-Dest": dest} if dest else {})), (mod, dest)


def test_the_replay_script_is_served_by_the_server_and_kept_by_browsers(replay) -> None:
    version = SCRIPT_TAG.search(get(replay, f"/web/{TS}/{SEED}").text).group(1)
    r = get(replay, f"/_refuge/replay.js?v={version}")
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.content == assets.SCRIPT and b"fetch" in r.content and b"XMLHttpRequest" in r.content
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert get(replay, "/_refuge/replay.js?v=old").headers["Cache-Control"] == "public, max-age=300"
    # The server's own folder holds nothing else, and nothing archived is ever answered there.
    assert get(replay, "/_refuge/app.js", headers={"Referer": f"{replay.base}/web/{TS}/{SEED}"}).status_code == 404


# -- cache-busting queries ---------------------------------------------------------------

def test_an_api_call_with_a_new_cache_buster_is_answered_from_the_archive(replay) -> None:
    for page in (1, 2):
        r = get(replay, f"/web/{TS}mp_/{ORIGIN}/api/articles?page={page}&_=1893456000000")
        assert r.status_code == 200, page
        assert r.content == (js_site.ROOT / "api" / f"articles-{page}.json").read_bytes()
        assert r.headers["Access-Control-Allow-Origin"] == "*"  # read by a fetch() from the sandboxed page
    assert get(replay, f"/web/{TS}mp_/{ORIGIN}/api/articles?page=3&_=1893456000000").status_code == 404


# -- fallback by referrer ----------------------------------------------------------------

def test_a_root_path_asked_from_a_replayed_page_is_sent_to_that_site_in_the_archive(replay) -> None:
    page = f"http://{replay.host}/web/{TS}/{SEED}"
    r = get(replay, "/api/articles?page=2&_=1893456000000", headers={"Referer": page})
    assert r.status_code == 302
    assert r.headers["Location"] == f"/web/{TS}oe_/{ORIGIN}/api/articles?page=2&_=1893456000000"
    assert r.headers["Access-Control-Allow-Origin"] == "*" and r.headers["Cache-Control"] == "no-store"
    followed = requests.get(replay.base + r.headers["Location"], timeout=10)
    assert followed.json()["articles"][0]["title"] == js_site.BATCH_2[0]
    # What the request loads picks the modifier: an image, a link followed, a script.
    image = get(replay, "/img/garment-pay.png", headers={"Referer": page, "Sec-Fetch-Dest": "image"})
    assert image.headers["Location"] == f"/web/{TS}im_/{ORIGIN}/img/garment-pay.png"
    assert requests.get(replay.base + image.headers["Location"], timeout=10).content.startswith(b"\x89PNG")
    followed = get(replay, "/about.html", headers={"Referer": page, "Accept": "text/html,*/*;q=0.8"})
    assert followed.headers["Location"] == f"/web/{TS}/{ORIGIN}/about.html"
    script = get(replay, "/static/app.js", headers={"Referer": page, "Sec-Fetch-Dest": "script"})
    assert script.headers["Location"] == f"/web/{TS}js_/{ORIGIN}/static/app.js"


def test_only_a_replayed_page_of_this_server_is_fallen_back_on(replay) -> None:
    path = "/api/articles?page=1"
    assert get(replay, path).status_code == 404  # no Referer
    for referer in (f"http://elsewhere.example/web/{TS}/{SEED}",  # another host
                    f"http://{replay.host}/",  # this server, not a replayed page
                    f"http://{replay.host}/cdx?url={SEED}",
                    f"http://{replay.host}/web/{TS}/urn:dom:{SEED}",
                    f"http://{replay.host}/web/*/{SEED}",
                    f"javascript://{replay.host}/web/{TS}/{SEED}",
                    f"http://{replay.host}/web/{TS}/{SEED}" + "x" * 9000):  # past the bound
        assert get(replay, path, headers={"Referer": referer}).status_code == 404, referer[:80]
    # Whatever the path, the answer stays a replay URL of this server: never an open redirect.
    for target in ("//evil.example/x", "/\\evil.example/x", "/%2F%2Fevil.example"):
        r = get(replay, target, headers={"Referer": f"http://{replay.host}/web/{TS}/{SEED}"})
        assert r.status_code == 404 or r.headers["Location"].startswith(f"/web/{TS}"), (target, r.headers)


# -- the rendered records ------------------------------------------------------------------

def test_the_banner_links_the_screenshot_of_a_page_captured_with_a_browser(replay) -> None:
    page = get(replay, f"/web/{TS}/{SEED}").text
    banner = page[page.index('<div id="refuge-banner"'):]
    link = f'/web/{TS}id_/urn:screenshot:{SEED}'
    assert f'href="{link}"' in banner
    assert banner.index("&#6042;&#6076;&#6036;&#6032;&#6031;") < banner.index("Screenshot of the page")  # Khmer first
    shot = get(replay, link)
    assert shot.status_code == 200 and shot.headers["Content-Type"] == "image/png" and shot.content == PAGE_SHOT
    dom = get(replay, f"/web/{TS}id_/urn:dom:{SEED}")
    assert dom.status_code == 200 and dom.content == home_dom()
    # A page without one (captured by a plain fetch, in this capture: about.html) links none.
    about = requests.get(f"{replay.base}/web/{TS}/{ORIGIN}/about.html", timeout=10).text
    assert "urn:screenshot" not in about and "Screenshot of the page" not in about


def test_a_rendered_dom_replayed_as_a_page_links_into_the_archive(replay) -> None:
    """The captures list links /web/<ts>/urn:dom:<url>: its links resolve against the page's
    URL, as the page's own do, never against the urn: (where they would stay relative and 404)."""
    dom = get(replay, f"/web/{TS}/urn:dom:{SEED}").text
    article = js_site.ARTICLES[0]
    assert f'href="/web/{TS}cs_/{ORIGIN}/static/site.css"' in dom
    assert f'href="/web/{TS}/{ORIGIN}{article.path}"' in dom
    assert f'src="/web/{TS}im_/{ORIGIN}{article.image}"' in dom
    assert f'data-url="{SEED}"' in dom  # replay.js resolves what scripts ask for against the page too
    page = dom[dom.index("</head>"):].split('<div id="refuge-banner"', 1)[0] + dom[dom.index('<ul id="articles"'):]
    assert not re.search(r'(?:href|src)="/(?!web/|_refuge/)', page)  # the page's own links (the banner's: the server's)


def test_a_page_taken_down_takes_its_screenshot_and_dom_with_it(replay) -> None:
    row = hidden.hide(replay.engine, SEED, "A source asked for it. ប្រភពបានស្នើ។", CLI_ACTOR)
    try:
        for kind in ("screenshot", "dom"):
            assert get(replay, f"/web/{TS}id_/urn:{kind}:{SEED}").status_code == 451, kind
    finally:
        hidden.unhide(replay.engine, row["id"], CLI_ACTOR)
    assert get(replay, f"/web/{TS}id_/urn:screenshot:{SEED}").status_code == 200


def test_a_record_name_nested_in_another_is_no_url(replay) -> None:
    for nested in ("urn:dom:" * 2000 + SEED, f"urn:dom:urn:screenshot:{SEED}", "urn:dom:kampuchea.example/"):
        r = get(replay, f"/web/{TS}id_/{nested}")
        assert r.status_code == 302 and r.headers["Location"] == "/", (nested[:40], r.status_code)
    assert get(replay, f"/web/{TS}id_/urn:dom:https:/kampuchea.example/").content == home_dom()  # repaired as any URL


def test_a_cache_buster_added_to_a_taken_down_url_does_not_get_it_served(replay) -> None:
    article = ORIGIN + js_site.ARTICLES[0].path
    later_ts = later(TS, 5)
    row = hidden.hide(replay.engine, article, "A court ordered it. តុលាការបានបញ្ជា។", CLI_ACTOR)
    try:
        for mod in ("", "id_", "mp_"):
            for url in (f"{article}?_=1893456000000", f"urn:screenshot:{article}?_=1893456000000",
                        f"urn:dom:{article}?_=1893456000000"):
                r = get(replay, f"/web/{later_ts}{mod}/{url}")
                assert r.status_code == 451, (mod, url, r.status_code)
    finally:
        hidden.unhide(replay.engine, row["id"], CLI_ACTOR)
    # Not taken down, the same URLs find the capture.
    assert get(replay, f"/web/{later_ts}id_/{article}?_=1893456000000").status_code == 200
    assert get(replay, f"/web/{later_ts}id_/urn:screenshot:{article}?_=1893456000000").content == ARTICLE_SHOT


@pytest.mark.browser
def test_the_replay_script_points_every_kind_of_request_into_the_archive(replay, browser) -> None:
    """In Chromium, with JavaScript on: XMLHttpRequest (asking with credentials), fetch() of a
    Request, setAttribute with a relative URL, srcset, markup through innerHTML and
    pushState all end up in the archive, and no request goes anywhere else."""
    with guarded_context(browser, replay.base + "/") as (context, outside):
        page = context.new_page()
        page.goto(f"{replay.base}/web/{later(TS, 6)}/{ORIGIN}/probe.html", wait_until="load")
        page.wait_for_function("window.probe.xhr === 1 && window.probe.request === 2", timeout=15_000)
        page.wait_for_function("['by-attribute', 'by-srcset', 'by-markup'].every(id => {"
                               " const i = document.getElementById(id); return i.complete && i.naturalWidth > 0 })",
                               timeout=15_000)
        sources = page.evaluate("['by-attribute', 'by-srcset', 'by-markup'].map(id => document.getElementById(id)"
                                ".currentSrc)")
        assert sources == [f"{replay.base}/web/{later(TS, 6)}im_/{ORIGIN}/img/{name}.png"
                           for name in ("garment-pay", "commune-election", "mekong-flood")], sources
        assert page.url == f"{replay.base}/web/{later(TS, 6)}/{ORIGIN}/probe.html?state=1"
    assert outside == [], outside
