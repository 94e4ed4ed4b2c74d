"""The admin API as a script or another service uses it: tokens and roles, the OpenAPI
document every answer is checked against, problem documents naming the field, and
captures started and followed through the API on the real fixture site."""

from __future__ import annotations

import time

import pytest
import requests
from admin_helpers import running_admin
from openapi_spec_validator import validate

from refuge.mirror.replay.app import make_app
from refuge.mirror.replay.server import running_server
from refuge.storage import catalog

SPEC_WITH_ERROR = """[listing]
url = "http://127.0.0.1:9/list?page={page}"
pages = [1, 3]
record_links = "a.record"

[record]
fields = { title = "h1" }
title = = "h1"
"""


@pytest.fixture
def admin(tmp_settings):
    with running_admin(tmp_settings.replace(processes=1, workers=2, publish_after_capture=False)) as admin:
        yield admin


def test_the_openapi_document_is_valid_openapi_3_1(admin) -> None:
    validate(admin.doc)  # the specification's own schema
    assert admin.doc["openapi"] == "3.1.0"
    documented = {(p, m) for p, ops in admin.doc["paths"].items() for m in ops if m != "parameters"}
    assert ("/targets", "post") in documented and ("/hidden/{id}", "delete") in documented
    assert len(documented) == 23


def test_no_token_401_wrong_role_403_revoked_token_401(admin) -> None:
    r = admin.api("GET", "/targets")
    assert r.status_code == 401 and r.headers["Content-Type"] == "application/problem+json"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    viewer = admin.token("viewer")
    assert admin.api("GET", "/targets", viewer).status_code == 200
    refused = admin.api("POST", "/targets", viewer, json={"url": "http://127.0.0.1:9/"})
    assert refused.status_code == 403 and "admin role" in refused.json()["detail"]
    assert admin.api("GET", "/targets", "rfg_not-a-token").status_code == 401
    archivist = admin.token("archivist")
    assert admin.api("POST", "/verify", archivist).status_code == 202
    assert admin.api("GET", "/users", archivist).status_code == 403

    from refuge.storage.catalog import accounts
    from refuge.storage.catalog.events import CLI_ACTOR
    name = next(t["name"] for t in accounts.list_tokens(admin.engine) if t["role"] == "viewer")
    accounts.revoke_token(admin.engine, name, CLI_ACTOR)
    assert admin.api("GET", "/targets", viewer).status_code == 401


def test_targets_added_changed_and_removed_with_every_change_audited(admin) -> None:
    token = admin.token("admin")
    added = admin.api("POST", "/targets", token, json={"url": "http://127.0.0.1:9/news/", "name": "news",
                                                       "every": "6h", "scope": "host", "exclude": ["/tag/"]})
    assert added.status_code == 201, added.text
    assert added.headers["Location"] == "/api/v1/targets/news"
    assert added.json()["schedule"] == "every 6h" and added.json()["exclude"] == ["/tag/"]
    assert admin.api("POST", "/targets", token, json={"url": "http://127.0.0.1:9/", "name": "news"}).status_code == 409

    changed = admin.api("PATCH", "/targets/news", token, json={"cron": "0 */4 * * *"})
    assert changed.status_code == 200 and changed.json()["schedule"] == "cron 0 */4 * * *"
    assert changed.json()["scope"] == "host"  # what was not sent stays
    shown = admin.api("GET", "/targets/news", token).json()
    assert shown["cron"] == "0 */4 * * *" and shown["captures"] == []

    assert admin.api("DELETE", "/targets/news", token).status_code == 204
    assert admin.api("GET", "/targets/news", token).status_code == 404
    assert admin.api("GET", "/targets", token).json() == []

    events = admin.api("GET", "/events", token).json()
    mine = [(e["action"], e["subject"]) for e in events if e["actor"].startswith("token:")]
    assert mine == [("target.remove", "news"), ("target.change", "news"), ("target.add", "news")]
    assert all(e["source"] == "127.0.0.1" for e in events if e["actor"].startswith("token:"))


