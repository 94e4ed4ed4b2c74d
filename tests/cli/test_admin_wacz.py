"""A capture as one signed WACZ package from the admin server: asked for through the API or
the console, made in the background, polled, downloaded with its Repr-Digest, and checked
by `refuge verify`'s own verify_wacz; roles, unknown captures, the audit log, and a package
made again when what it was made from changes."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import time
from pathlib import Path

import pytest
import requests
from admin_helpers import PASSWORD, Admin, running_admin
from wacz_helpers import capture_twice

from refuge.config.targets import make_target
from refuge.storage import catalog
from refuge.storage.catalog import events, hidden
from refuge.storage.catalog.events import CLI_ACTOR
from refuge.storage.wacz.verify import verify_wacz


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    made = capture_twice(tmp_path_factory.mktemp("admin-wacz") / "data")
    made["engine"].dispose()  # each test works on a copy of the data directory
    return made


@pytest.fixture
def admin(captured, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(captured["settings"].data, data)
    settings = captured["settings"].replace(data=data, processes=1, workers=2, publish_after_capture=False)
    with running_admin(settings) as admin:
        yield admin


def _wait_ready(admin: Admin, capture_id: str, token: str) -> dict:
    deadline = time.time() + 120
    while time.time() < deadline:
        r = admin.api("GET", f"/captures/{capture_id}/wacz", token)
        assert r.status_code == 200, r.text
        doc = r.json()
        if doc["status"] not in ("queued", "packaging"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"capture {capture_id}: its package was not ready in time: {doc}")


def _download(admin: Admin, path: str, auth: dict, out: Path) -> requests.Response:
    """GET PATH's body into OUT; the answer (its status and type documented in the API's
    document when PATH is an API path)."""
    r = requests.get(admin.url + path, headers=auth, timeout=60, stream=True)
    with open(out, "wb") as fh:
        for block in r.iter_content(1 << 16):
            fh.write(block)
    return r


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_archivist_asks_polls_and_downloads_a_package_that_verifies(admin, captured, tmp_path) -> None:
    token = admin.token("archivist")
    capture_id = captured["second"]
    asked = admin.api("POST", f"/captures/{capture_id}/wacz", token)
    assert asked.status_code == 202, asked.text
    doc = asked.json()
    assert doc["status"] in ("queued", "packaging") and doc["target"] == "news" and doc["download_url"] is None
    assert asked.headers["Location"] == doc["status_url"] == f"/api/v1/captures/{capture_id}/wacz"

    ready = _wait_ready(admin, capture_id, token)
    assert ready["status"] == "ready", ready
    assert ready["download_url"] == f"/api/v1/captures/{capture_id}/wacz/download"
    assert ready["fingerprint"].startswith("sha256:") and ready["pages"] > 0

    out = tmp_path / "got.wacz"
    r = _download(admin, ready["download_url"], {"Authorization": f"Bearer {token}"}, out)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    doc_200 = admin.doc["paths"]["/captures/{id}/wacz/download"]["get"]["responses"]["200"]
    assert "application/zip" in doc_200["content"] and "Repr-Digest" in doc_200["headers"]
    assert r.headers["Content-Disposition"] == f'attachment; filename="news-{capture_id}.wacz"'
    assert int(r.headers["Content-Length"]) == out.stat().st_size == ready["bytes"]
    digest = base64.b64encode(hashlib.sha256(out.read_bytes()).digest()).decode()
    assert r.headers["Repr-Digest"] == f"sha-256=:{digest}:" and _sha256(out) == ready["sha256"]
    check = verify_wacz(out)
    assert check.ok and check.signed and check.signature_ok, check.problems

    # Asked again: the package made is current, so it is the answer at once, not made again.
    again = admin.api("POST", f"/captures/{capture_id}/wacz", token)
    assert again.status_code == 200 and again.json()["sha256"] == ready["sha256"]
    assert again.json()["made_at"] == ready["made_at"]
    head = requests.head(admin.url + ready["download_url"], headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(ready["bytes"]) and not head.content

    # The audit log says who asked, from where, and who downloaded.
    logged = [e for e in events.list_events(admin.engine) if e["action"].startswith("wacz.")]
    asked_by = [(e["action"], e["actor"], e["subject"], e["source"]) for e in logged]
    who = next(e["actor"] for e in logged)
    assert who.startswith("token:archivist-")
    assert asked_by.count(("wacz.request", who, capture_id, "127.0.0.1")) == 2
    assert asked_by.count(("wacz.download", who, capture_id, "127.0.0.1")) == 1


def test_viewers_are_refused_and_unknown_or_running_captures_answered(admin, captured) -> None:
    viewer, archivist = admin.token("viewer"), admin.token("archivist")
    capture_id = captured["first"]
    for method, path in (("POST", ""), ("GET", ""), ("GET", "/download")):
        r = admin.api(method, f"/captures/{capture_id}/wacz{path}", viewer)
        assert r.status_code == 403 and "archivist role" in r.json()["detail"], (method, path)
        assert admin.api(method, f"/captures/{capture_id}/wacz{path}").status_code == 401
        unknown = admin.api(method, f"/captures/20990101000000-0000000/wacz{path}", archivist)
        assert unknown.status_code == 404 and "no such capture" in unknown.json()["detail"], (method, path)
    # A capture nobody asked to package has no package to show or send.
    assert admin.api("GET", f"/captures/{capture_id}/wacz", archivist).status_code == 404
    missing = admin.api("GET", f"/captures/{capture_id}/wacz/download", archivist)
    assert missing.status_code == 404 and f"POST /api/v1/captures/{capture_id}/wacz" in missing.json()["detail"]
    assert not (admin.settings.data / "packages").exists()
    # One still running cannot be packaged yet.
    catalog.save_target(admin.engine, make_target("http://127.0.0.1:9/", name="busy"))
    running = catalog.start_capture(admin.engine, catalog.get_target(admin.engine, "busy"), stale_seconds=3600)
    busy = admin.api("POST", f"/captures/{running}/wacz", archivist)
    assert busy.status_code == 409 and "still running" in busy.json()["detail"]
    assert not [e for e in events.list_events(admin.engine) if e["action"] == "wacz.request"]


def test_a_takedown_or_a_changed_file_makes_the_package_out_of_date(admin, captured, tmp_path) -> None:
    token = admin.token("archivist")
    capture_id = captured["first"]
    assert admin.api("POST", f"/captures/{capture_id}/wacz", token).status_code == 202
    first = _wait_ready(admin, capture_id, token)
    assert first["status"] == "ready" and first["withheld"] == 0

    # A page taken down since: the package's page list would name it, so it is not sent.
    row = hidden.hide(admin.engine, captured["seed"] + "km/", "a source's name", CLI_ACTOR)
    assert admin.api("GET", f"/captures/{capture_id}/wacz", token).status_code == 404
    assert admin.api("GET", f"/captures/{capture_id}/wacz/download", token).status_code == 404
    assert admin.api("POST", f"/captures/{capture_id}/wacz", token).status_code == 202
    second = _wait_ready(admin, capture_id, token)
    assert second["status"] == "ready" and second["withheld"] == 1 and second["sha256"] != first["sha256"]
    hidden.unhide(admin.engine, row["id"], CLI_ACTOR)

    # The package changed on disk after it was described: never sent with the old digest.
    packaged = admin.settings.data / "packages" / "news" / f"{capture_id}.wacz"
    with open(packaged, "ab") as fh:
        fh.write(b"\0")
    assert admin.api("GET", f"/captures/{capture_id}/wacz/download", token).status_code == 404
    assert admin.api("POST", f"/captures/{capture_id}/wacz", token).status_code == 202
    third = _wait_ready(admin, capture_id, token)
    out = tmp_path / "third.wacz"
    r = _download(admin, third["download_url"], {"Authorization": f"Bearer {token}"}, out)
    assert r.status_code == 200 and _sha256(out) == third["sha256"] and verify_wacz(out).ok


def test_a_failed_packaging_says_why_and_can_be_asked_again(admin, captured) -> None:
    token = admin.token("archivist")
    capture_id = captured["first"]
    warc = next(f for f in catalog.capture_files(admin.engine, capture_id) if f["kind"] == "warc")
    stored = admin.settings.data / warc["path"]
    kept = stored.read_bytes()
    stored.write_bytes(kept[:-1] + bytes([kept[-1] ^ 1]))  # not the file that was sealed
    assert admin.api("POST", f"/captures/{capture_id}/wacz", token).status_code == 202
    failed = _wait_ready(admin, capture_id, token)
    assert failed["status"] == "failed" and "not the file sealed" in failed["error"], failed
    assert failed["download_url"] is None
    gone = admin.api("GET", f"/captures/{capture_id}/wacz/download", token)
    assert gone.status_code == 404 and "packaging failed" in gone.json()["detail"]
    assert not list((admin.settings.data / "packages" / "news").glob("*.wacz*"))  # nothing half-made left
    stored.write_bytes(kept)
    assert admin.api("POST", f"/captures/{capture_id}/wacz", token).status_code == 202
    assert _wait_ready(admin, capture_id, token)["status"] == "ready"


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def test_the_console_form_and_link_for_archivists_only(admin, captured, tmp_path) -> None:
    capture_id = captured["second"]
    page_url = f"{admin.url}/captures/{capture_id}"
    viewer = admin.login(admin.user("viewer"))
    seen = viewer.get(page_url + "?lang=en", timeout=10).text
    assert "Download as WACZ" not in seen and f"/captures/{capture_id}/wacz" not in seen
    assert viewer.post(page_url + "/wacz", data={"csrf": _csrf(seen)}, timeout=10).status_code == 403
    assert viewer.get(page_url + "/wacz", timeout=10).status_code == 403

    archivist = admin.login(admin.user("archivist", "dara"))
    page = archivist.get(page_url + "?lang=km", timeout=10).text
    assert "ទាញយកជា WACZ" in page and "កញ្ចប់ WACZ" in page
    page = archivist.get(page_url + "?lang=en", timeout=10).text
    form = re.search(rf'<form class="inline" method="post" action="/captures/{capture_id}/wacz">.*?</form>', page)
    assert form and "Download as WACZ" in form.group(0) and 'name="csrf"' in form.group(0)
    assert archivist.post(page_url + "/wacz", data={}, timeout=10).status_code == 403  # no CSRF token
    assert archivist.get(page_url + "/wacz", timeout=10).status_code == 404  # nothing made yet
    asked = archivist.post(page_url + "/wacz", data={"csrf": _csrf(page)}, timeout=10, allow_redirects=False)
    assert asked.status_code == 303 and asked.headers["Location"].endswith(f"/captures/{capture_id}")

    deadline = time.time() + 120
    while 'id="wacz-download"' not in (page := archivist.get(page_url, timeout=10).text):
        assert "Packaging failed" not in page
        assert '<meta http-equiv="refresh"' in page and 'id="wacz-status"' in page  # it reloads itself meanwhile
        assert time.time() < deadline
        time.sleep(0.2)
    assert '<meta http-equiv="refresh"' not in page
    link = re.search(r'<a id="wacz-download" href="([^"]+)"', page).group(1)
    assert link == f"/captures/{capture_id}/wacz"
    out = tmp_path / "console.wacz"
    r = archivist.get(admin.url + link, timeout=60)
    out.write_bytes(r.content)
    digest = base64.b64encode(hashlib.sha256(r.content).digest()).decode()
    assert r.status_code == 200 and r.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    assert _sha256(out) in page and verify_wacz(out).ok
    actors = {(e["action"], e["actor"]) for e in events.list_events(admin.engine)}
    assert {("wacz.request", "dara"), ("wacz.download", "dara")} <= actors


@pytest.mark.browser
def test_in_a_browser_without_javascript_the_button_leads_to_the_download(admin, captured, browser,
                                                                         tmp_path) -> None:
    capture_id = captured["second"]
    context = browser.new_context(java_script_enabled=False, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(admin.url + "/login?lang=en")
        page.fill("#name", admin.user("archivist"))
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(admin.url + "/")
        page.goto(f"{admin.url}/captures/{capture_id}")
        page.click("button:has-text('Download as WACZ')")
        # The page reloads itself (meta refresh, no script) until the link is there.
        page.wait_for_selector("#wacz-download", timeout=120_000)
        with page.expect_download() as waiting:
            page.click("#wacz-download")
        got = tmp_path / waiting.value.suggested_filename
        waiting.value.save_as(got)
    finally:
        context.close()
    assert got.name == f"news-{capture_id}.wacz" and verify_wacz(got).ok
