"""The console's pages as markup, from plain data: what console.py gathers and sends.

Every function takes the language and returns the <main> content; html.page frames it.
Forms carry the session's CSRF token; buttons that change something are shown only to
roles that may press them (the server checks again).
"""

from __future__ import annotations

from typing import Any

from refuge.cli.admin.chart import capture_chart
from refuge.cli.admin.html import esc, post_button, status_class, table, word
from refuge.cli.output import size
from refuge.storage.catalog.accounts import ROLES, allows

_SCOPES = ("page", "prefix", "host", "domain")
_DEFAULTS = {"scope": "prefix"}  # as `refuge add`


def login_form(lang: str, csrf: str, error: str = "", name: str = "") -> str:
    problem = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return (f'{problem}<form method="post" action="/login"><input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<label for="name">{esc(word("name", lang))}</label>'
            f'<input type="text" id="name" name="name" value="{esc(name)}" autocomplete="username" required>'
            f'<label for="password">{esc(word("password", lang))}</label>'
            '<input type="password" id="password" name="password" autocomplete="current-password" required>'
            f'<p><button type="submit">{esc(word("login", lang))}</button></p></form>')


def _none(lang: str) -> str:
    return f'<p class="muted">{esc(word("none_yet", lang))}</p>'


def message(text: str, kind: str = "error") -> str:
    return f'<p class="{kind}" role="alert">{esc(text)}</p>'


def _mirror_cell(lang: str, doc: dict[str, Any] | None) -> str:
    if not doc:
        return '<span class="muted">-</span>'
    return " ".join(f'<span class="{status_class(k)}">{doc[k]} {esc(k)}</span>' for k in ("up", "down", "unknown")
                    if doc.get(k))


def _fixity_cell(lang: str, doc: dict[str, Any] | None) -> str:
    if not doc:
        return f'<span class="muted">{esc(word("never", lang))}</span>'
    if doc["status"] == "ok":
        return f'<span class="ok">ok</span> <span class="muted">{esc(doc["checked_at"])}</span>'
    bad = doc["bad"] + doc["missing"]
    return f'<span class="bad">{bad} bad</span> <span class="muted">{esc(doc["checked_at"])}</span>'


def _replicas_cell(doc: dict[str, dict[str, int]]) -> str:
    """Per store, copies made of the target's files, and how many still wait."""
    if not doc:
        return '<span class="muted">-</span>'
    cells = []
    for store, states in sorted(doc.items()):
        pending = states.get("pending", 0)
        cells.append(f'{esc(store)}: {states.get("copied", 0)}'
                     + (f' <span class="bad">+{pending} pending</span>' if pending else ""))
    return "<br>".join(cells)


def _vantage_cell(vantages: dict[str, dict[str, str]]) -> str:
    """{target's mirror url: {vantage: status}} flattened to 'vantage: up/down' per vantage point."""
    by_vantage: dict[str, list[str]] = {}
    for statuses in vantages.values():
        for vantage, status in statuses.items():
            by_vantage.setdefault(vantage, []).append(status)
    if not by_vantage:
        return '<span class="muted">-</span>'
    cells = []
    for vantage, found in sorted(by_vantage.items()):
        down = sum(s != "up" for s in found)
        cells.append(f'{esc(vantage)}: <span class="{"bad" if down else "ok"}">'
                     f'{len(found) - down}/{len(found)} up</span>')
    return "<br>".join(cells)