@pytest.mark.parametrize("body, field, words", [
    ({"url": "ftp://example.org/"}, "url", "only http and https"),
    ({"url": "http://127.0.0.1:9/", "every": "soon"}, "every", "not a duration"),
    ({"url": "http://127.0.0.1:9/", "scope": "world"}, "scope", "must be one of"),
    ({"url": "http://127.0.0.1:9/", "max_pages": "ten"}, "max_pages", "expected a whole number"),
    ({"url": "http://127.0.0.1:9/", "include": ["(unclosed"]}, "include", "not a valid regular expression"),
    ({"url": "http://127.0.0.1:9/", "colour": "blue"}, "colour", "not a target field"),
    ({"url": "http://127.0.0.1:9/", "kind": "database", "database": SPEC_WITH_ERROR}, "database", "line 8"),
    ({}, "url", "required"),
])
def test_bad_input_is_400_naming_the_field_and_nothing_is_stored(admin, body, field, words) -> None:
    token = admin.token("admin")
    r = admin.api("POST", "/targets", token, json=body)
    assert r.status_code == 400, r.text
    problem = r.json()
    assert r.headers["Content-Type"] == "application/problem+json"
    assert problem["field"] == field and words in problem["detail"], problem
    assert admin.api("GET", "/targets", token).json() == []


