"""The admin console in a real browser (Chromium) and as an attacker would try it:
logging in, adding a target through the form, capturing and watching it finish, the
chart; CSRF, login throttling, roles; and an archived page on the replay origin that
tries to reach the console."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import requests
from admin_helpers import PASSWORD, Admin, running_admin
from tiny_site import Route, serve

from refuge.cli.admin.app import AdminApp, allowed_hosts
from refuge.cli.admin.background import Background
from refuge.cli.admin.server import console_url
from refuge.cli.pipeline import capture_and_follow
from refuge.config.targets import make_target
from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog

BAD_SPEC = '[listing]\nurl = "http://127.0.0.1:9/list?page={page}"\npages = [1, 2]\nrecord_links = "a"\n\n[record]\nfields = = 1\n'


@pytest.fixture
def admin(tmp_settings):
    with running_admin(tmp_settings.replace(processes=1, workers=2, publish_after_capture=False)) as admin:
        yield admin


def _log_in(page, admin, name: str) -> None:
    page.goto(admin.url + "/login?lang=en")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(admin.url + "/")


@pytest.mark.browser
def test_an_admin_adds_a_target_captures_it_and_sees_the_chart(admin, page, fixture_site) -> None:
    seen: list[str] = []
    page.on("request", lambda req: seen.append(req.url))
    _log_in(page, admin, admin.user("admin", "sokha"))
    page.click("text=Add a target")
    page.fill("#url", fixture_site.url)
    page.fill("#name", "site")
    page.fill("#max_pages", "15")
    page.click("button:has-text('Add a target')")
    page.wait_for_url(admin.url + "/targets/site")
    page.click("button:has-text('Capture now')")
    page.wait_for_url(re.compile(r"/captures/\d{14}-"))
    # The page reloads itself while the capture runs; wait for it to say complete.
    page.wait_for_selector("#capture-status.ok", timeout=120_000)
    assert page.inner_text("#capture-status") == "complete"
    assert int(page.inner_text("#pages")) >= 10
    assert page.locator("a[href*='/files/']").count() >= 2  # the WARC file and its index, downloadable
    page.click("a[href='/targets/site']")
    bars = page.locator("svg rect")
    assert bars.count() == 3  # one capture: a bar each for pages, bytes and failures
    assert "pages" in page.locator("svg rect title").first.text_content()
    assert all(u.startswith(admin.url) for u in seen), [u for u in seen if not u.startswith(admin.url)]
    # Khmer on request, the same page.
    page.goto(admin.url + "/targets/site?lang=km")
    assert "ថតឥឡូវនេះ" in page.content()


@pytest.mark.browser
def test_a_bad_spec_in_the_form_is_shown_at_its_line(admin, page) -> None:
    _log_in(page, admin, admin.user("admin"))
    page.goto(admin.url + "/targets/new")
    page.fill("#url", "http://127.0.0.1:9/")
    page.select_option("#kind", "database")
    page.fill("#database", BAD_SPEC)
    page.click("button:has-text('Add a target')")
    assert "line 7" in page.inner_text(".error")
    assert page.inner_text("#spec-error").strip().startswith("7")
    assert page.input_value("#url") == "http://127.0.0.1:9/"  # what was typed is kept
    assert catalog.list_targets(admin.engine) == []


def test_a_form_without_its_csrf_token_is_refused(admin) -> None:
    session = admin.login(admin.user("admin"))
    catalog.save_target(admin.engine, make_target("http://127.0.0.1:9/", name="t"))
    r = session.post(admin.url + "/targets/t/remove", data={}, timeout=10)
    assert r.status_code == 403
    r = session.post(admin.url + "/targets/t/remove", data={"csrf": "guessed"}, timeout=10)
    assert r.status_code == 403
    assert [t.name for t in catalog.list_targets(admin.engine)] == ["t"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', session.get(admin.url + "/targets/t", timeout=10).text).group(1)
    assert session.post(admin.url + "/targets/t/remove", data={"csrf": csrf}, timeout=10).status_code == 200
    assert catalog.list_targets(admin.engine) == []


def test_the_sixth_wrong_password_in_a_minute_is_429(admin) -> None:
    name = admin.user("admin")
    session = requests.Session()
    csrf = re.search(r'name="csrf" value="([^"]+)"', session.get(admin.url + "/login", timeout=10).text).group(1)
    codes = [session.post(admin.url + "/login", data={"name": name, "password": "wrong guess!", "csrf": csrf},
                          timeout=10, allow_redirects=False).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    # Throttled, even the right password is not checked until the minute is over.
    right = session.post(admin.url + "/login", data={"name": name, "password": PASSWORD, "csrf": csrf},
                         timeout=10, allow_redirects=False)
    assert right.status_code == 429 and right.headers["Retry-After"] == "60"


def test_a_login_without_the_form_token_is_refused(admin) -> None:
    name = admin.user("admin")
    r = requests.post(admin.url + "/login", data={"name": name, "password": PASSWORD}, timeout=10,
                      allow_redirects=False)
    assert r.status_code == 403


def test_the_session_cookie_is_httponly_strict_and_ends_at_logout(admin) -> None:
    session = admin.login(admin.user("viewer"))
    cookie = next(c for c in session.cookies if c.name == "refuge_admin")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "Strict"
    home = session.get(admin.url + "/", timeout=10)
    assert home.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text).group(1)
    session.post(admin.url + "/logout", data={"csrf": csrf}, timeout=10)
    session.cookies.set("refuge_admin", cookie.value)  # a copy kept by someone else is dead too
    assert session.get(admin.url + "/", timeout=10, allow_redirects=False).status_code == 303


def test_a_viewer_sees_but_cannot_change_anything(admin) -> None:
    catalog.save_target(admin.engine, make_target("http://127.0.0.1:9/", name="t"))
    session = admin.login(admin.user("viewer"))
    page = session.get(admin.url + "/targets/t", timeout=10).text
    assert "Capture now" not in page and "Remove" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    for path in ("/targets/t/capture", "/targets/t/remove", "/verify", "/users"):
        assert session.post(admin.url + path, data={"csrf": csrf}, timeout=10).status_code == 403, path
    assert session.get(admin.url + "/users", timeout=10).status_code == 403
    assert session.post(admin.url + "/hidden", data={"csrf": csrf, "url": "http://127.0.0.1:9/",
                                                     "reason": "x"}, timeout=10).status_code == 403
    assert catalog.list_captures(admin.engine) == [] and [t.name for t in catalog.list_targets(admin.engine)] == ["t"]


@pytest.mark.browser
def test_an_archived_page_cannot_reach_the_console_or_get_its_cookie(tmp_settings, page) -> None:
    """A page archived with a script that calls the admin API, an image and a form aimed at
    it: replayed in Chromium next to a logged-in console, none of it reaches the admin
    server with the admin's cookie, the script reads nothing, and the replay server never
    holds the cookie either (the console is opened as localhost, replay as 127.0.0.1)."""
    settings = tmp_settings.replace(processes=1, workers=2, publish_after_capture=False)
    engine = catalog.connect(settings.catalog_url)
    app = AdminApp(settings, engine, Background(settings, engine))
    replay_app = make_app(settings, engine)
    seen: dict[str, list[str]] = {"admin": [], "replay": []}

    def recording(name, wrapped):
        def call(environ, start_response):
            seen[name].append(environ.get("HTTP_COOKIE", ""))
            return wrapped(environ, start_response)
        return call

    with running_server(recording("admin", app), max_body=1 << 20, name="admin") as bound:
        port = urlsplit(bound).port
        app.hosts = allowed_hosts(settings, port)
        admin_url = console_url(settings, port).rstrip("/")
        assert admin_url == f"http://localhost:{port}"
        helper = Admin(admin_url, settings)
        attack = (f"<!doctype html><title>start</title><img src='{admin_url}/api/v1/users'>"
                  f"<form id=f method=post action='{admin_url}/targets/new'><input name=url value='http://x/'></form>"
                  f"<script>fetch('{admin_url}/api/v1/targets', {{credentials: 'include'}})"
                  ".then(r => r.text()).then(t => document.title = 'read:' + t.length)"
                  ".catch(e => document.title = 'blocked');</script>").encode()
        with serve({"/": Route(attack)}) as site:
            catalog.save_target(engine, make_target(site.url("/"), name="attack"))
            assert capture_and_follow(settings, engine, "attack").summary["status"] == "complete"
        _log_in(page, helper, helper.user("admin"))
        assert any("refuge_admin=" in c for c in seen["admin"])  # the browser does hold the console's cookie
        seen["admin"].clear()
        with running_server(recording("replay", replay_app)) as replay:
            page.goto(f"{replay}/web/{site.url('/')}")
            page.wait_for_function("document.title !== 'start'", timeout=10_000)
            assert page.title() == "blocked"
            page.evaluate("document.getElementById('f') && document.getElementById('f').submit()")
            page.wait_for_timeout(500)
        assert seen["replay"] and not [c for c in seen["replay"] if "refuge_admin" in c]
        assert not [c for c in seen["admin"] if "refuge_admin=" in c], seen["admin"]
