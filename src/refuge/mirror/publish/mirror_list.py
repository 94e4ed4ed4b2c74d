"""The mirror list: every working mirror URL of every target, as signed JSON and as a page.

    mirrors.json          the list (format "refuge-mirrors/1"), working mirrors first; a target's
                          "bundles" (when `bundles` is set): files to carry, with URLs, size, SHA-256
    mirrors.json.minisig  its signature in minisign's format: `minisign -Vm mirrors.json -p refuge.pub`
    mirrors.html          the same list for readers, Khmer first, no script, relative links
    refuge.pub            the public key, as a minisign .pub file

The four files are stored under DATA/mirrors/list/ (:mod:`refuge.storage.mirror_files`
names them and reads them back) and served from there by the replay server at its
root, uploaded with every publish (into each mirror and beside them), and written into
every export, so each mirror leads to all the others. The same catalog state gives the
same bytes: the list's time is the newest publish or check in it, never the time it
was written, and Ed25519 signatures are deterministic.
"""

from __future__ import annotations

import json
import os
import tempfile
from calendar import timegm
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from refuge.config.settings import Settings
from refuge.formats.urls import display_url
from refuge.mirror.pages.reader import bilingual as _t
from refuge.mirror.pages.reader import reader_page
from refuge.mirror.publish.signing_key import signing_key
from refuge.storage import catalog
from refuge.storage.catalog import bundles, mirrors
from refuge.storage.mirror_files import list_dir

FORMAT = "refuge-mirrors/1"
_STATUS = {"up": ("ដំណើរការ", "working"), "down": ("មិនដំណើរការ", "not working"),
           "unknown": ("មិនទាន់ពិនិត្យ", "not checked yet")}


def document(settings: Settings, engine: Engine) -> dict[str, Any]:
    """The list as a JSON-ready dict."""
    key = signing_key(settings, engine)
    rows = mirrors.active(engine)
    vantages = mirrors.latest_by_vantage(engine, (r["id"] for r in rows))
    by_target: dict[str, dict[str, Any]] = {}
    for t in catalog.list_targets(engine):
        by_target[t.name] = {"name": t.name, "url": t.spec.url, "kind": t.spec.kind, "mirrors": []}
    times = []
    for r in rows:
        entry = by_target.get(r["target"])
        if entry is None:
            continue
        times += [r["published_at"], r["checked_at"] or ""]
        entry["mirrors"].append({
            "channel": r["channel"], "style": r["style"], "url": r["url"], "content": r["content"],
            "capture": r["capture_id"], "published_at": r["published_at"], "checked_at": r["checked_at"],
            "status": r["status"], "vantages": vantages.get(r["id"], {}),
        })
    for b in bundles.listed(engine):  # files to carry (a ZIM for Kiwix): key only where there are some
        entry = by_target.get(b["target"])
        if entry is None:
            continue
        times.append(b["published_at"])
        entry.setdefault("bundles", []).append({
            "format": b["format"], "name": b["name"], "size": b["size"], "sha256": b["sha256"],
            "capture": b["capture_id"], "published_at": b["published_at"], "urls": b["urls"],
        })
    return {
        "format": FORMAT,
        "generated_at": max(times) if times else None,
        "public_key": key.public_key_b64(),
        "verify": "minisign -Vm mirrors.json -P " + key.public_key_b64(),
        "targets": [by_target[name] for name in sorted(by_target)
                    if by_target[name]["mirrors"] or by_target[name].get("bundles")],
    }