def test_a_body_that_is_not_json_is_400(admin) -> None:
    token = admin.token("admin")
    r = admin.api("POST", "/targets", token, data=b"url=http://x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = admin.api("POST", "/targets", token, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]


def test_a_capture_started_through_the_api_is_followed_to_its_end(admin, fixture_site) -> None:
    token = admin.token("admin")
    assert admin.api("POST", "/targets", token, json={"url": fixture_site.url, "name": "site",
                                                      "max_pages": 15}).status_code == 201
    started = admin.api("POST", "/targets/site/captures", token)
    assert started.status_code == 202, started.text
    capture_id = started.json()["capture"]
    assert capture_id and started.headers["Location"] == f"/api/v1/captures/{capture_id}"
    seen = []
    deadline = time.time() + 120
    while time.time() < deadline:
        doc = admin.api("GET", f"/captures/{capture_id}", token).json()
        seen.append((doc["status"], doc["pages"]))
        if doc["status"] != "running":
            break
        time.sleep(0.3)
    assert doc["status"] == "complete", doc
    assert doc["pages"] >= 10 and doc["bytes"] > 0
    assert [f["kind"] for f in doc["warc_files"]].count("warc") >= 1
    assert all(len(f["sha256"]) == 64 for f in doc["warc_files"])
    assert seen[0][0] == "running"  # progress was readable while it ran

    listed = admin.api("GET", "/captures?target=site&status=complete", token).json()
    assert [c["id"] for c in listed] == [capture_id]
    assert admin.api("GET", "/captures?status=done", token).json()["field"] == "status"
    assert admin.api("GET", "/captures?since=yesterday", token).status_code == 400
    assert admin.api("GET", "/captures/nope", token).status_code == 404
    copies = admin.api("GET", f"/captures/{capture_id}/replicas", token).json()
    assert {c["store"] for c in copies} == {"local"}
    target = admin.api("GET", "/targets/site", token).json()
    assert target["last_capture"]["id"] == capture_id and len(target["captures"]) == 1


def test_a_capture_already_running_is_409(admin, tmp_settings) -> None:
    token = admin.token("admin")
    admin.api("POST", "/targets", token, json={"url": "http://127.0.0.1:9/", "name": "busy"})
    target = catalog.get_target(admin.engine, "busy")
    running = catalog.start_capture(admin.engine, target, stale_seconds=3600)
    r = admin.api("POST", "/targets/busy/captures", token)
    assert r.status_code == 409 and running in r.json()["detail"]
    assert admin.api("POST", "/targets/none/captures", token).status_code == 404


def test_takedowns_through_the_api_answer_451_in_replay(admin, fixture_site) -> None:
    token = admin.token("admin")
    admin.api("POST", "/targets", token, json={"url": fixture_site.url, "name": "site", "max_pages": 15})
    capture_id = admin.api("POST", "/targets/site/captures", token).json()["capture"]
    deadline = time.time() + 120
    while admin.api("GET", f"/captures/{capture_id}", token).json()["status"] == "running":
        assert time.time() < deadline
        time.sleep(0.3)
    page = fixture_site.url + "km/"
    with running_server(make_app(admin.settings, admin.engine)) as replay:
        assert requests.get(f"{replay}/web/{page}", timeout=10).status_code == 200
        bad = admin.api("POST", "/hidden", token, json={"url": page})
        assert bad.status_code == 400 and bad.json()["field"] == "reason"
        hidden = admin.api("POST", "/hidden", token, json={"url": page, "reason": "A source's name is in it"})
        assert hidden.status_code == 201, hidden.text
        r = requests.get(f"{replay}/web/{page}", timeout=10)
        assert r.status_code == 451 and "name is in it" in r.text
        assert [h["url"] for h in admin.api("GET", "/hidden", token).json()] == [page]
        assert admin.api("DELETE", f"/hidden/{hidden.json()['id']}", token).status_code == 204
        assert admin.api("DELETE", f"/hidden/{hidden.json()['id']}", token).status_code == 404
        assert requests.get(f"{replay}/web/{page}", timeout=10).status_code == 200
    actions = [e["action"] for e in admin.api("GET", "/events?kind=change", token).json()]
    assert actions[:3] == ["unhide", "hide", "capture.start"]


def test_a_console_session_reads_the_api_but_cannot_change_through_it(admin) -> None:
    session = admin.login(admin.user("admin"))
    assert session.get(admin.url + "/api/v1/targets", timeout=10).status_code == 200
    r = session.post(admin.url + "/api/v1/targets", json={"url": "http://127.0.0.1:9/"}, timeout=10)
    assert r.status_code == 403 and "API token" in r.json()["detail"]


def test_users_through_the_api(admin) -> None:
    token = admin.token("admin")
    made = admin.api("POST", "/users", token, json={"name": "vanna", "role": "archivist"})
    assert made.status_code == 201 and len(made.json()["password"]) >= 16
    assert admin.api("POST", "/users", token, json={"name": "x", "role": "boss"}).json()["field"] == "role"
    assert [u["name"] for u in admin.api("GET", "/users", token).json()] == ["vanna"]
    assert admin.api("DELETE", "/users/vanna", token).status_code == 204
    assert admin.api("DELETE", "/users/vanna", token).status_code == 404


def test_a_foreign_host_header_is_refused(admin) -> None:
    r = requests.get(admin.url + "/login", headers={"Host": "attacker.example"}, timeout=10)
    assert r.status_code == 421
    assert requests.get(admin.url + "/login", timeout=10).status_code == 200


def test_every_answer_forbids_framing_scripts_and_caching(admin) -> None:
    for path in ("/login", "/api/v1/targets", "/static/console.css"):
        h = requests.get(admin.url + path, timeout=10).headers
        assert "script-src" not in h["Content-Security-Policy"] and "default-src 'none'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY" and h["Cache-Control"] == "no-store"


def test_odd_numbers_and_oversized_bodies_are_4xx_not_500(admin) -> None:
    token = admin.token("admin")
    for query in ("limit=%C2%B2", "limit=0", "before=99999999999999999999999", "before=-1"):
        r = admin.api("GET", f"/events?{query}", token)
        assert r.status_code == 400, (query, r.text)
    r = requests.post(admin.url + "/api/v1/targets", data=b"x" * (4 * 1024 * 1024),
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413
    assert admin.api("GET", "/targets", token).json() == []


def test_publishing_with_nowhere_to_publish_is_400(admin) -> None:
    token = admin.token("admin")
    admin.api("POST", "/targets", token, json={"url": "http://127.0.0.1:9/", "name": "t"})
    r = admin.api("POST", "/targets/t/publish", token)
    assert r.status_code == 400 and "configure [s3]" in r.json()["detail"]


def test_no_account_may_pass_for_the_server_itself(admin) -> None:
    token = admin.token("admin")
    for name in ("cli", "refuge", "CLI"):
        r = admin.api("POST", "/users", token, json={"name": name, "role": "admin"})
        assert r.status_code == 400 and "reserved" in r.json()["detail"], name


def test_a_console_session_may_ask_head(admin) -> None:
    session = admin.login(admin.user("viewer"))
    assert session.head(admin.url + "/api/v1/targets", timeout=10).status_code == 200
