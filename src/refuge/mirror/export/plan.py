"""Which records of a capture become files of its export, and where any URL lives there.

A 2xx response becomes a file (a revisit too, through the record holding its payload;
one whose original is not in the archive is left out). A captured 3xx is no file: links
to it go where its redirect chain ends. A URL taken down (storage.catalog.hidden) is no
file either: links to it, and redirects that end at it, lead to a notice of its takedown,
``withheld/<takedown id>.html``, one for each takedown that withheld something (NOTICES).
A page captured with a browser (formats.rendered) has its rendered DOM in the capture: the
page's file is written from it (DOMS), and its screenshot becomes a file beside the page,
``<page>.screenshot.png`` (SCREENSHOTS), linked from the page's banner. These records of a
page taken down are withheld with it. No other record of a URL that is not http(s) is a
file.
Planning reads nothing: everything it needs about the records comes in a
storage.capture_records.CaptureRecords, and the takedowns in a Takedowns, read beforehand.
"""

from __future__ import annotations

import logging
from collections.abc import Set as AbstractSet
from typing import Any

from refuge.formats import rendered
from refuge.formats.urls import canonical, join
from refuge.mirror.export.paths import assign_paths, desired_path, is_page
from refuge.storage.capture_records import CaptureRecords
from refuge.storage.catalog.hidden import Takedowns
from refuge.storage.catalog.index import Hit, url_key

log = logging.getLogger(__name__)

MAX_REDIRECTS = 20
SCREENSHOT_SUFFIX = ".screenshot.png"  # a page's screenshot: beside it, its name and this
WITHHELD = "withheld"  # the root folder of the takedown notices: a name no URL's path may take


def canon(url: str) -> str:
    """URL's canonical form, or URL itself when it has none."""
    try:
        return canonical(url)
    except ValueError:
        return url


class Plan:
    """Which records become which files (HITS: canonical URL -> record; SOURCES: revisit's
    canonical URL -> the record holding its payload; PAGES; PATHS: canonical URL -> export
    path), and where any captured URL (or a redirect to one) lives in the export (lookup).
    RESERVED are root names no URL may take. TAKEDOWNS: what readers are not shown
    (WITHHELD: canonical URL -> its notice's path; NOTICES: notice path -> takedown).
    DOMS: a page's canonical URL -> its rendered DOM's record, the newest of the capture;
    SCREENSHOTS: a page's canonical URL -> the key of its screenshot in HITS and PATHS."""

    def __init__(self, records: CaptureRecords, reserved: AbstractSet[str],
                 takedowns: Takedowns | None = None) -> None:
        files: dict[str, Hit] = {}
        redirects: dict[str, Hit] = {}
        self.sources: dict[str, Hit] = {}
        self.withheld: dict[str, str] = {}
        self.notices: dict[str, dict[str, Any]] = {}
        doms: dict[str, Hit] = {}
        shots: dict[str, Hit] = {}
        for hit in records.hits:
            # A resource record (in an imported archive) has no HTTP status: it is served as a 200.
            status = hit.status if hit.rectype != "resource" else (hit.status or 200)
            if hit.rectype not in ("response", "revisit", "resource") or status is None:
                continue
            page = rendered.page_of(hit.url)
            if page is not None:
                if takedowns and takedowns.for_url(page) is not None:
                    continue
                found = doms if rendered.kind_of(hit.url) == "dom" else shots
                if hit.rectype == "resource" and (canon(page) not in found or found[canon(page)].timestamp
                                                  <= hit.timestamp):
                    found[canon(page)] = hit
                continue
            if not hit.url[:8].lower().startswith(("http://", "https://")):
                continue
            key = canon(hit.url)
            takedown = takedowns.for_key(hit.urlkey or url_key(hit.url)) if takedowns else None
            if takedown is not None:
                self.withheld[key] = notice = f"{WITHHELD}/{takedown['id']}.html"
                self.notices[notice] = takedown
                continue
            if 200 <= status < 300 and status != 206 and key not in files:
                if hit.rectype == "revisit":
                    original = records.originals.get(hit)
                    if original is None:
                        log.warning("export: %s is a revisit whose original is not in the archive", hit.url)
                        continue
                    self.sources[key] = original
                files[key] = hit
            elif 300 <= status < 400 and key not in redirects:
                redirects[key] = hit
        self.hits = files
        self.urls = {key: hit.url for key, hit in files.items()}
        # A revisit indexed elsewhere may say only "warc/revisit": its original knows the type.
        mimes = {key: self.sources[key].mime if hit.mime in ("warc/revisit", "unk", "") and key in self.sources
                 else hit.mime for key, hit in files.items()}
        self.pages = {key for key, mime in mimes.items() if is_page(mime)}
        self.doms = {key: hit for key, hit in doms.items() if key in self.pages}
        self.screenshots: dict[str, str] = {}
        wanted = [(key, desired_path(hit.url, mimes[key], key in self.pages)) for key, hit in files.items()]
        for key, shot in sorted(shots.items()):
            if key in self.pages:
                self.screenshots[key] = shot_key = rendered.screenshot_uri(key)
                files[shot_key] = shot
                self.urls[shot_key] = shot.url
                page_path = desired_path(files[key].url, mimes[key], True)
                wanted.append((shot_key, page_path.rsplit(".", 1)[0] + SCREENSHOT_SUFFIX))
        self.paths = assign_paths(wanted, frozenset(reserved))
        leads: dict[str, str] = {}
        for key, hit in redirects.items():
            if key in files:
                continue
            if hit in records.unreadable:
                log.warning("export: redirect %s unreadable: %s", hit.url, records.unreadable[hit])
                continue
            location = records.locations.get(hit)
            target = join(hit.url, location) if location else None
            if target:
                leads[key] = canon(target.split("#", 1)[0])
        self.aliases: dict[str, str] = {}
        for key in leads:
            step, seen = key, set()
            while step in leads and step not in seen and len(seen) < MAX_REDIRECTS:
                seen.add(step)
                step = leads[step]
                if step in self.paths or step in self.withheld:
                    self.aliases[key] = self.paths.get(step) or self.withheld[step]
                    break
        self.by_surt: dict[str, str] = {}
        for key, path in sorted(self.paths.items(), key=lambda kv: kv[1]):
            self.by_surt.setdefault(files[key].urlkey or key, path)  # the index's SURT of its URL
        for key, path in sorted(self.aliases.items()) + sorted(self.withheld.items()):
            self.by_surt.setdefault(url_key(key) or key, path)
        # Links mostly name a captured URL exactly as it was captured.
        self._cache: dict[str, str | None] = {hit.url: self.paths[key] for key, hit in files.items()}

    def screenshot_path(self, key: str) -> str | None:
        """The export path of the screenshot of the page KEY (a canonical URL), if it has one."""
        shot = self.screenshots.get(key)
        return self.paths.get(shot) if shot else None

    def lookup(self, url: str) -> str | None:
        """The export path of an absolute URL (no fragment), following captured redirects;
        None if it was not captured."""
        found = self._cache.get(url, False)
        if found is not False:
            return found  # type: ignore[return-value]
        key = canon(url)
        path = self.paths.get(key) or self.withheld.get(key) or self.aliases.get(key)
        if path is None:
            surt = url_key(url)
            path = self.by_surt.get(surt) if surt else None
        if len(self._cache) < 200_000:
            self._cache[url] = path
        return path