def dashboard(lang: str, rows: list[dict[str, Any]], vantages: dict[str, dict[str, dict[str, str]]],
              role: str, csrf: str) -> str:
    if not rows:
        return f'<p>{esc(word("none_yet", lang))} <a href="/targets/new">{esc(word("add_target", lang))}</a></p>'
    body = []
    for r in rows:
        last = r["last_capture"] or {}
        capture = (f'<a href="/captures/{esc(last["id"])}">{esc(last["started"])}</a> '
                   f'<span class="{status_class(last.get("status"))}">{esc(last.get("status"))}</span>'
                   if last else f'<span class="muted">{esc(word("never", lang))}</span>')
        body.append([f'<a href="/targets/{esc(r["name"])}">{esc(r["name"])}</a><br>'
                     f'<span class="muted mono">{esc(r["url"])}</span>',
                     esc(r["schedule"]), capture, _replicas_cell(r["replicas"]), _fixity_cell(lang, r["fixity"]),
                     _mirror_cell(lang, r["mirrors"]),
                     _vantage_cell(vantages.get(r["name"], {}))])
    actions = ""
    if allows(role, "archivist"):
        actions = ("<p>" + post_button("/verify", word("verify_now", lang), csrf) + " "
                   + post_button("/check", word("check_now", lang), csrf) + "</p>")
    heads = [word(k, lang) for k in ("targets", "schedule", "last_capture", "replicas", "fixity", "mirrors",
                                     "vantage")]
    return table(heads, body) + actions


def target_page(lang: str, row: dict[str, Any], captures: list[dict[str, Any]], role: str, csrf: str) -> str:
    name = row["name"]
    actions = ""
    if allows(role, "admin"):
        actions = ("<p>" + post_button(f"/targets/{name}/capture", word("capture_now", lang), csrf) + " "
                   + post_button(f"/targets/{name}/publish", word("publish_now", lang), csrf) + " "
                   + post_button(f"/targets/{name}/remove", word("remove", lang), csrf) + "</p>")
    facts = table([word("url", lang), word("kind", lang), word("scope", lang), word("schedule", lang)],
                  [[f'<span class="mono">{esc(row["url"])}</span>', esc(row["kind"]), esc(row["scope"]),
                    esc(row["schedule"])]])
    labels = {"title": word("chart", lang), "pages": word("pages", lang), "bytes": word("bytes", lang),
              "failed": word("failures", lang)}
    chart = (f'<h2>{esc(word("chart", lang))}</h2><figure>{capture_chart(captures, labels)}</figure>'
             if captures else "")
    return facts + actions + chart + f'<h2>{esc(word("captures", lang))}</h2>' + captures_table(lang, captures)


def captures_table(lang: str, captures: list[dict[str, Any]]) -> str:
    if not captures:
        return _none(lang)
    heads = [word(k, lang) for k in ("capture", "status", "started", "pages", "bytes", "failures")]
    return table(heads, [[f'<a href="/captures/{esc(c["id"])}">{esc(c["id"])}</a>',
                          f'<span class="{status_class(c["status"])}">{esc(c["status"])}</span>',
                          esc(c["started"]), esc(c["pages"]), esc(size(c["bytes"] or 0)), esc(c["failed"])]
                         for c in captures])


def capture_page(lang: str, doc: dict[str, Any], role: str, csrf: str = "",
                 package: dict[str, Any] | None = None) -> str:
    """A capture: its figures, files and failures; for an archivist, its WACZ package
    (PACKAGE: how it stands, from packages.Packages.status; None when none is asked for)."""
    running = doc["status"] == "running"
    note = message(word("running_note", lang), "notice") if running else ""
    if doc.get("error"):
        note += message(doc["error"])
    figures = table([word(k, lang) for k in ("status", "started", "finished", "pages", "queued", "bytes",
                                              "failures")],
                    [[f'<span class="{status_class(doc["status"])}" id="capture-status">{esc(doc["status"])}</span>',
                      esc(doc["started"]), esc(doc["finished"] or "-"), f'<span id="pages">{esc(doc["pages"])}</span>',
                      esc(doc["queued"] if running and doc.get("queued") is not None else "-"),
                      esc(size(doc["bytes"] or 0)), esc(doc["failed"])]])
    download = allows(role, "archivist")
    files = table([word("files", lang), word("kind", lang), "SHA-256", word("bytes", lang)],
                  [[(f'<a href="/captures/{esc(doc["id"])}/files/{esc(f["name"])}">{esc(f["name"])}</a>'
                     if download else esc(f["name"])), esc(f["kind"]), f'<span class="mono">{esc(f["sha256"])}</span>',
                    esc(size(f["size"]))] for f in doc["warc_files"]]) if doc["warc_files"] else ""
    failures = table([word("url", lang), word("status", lang), word("reason", lang)],
                     [[f'<span class="mono">{esc(f["url"])}</span>', esc(f["status"] or "-"), esc(f["reason"])]
                      for f in doc["failures"]]) if doc["failures"] else _none(lang)
    wacz = wacz_section(lang, doc, package, csrf) if download and not running else ""
    return (f'<p><a href="/targets/{esc(doc["target"])}">{esc(doc["target"])}</a></p>' + note + figures
            + f'<h2>{esc(word("files", lang))}</h2>' + (files or _none(lang)) + wacz
            + f'<h2>{esc(word("failures", lang))}</h2>' + failures)


