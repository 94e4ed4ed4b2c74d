"""The console's page frame and the markup its pages share: escaped cells, forms that
carry the CSRF token, bilingual words.

Each page is in one language, the admin's choice (`?lang=km` or `?lang=en`, kept in a
cookie; first from the browser's Accept-Language). No script anywhere: every action is
a form, a running capture's page refreshes itself with <meta http-equiv="refresh">.
One stylesheet, /static/console.css, readable on a phone.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

from refuge.mirror.pages.reader import FONTS

LANGS = ("km", "en")

WORDS: dict[str, tuple[str, str]] = {
    "console": ("ផ្ទាំងគ្រប់គ្រង Refuge", "Refuge admin"),
    "login": ("ចូល", "Log in"),
    "logout": ("ចាកចេញ", "Log out"),
    "name": ("ឈ្មោះ", "Name"),
    "password": ("ពាក្យសម្ងាត់", "Password"),
    "wrong_login": ("ឈ្មោះ ឬពាក្យសម្ងាត់មិនត្រឹមត្រូវ។", "Wrong name or password."),
    "too_many": ("ព្យាយាមចូលខុសច្រើនដងពេក។ សូមរង់ចាំមួយនាទី។", "Too many failed logins. Wait a minute and try again."),
    "bad_form": ("ទម្រង់នេះផុតកំណត់ ឬមិនមែនមកពីទំព័រនេះ។ សូមបើកទំព័រម្តងទៀត។",
                 "This form has expired or did not come from this console. Open the page again."),
    "forbidden": ("តួនាទីរបស់អ្នកមិនអនុញ្ញាតឱ្យធ្វើការនេះទេ។", "Your role does not allow this."),
    "not_found": ("រកមិនឃើញ។", "Not found."),
    "dashboard": ("ផ្ទាំងទូទៅ", "Dashboard"),
    "targets": ("គោលដៅ", "Targets"),
    "add_target": ("បន្ថែមគោលដៅ", "Add a target"),
    "schedule": ("កាលវិភាគ", "Schedule"),
    "last_capture": ("ការថតចុងក្រោយ", "Last capture"),
    "status": ("ស្ថានភាព", "Status"),
    "replicas": ("ច្បាប់ចម្លង", "Copies"),
    "fixity": ("ភាពដដែល", "Fixity"),
    "mirrors": ("កញ្ចក់", "Mirrors"),
    "captures": ("ការថត", "Captures"),
    "capture": ("ការថត", "Capture"),
    "capture_now": ("ថតឥឡូវនេះ", "Capture now"),
    "publish_now": ("ផ្សព្វផ្សាយឥឡូវនេះ", "Publish now"),
    "check_now": ("ពិនិត្យកញ្ចក់ឥឡូវនេះ", "Check mirrors now"),
    "verify_now": ("ផ្ទៀងផ្ទាត់ច្បាប់ចម្លងទាំងអស់", "Verify every copy"),
    "remove": ("លុបចេញ", "Remove"),
    "pages": ("ទំព័រ", "Pages"),
    "queued": ("កំពុងរង់ចាំ", "Queued"),
    "bytes": ("ទំហំ", "Bytes"),
    "failures": ("បរាជ័យ", "Failures"),
    "files": ("ឯកសារ", "Files"),
    "started": ("ចាប់ផ្តើម", "Started"),
    "finished": ("បញ្ចប់", "Finished"),
    "download": ("ទាញយក", "Download"),
    "running_note": ("កំពុងថត។ ទំព័រនេះនឹងផ្ទុកឡើងវិញដោយខ្លួនឯង។",
                     "Capturing. This page reloads by itself."),
    "chart": ("ការថត ៣០ ចុងក្រោយ", "Last 30 captures"),
    "hidden": ("ការដកចេញ", "Takedowns"),
    "hide": ("លាក់", "Hide"),
    "unhide": ("បង្ហាញវិញ", "Unhide"),
    "reason": ("មូលហេតុ", "Reason"),
    "url": ("អាសយដ្ឋាន URL", "URL"),
    "prefix": ("ទាំងអស់ដែលចាប់ផ្តើមដោយ URL នេះ", "Everything under this URL"),
    "users": ("អ្នកប្រើ", "Users"),
    "role": ("តួនាទី", "Role"),
    "add_user": ("បន្ថែមអ្នកប្រើ", "Add a user"),
    "audit": ("កំណត់ហេតុ", "Audit log"),
    "when": ("ពេលវេលា", "When"),
    "who": ("នរណា", "Who"),
    "what": ("អ្វី", "What"),
    "from": ("ពីណា", "From"),
    "older": ("ចាស់ជាងនេះ", "Older"),
    "none_yet": ("មិនទាន់មានទេ។", "None yet."),
    "save": ("រក្សាទុក", "Save"),
    "kind": ("ប្រភេទ", "Kind"),
    "scope": ("វិសាលភាព", "Scope"),
    "every": ("រៀងរាល់ (30m, 6h, 1d)", "Every (30m, 6h, 1d)"),
    "cron": ("ឬ cron (UTC)", "Or cron (UTC)"),
    "max_pages": ("ទំព័រច្រើនបំផុត", "Most pages"),
    "max_depth": ("ជម្រៅច្រើនបំផុត", "Most depth"),
    "include": ("តែ URL ដែលត្រូវនឹង (មួយបន្ទាត់មួយ)", "Only URLs matching (one per line)"),
    "exclude": ("កុំយក URL ដែលត្រូវនឹង (មួយបន្ទាត់មួយ)", "Never URLs matching (one per line)"),
    "robots": ("robots.txt", "robots.txt"),
    "database": ("លក្ខណៈមូលដ្ឋានទិន្នន័យ (TOML)", "Database spec (TOML)"),
    "upload": ("ឬផ្ទុកឯកសារ", "or upload a file"),
    "fix_below": ("សូមកែកំហុសខាងក្រោម។", "Please fix the error below."),
    "vantage": ("ទីតាំងពិនិត្យ", "Vantage point"),
    "checked": ("ពិនិត្យនៅ", "Checked"),
    "never": ("មិនធ្លាប់", "never"),
    "started_job": ("បានចាប់ផ្តើម។", "Started."),
    "manifest": ("បញ្ជីឯកសារ", "Manifest"),
    "new_password": ("ពាក្យសម្ងាត់ថ្មី (បង្ហាញតែម្តង)", "New password (shown once)"),
    "blank_generates": ("ទុកទទេដើម្បីបង្កើតដោយស្វ័យប្រវត្តិ", "leave empty to generate one"),
    "wacz": ("កញ្ចប់ WACZ", "WACZ package"),
    "wacz_note": ("ឯកសារតែមួយដែលមានហត្ថលេខា៖ ឯកសារ WARC នៃការថតនេះដូចដែលបានរក្សាទុក សន្ទស្សន៍ និងបញ្ជីទំព័រ។ "
                  "ReplayWeb.page បើកវាបាន ហើយ `refuge verify` ពិនិត្យវាបាន។",
                  "One signed file: this capture's WARC files as stored, their index and its pages. "
                  "ReplayWeb.page opens it; `refuge verify` checks it."),
    "wacz_make": ("ទាញយកជា WACZ", "Download as WACZ"),
    "wacz_packaging": ("កំពុងវេចខ្ចប់ជា WACZ។ ទំព័រនេះនឹងផ្ទុកឡើងវិញដោយខ្លួនឯង។",
                       "Packaging as WACZ. This page reloads by itself."),
    "wacz_ready": ("ទាញយក", "Download"),
    "wacz_failed": ("ការវេចខ្ចប់មិនបានសម្រេច៖", "Packaging failed:"),
    "wacz_key": ("កូនសោចុះហត្ថលេខា", "Signing key"),
    "wacz_none": ("មិនទាន់មានកញ្ចប់ WACZ រួចរាល់ទេ។ សូមចុច «ទាញយកជា WACZ» នៅលើទំព័រនៃការថត។",
                  "No WACZ package is ready. Press “Download as WACZ” on the capture's page."),
}

CSS = (
    f"body{{margin:0;font:15px/1.6 {FONTS};color:#1a1a1a;background:#fafafa}}"
    "header{background:#243b55;color:#fff;padding:.5em 1em;display:flex;flex-wrap:wrap;gap:.3em 1em;align-items:center}"
    "header a,header button{color:#fff}header nav{display:flex;flex-wrap:wrap;gap:.2em 1em}"
    "header form{margin:0 0 0 auto}main{padding:1em;max-width:70em;margin:0 auto}"
    "h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}a{color:#0645ad}"
    ".table{overflow-x:auto}table{border-collapse:collapse;width:100%;background:#fff}"
    "td,th{text-align:left;padding:.35em .5em;border-bottom:1px solid #ddd;vertical-align:top}"
    "th{background:#eef1f5;font-weight:600}.ok{color:#17692b}.bad{color:#b00020;font-weight:600}"
    ".muted{color:#666}.mono{font-family:monospace;word-break:break-all}"
    "form.inline{display:inline}label{display:block;margin:.6em 0 .2em;font-weight:600}"
    "input,select,textarea{font:inherit;padding:.35em;max-width:100%;box-sizing:border-box}"
    "input[type=text],input[type=password],input[type=url],textarea{width:32em}"
    "button{font:inherit;padding:.35em .9em;cursor:pointer}"
    ".error{background:#fde7ea;border-left:4px solid #b00020;padding:.5em .8em}"
    ".notice{background:#e8f4ea;border-left:4px solid #17692b;padding:.5em .8em}"
    "pre.spec{background:#fff;border:1px solid #ddd;padding:.5em;overflow-x:auto}"
    "pre.spec mark{background:#fde7ea;display:block}svg{max-width:100%;height:auto;background:#fff}"
    "@media (max-width:40em){input[type=text],input[type=password],input[type=url],textarea{width:100%}"
    "td,th{padding:.3em}}"
)


def word(key: str, lang: str) -> str:
    km, en = WORDS[key]
    return km if lang == "km" else en


def esc(value: Any) -> str:
    return escape("" if value is None else str(value))


def table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """HEADERS are plain text, cells are markup already."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def post_button(action: str, label: str, csrf: str, confirm_field: str = "") -> str:
    """A button that POSTs to ACTION with the session's CSRF token."""
    return (f'<form class="inline" method="post" action="{esc(action)}">'
            f'<input type="hidden" name="csrf" value="{esc(csrf)}">{confirm_field}'
            f'<button type="submit">{esc(label)}</button></form>')


