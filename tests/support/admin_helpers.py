"""The admin server for tests: the real app under waitress on a free loopback port, with
tokens and console logins made the way an admin makes them, and every API answer
checked against the server's own OpenAPI document.

    with running_admin(settings) as admin:
        token = admin.token("admin")
        r = admin.api("POST", "/targets", token, json={...})   # checked against openapi.json
        browser_session = admin.login("sokha", "admin")          # requests.Session, logged in
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any

import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from refuge.cli.admin.server import admin_server
from refuge.config.settings import Settings
from refuge.storage import catalog
from refuge.storage.catalog import accounts
from refuge.storage.catalog.events import CLI_ACTOR

PASSWORD = "correct horse battery"
_names = count(1)


def _template(doc: dict[str, Any], path: str) -> str:
    """The OpenAPI path template PATH (without its query) matches."""
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    raise AssertionError(f"{path}: not in the OpenAPI document")


class Admin:
    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.settings = settings
        self.engine = catalog.connect(settings.catalog_url)
        self.doc = requests.get(url + "/api/v1/openapi.json", timeout=10).json()
        self.registry = Registry().with_resource("urn:api", Resource.from_contents(self.doc, DRAFT202012))

    def token(self, role: str) -> str:
        token, _ = accounts.create_token(self.engine, f"{role}-{next(_names)}", role, CLI_ACTOR)
        return token

    def user(self, role: str, name: str | None = None) -> str:
        name = name or f"{role}{next(_names)}"
        accounts.add_user(self.engine, name, role, PASSWORD, CLI_ACTOR)
        return name

    def login(self, name: str, password: str = PASSWORD) -> requests.Session:
        session = requests.Session()
        form = session.get(self.url + "/login", timeout=10)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        done = session.post(self.url + "/login", data={"name": name, "password": password, "csrf": csrf},
                            timeout=10, allow_redirects=False)
        assert done.status_code == 303, done.text
        return session

    def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> requests.Response:
        """One API call; a documented answer's body must match the document's schema."""
        headers = {**kw.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        r = requests.request(method, self.url + "/api/v1" + path, headers=headers, timeout=30, **kw)
        self.check(method, path.split("?")[0], r)
        return r

    def check(self, method: str, path: str, r: requests.Response) -> None:
        template = _template(self.doc, path)
        responses = self.doc["paths"][template][method.lower()]["responses"]
        assert str(r.status_code) in responses, f"{method} {path}: {r.status_code} is not documented: {r.text[:300]}"
        content = responses[str(r.status_code)].get("content")
        if not content:
            assert not r.content, f"{method} {path}: {r.status_code} should have no body"
            return
        kind = r.headers["Content-Type"].split(";")[0]
        assert kind in content, f"{method} {path}: {kind} is not the documented {list(content)}"
        pointer = "/".join(p.replace("~", "~0").replace("/", "~1") for p in
                           ("paths", template, method.lower(), "responses", str(r.status_code), "content", kind,
                            "schema"))
        validator = Draft202012Validator({"$ref": f"urn:api#/{pointer}"}, registry=self.registry)
        errors = [e.message for e in validator.iter_errors(r.json())]
        assert not errors, f"{method} {path}: the answer does not match the document: {errors[:3]}"


@contextmanager
def running_admin(settings: Settings) -> Iterator[Admin]:
    with admin_server(settings, port=0) as url:
        yield Admin(url, settings)