def render_json(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode("utf-8")


def render_html(doc: dict[str, Any], *, home: str = "index.html") -> bytes:
    """The reader's page of the list. Every link is relative or a mirror URL."""
    sections = []
    for t in doc["targets"]:
        items = []
        for m in t["mirrors"]:
            km, en = _STATUS.get(m["status"], _STATUS["unknown"])
            checked = f" · {escape(m['checked_at'])}" if m.get("checked_at") else ""
            items.append(
                f'<li class="{escape(m["status"])}"><a class="url" href="{escape(m["url"])}">{escape(m["url"])}</a>'
                f'<br><small>{escape(m["channel"])} · {_t(km, en, " / ")}{checked}</small></li>')
        sections.append(f'<h2>{escape(t["name"])}</h2><p class="url">{escape(display_url(t["url"]))}</p>'
                        f'<ul>{"".join(items)}</ul>' + "".join(_bundle_html(b) for b in t.get("bundles", [])))
    if not sections:
        sections.append(f"<p>{_t('មិនទាន់មានកញ្ចក់ដែលបានផ្សព្វផ្សាយទេ។', 'No mirror published yet.', '<br>')}</p>")
    body = (
        f'<h1>{_t("កញ្ចក់ទាំងអស់", "Every mirror", "<br>")}</h1>'
        '<p lang="km">ប្រសិនបើអាសយដ្ឋានមួយត្រូវបានបិទ សូមសាកល្បងអាសយដ្ឋានមួយទៀត។ '
        'អាសយដ្ឋានដែលដំណើរការនៅខាងលើ។</p>'
        '<p lang="en" class="en">If one address is blocked, try another. Working ones come first.</p>'
        + "".join(sections)
        + f'<h2>{_t("ពិនិត្យបញ្ជីនេះ", "Check this list", " / ")}</h2>'
        '<p lang="en" class="en">This list is signed. Anyone can check that it is unaltered with '
        '<a href="https://jedisct1.github.io/minisign/">minisign</a>:</p>'
        f'<pre class="url">{escape(doc["verify"])}</pre>'
        f'<p><a href="mirrors.json">mirrors.json</a> · <a href="mirrors.json.minisig">mirrors.json.minisig</a> · '
        f'<a href="refuge.pub">refuge.pub</a></p>'
    )
    return reader_page("Mirrors / កញ្ចក់", body, home=home)


_BUNDLE_TITLES = {"zim": ("ច្បាប់ចម្លងសម្រាប់អានក្រៅបណ្តាញ (Kiwix)", "Offline copy for Kiwix (ZIM)")}


def _bundle_html(b: dict[str, Any]) -> str:
    """A bundle for readers: where to download it, its size, and the SHA-256 to check a copy by."""
    km, en = _BUNDLE_TITLES.get(b["format"], (b["format"], b["format"]))
    links = "".join(f'<li><a class="url" href="{escape(u["url"])}">{escape(u["url"])}</a>'
                    f'<br><small>{escape(u["channel"])}</small></li>' for u in b["urls"])
    mib = f"{b['size'] / 1048576:.1f} MiB"
    return (f'<h3>{_t(km, en, " / ")}</h3><ul>{links}</ul>'
            f'<p>{escape(b["name"])} · {mib} · SHA-256</p><pre class="url">{escape(b["sha256"])}</pre>'
            '<p lang="km">ទាញយកម្តង ហើយចែករំលែកវាបាន។ ពិនិត្យច្បាប់ចម្លងដែលអ្នកទទួលបាន៖ '
            '<code>sha256sum</code> ត្រូវតែបង្ហាញលេខខាងលើ។</p>'
            '<p lang="en" class="en">Download it once and pass it on. To check a copy you were given, '
            '<code>sha256sum</code> must print the number above.</p>')


def trusted_comment(doc: dict[str, Any]) -> str:
    """minisign's own form: the list's time (not the signing time) and the file name."""
    when = doc.get("generated_at")
    stamp = timegm(datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").timetuple()) if when else 0
    return f"timestamp:{stamp}\tfile:mirrors.json\thashed"


def build_files(settings: Settings, engine: Engine, doc: dict[str, Any] | None = None, *,
                home: str = "index.html") -> dict[str, bytes]:
    """The four list files, from DOC or the catalog as it is now."""
    key = signing_key(settings, engine)
    doc = doc if doc is not None else document(settings, engine)
    body = render_json(doc)
    return {
        "mirrors.json": body,
        "mirrors.json.minisig": key.sign(body, trusted_comment(doc)).encode("ascii"),
        "mirrors.html": render_html(doc, home=home),
        "refuge.pub": key.public_key_file().encode("ascii"),
    }


def refresh(settings: Settings, engine: Engine, doc: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Rebuild the list files and store them under DATA/mirrors/list/ (what the replay
    server serves). Each file is replaced atomically; the signature goes last."""
    files = build_files(settings, engine, doc, home="/")
    folder = list_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("mirrors.html", "refuge.pub", "mirrors.json", "mirrors.json.minisig"):
        _write_atomic(folder / name, files[name])
    return files


def _write_atomic(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