def status_class(status: str | None) -> str:
    return "ok" if status in ("complete", "ok", "up") else "bad" if status in ("failed", "bad", "down") else "muted"


def page(title: str, body: str, lang: str, *, user: str | None = None, role: str | None = None,
         csrf: str | None = None, head: str = "") -> bytes:
    nav = ""
    if user is not None:
        links = [("/", "dashboard"), ("/targets/new", "add_target"), ("/mirrors", "mirrors"), ("/hidden", "hidden"),
                 ("/audit", "audit")] + ([("/users", "users")] if role == "admin" else [])
        if role != "admin":
            links = [link for link in links if link[0] != "/targets/new"]
        nav = ("<nav>" + "".join(f'<a href="{href}">{esc(word(key, lang))}</a>' for href, key in links) + "</nav>"
               + f'<span class="muted">{esc(user)} ({esc(role)})</span>'
               + post_button("/logout", word("logout", lang), csrf or ""))
    other = "en" if lang == "km" else "km"
    switch = f'<a href="?lang={other}">{"English" if other == "en" else "ខ្មែរ"}</a>'
    return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · {esc(word("console", lang))}</title>'
            f'<link rel="stylesheet" href="/static/console.css">{head}</head><body>'
            f'<header><strong>{esc(word("console", lang))}</strong>{nav}{switch}</header>'
            f'<main><h1>{esc(title)}</h1>{body}</main></body></html>').encode()