def wacz_section(lang: str, doc: dict[str, Any], package: dict[str, Any] | None, csrf: str) -> str:
    """The capture as one WACZ package: a button to ask for it, the packaging under way (the
    page reloads itself meanwhile), why it failed, or the link to download it."""
    action = f'/captures/{esc(doc["id"])}/wacz'
    status = package["status"] if package else None
    head = f'<h2 id="wacz">{esc(word("wacz", lang))}</h2><p class="muted">{esc(word("wacz_note", lang))}</p>'
    if status == "ready":
        assert package is not None
        name = f'{doc["target"]}-{doc["id"]}.wacz'
        return (head + f'<p><a id="wacz-download" href="{action}" download="{esc(name)}">'
                f'{esc(word("wacz_ready", lang))}: {esc(name)}</a> ({esc(size(package["bytes"]))})</p>'
                + table(["SHA-256", word("wacz_key", lang), word("when", lang)],
                        [[f'<span class="mono">{esc(package["sha256"])}</span>',
                          f'<span class="mono">{esc(package["fingerprint"])}</span>', esc(package["made_at"])]]))
    if status in ("queued", "packaging"):
        return head + f'<p class="notice" id="wacz-status" role="status">{esc(word("wacz_packaging", lang))}</p>'
    failed = message(f'{word("wacz_failed", lang)} {package["error"]}') if package and status == "failed" else ""
    return head + failed + "<p>" + post_button(action, word("wacz_make", lang), csrf) + "</p>"


def target_form(lang: str, csrf: str, values: dict[str, Any], error: str = "", field: str = "",
                spec_line: int | None = None) -> str:
    def text(key: str, kind: str = "text") -> str:
        mark = ' aria-invalid="true"' if field == key else ""
        return (f'<label for="{key}">{esc(word(key, lang))}</label>'
                f'<input type="{kind}" id="{key}" name="{key}" value="{esc(values.get(key, ""))}"{mark}>')

    def choice(key: str, options: tuple[str, ...]) -> str:
        chosen = values.get(key) or _DEFAULTS.get(key) or options[0]
        opts = "".join(f'<option{" selected" if o == chosen else ""}>{esc(o)}</option>' for o in options)
        return f'<label for="{key}">{esc(word(key, lang))}</label><select id="{key}" name="{key}">{opts}</select>'

    def area(key: str, rows: int) -> str:
        return (f'<label for="{key}">{esc(word(key, lang))}</label>'
                f'<textarea id="{key}" name="{key}" rows="{rows}">{esc(values.get(key, ""))}</textarea>')

    problem = ""
    if error:
        problem = message(f'{word("fix_below", lang)} {error}')
        if spec_line is not None and values.get("database"):
            lines = str(values["database"]).splitlines()
            shown = "".join((f'<mark id="spec-error">{i:>3}  {esc(line)}</mark>' if i == spec_line
                             else f"{i:>3}  {esc(line)}\n") for i, line in enumerate(lines, 1))
            problem += f'<pre class="spec">{shown}</pre>'
    return (problem + f'<form method="post" action="/targets/new" enctype="multipart/form-data">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            + text("url", "url") + text("name") + choice("kind", ("site", "database")) + choice("scope", _SCOPES)
            + text("every") + text("cron") + text("max_pages") + text("max_depth") + area("include", 2)
            + area("exclude", 2) + choice("robots", ("obey", "ignore")) + area("database", 8)
            + f'<label for="spec_file">{esc(word("upload", lang))}</label>'
            '<input type="file" id="spec_file" name="spec_file" accept=".toml,text/plain">'
            f'<p><button type="submit">{esc(word("add_target", lang))}</button></p></form>')


def mirrors_page(lang: str, rows: list[dict[str, Any]], role: str, csrf: str) -> str:
    action = ""
    if allows(role, "archivist"):
        action = "<p>" + post_button("/check", word("check_now", lang), csrf) + "</p>"
    if not rows:
        return action + _none(lang)
    body = [[esc(r["target"]), esc(r["channel"]), f'<a class="mono" href="{esc(r["url"])}">{esc(r["url"])}</a>',
             f'<span class="{status_class(r["status"])}">{esc(r["status"])}</span>',
             "<br>".join(f'{esc(v)}: <span class="{status_class(s)}">{esc(s)}</span>'
                         for v, s in sorted(r["vantages"].items())) or "-",
             esc(r["checked_at"] or word("never", lang))] for r in rows]
    heads = [word("targets", lang), "channel", word("url", lang), word("status", lang), word("vantage", lang),
             word("checked", lang)]
    return action + table(heads, body)


def hidden_page(lang: str, rows: list[dict[str, Any]], role: str, csrf: str, error: str = "") -> str:
    admin = allows(role, "admin")
    body = [[f'<span class="mono">{esc(r["url"])}</span>', esc(r["match"]), esc(r["reason"]), esc(r["created_at"]),
             esc(r["created_by"])] + ([post_button(f'/hidden/{r["id"]}/remove', word("unhide", lang), csrf)]
                                      if admin else []) for r in rows]
    heads = [word(k, lang) for k in ("url", "kind", "reason", "when", "who")] + ([""] if admin else [])
    listing = table(heads, body) if rows else _none(lang)
    form = ""
    if admin:
        form = ((message(error) if error else "") + f'<h2>{esc(word("hide", lang))}</h2>'
                f'<form method="post" action="/hidden"><input type="hidden" name="csrf" value="{esc(csrf)}">'
                f'<label for="url">{esc(word("url", lang))}</label><input type="url" id="url" name="url" required>'
                f'<label><input type="checkbox" name="prefix" value="1"> {esc(word("prefix", lang))}</label>'
                f'<label for="reason">{esc(word("reason", lang))}</label>'
                '<textarea id="reason" name="reason" rows="3" required></textarea>'
                f'<p><button type="submit">{esc(word("hide", lang))}</button></p></form>')
    return listing + form


def users_page(lang: str, rows: list[dict[str, Any]], csrf: str, error: str = "", created: str = "") -> str:
    body = [[esc(u["name"]), esc(u["role"]), esc(u["created_at"]),
             post_button(f'/users/{u["name"]}/remove', word("remove", lang), csrf)] for u in rows]
    note = message(f'{word("new_password", lang)}: {created}', "notice") if created else ""
    roles = "".join(f"<option>{r}</option>" for r in ROLES)
    return (note + (message(error) if error else "")
            + table([word(k, lang) for k in ("name", "role", "started")] + [""], body)
            + f'<h2>{esc(word("add_user", lang))}</h2><form method="post" action="/users">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
            f'<label for="name">{esc(word("name", lang))}</label><input type="text" id="name" name="name" required>'
            f'<label for="role">{esc(word("role", lang))}</label><select id="role" name="role">{roles}</select>'
            f'<label for="password">{esc(word("password", lang))} ({esc(word("blank_generates", lang))})</label>'
            '<input type="password" id="password" name="password" autocomplete="new-password">'
            f'<p><button type="submit">{esc(word("add_user", lang))}</button></p></form>')


def audit_page(lang: str, rows: list[dict[str, Any]], older: int | None) -> str:
    if not rows:
        return _none(lang)
    body = [[esc(e["at"]), esc(e["actor"]), esc(e["source"]), esc(e["action"]),
             f'<span class="mono">{esc(e["subject"])}</span>',
             esc(", ".join(f"{k}={v}" for k, v in e["detail"].items()))] for e in rows]
    more = f'<p><a href="/audit?before={older}">{esc(word("older", lang))}</a></p>' if older else ""
    return table([word(k, lang) for k in ("when", "who", "from", "what", "url")] + [""], body) + more
