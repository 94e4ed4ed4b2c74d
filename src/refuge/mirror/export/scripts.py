"""Which scripts an export keeps: a page must stay readable with JavaScript off and open
nothing outside the mirror with it on, so inline scripts that track, or that name another
host when they run, are dropped (export.policy drops other sites' script files). A page
written from its rendered DOM (a browser capture) keeps no script that runs: they ran
already, and would run again on what they built (executable)."""

from __future__ import annotations

import re

from refuge.formats.html.attrs import WS

_TRACKERS = re.compile(
    r"googletagmanager|google-analytics|googleadservices|googlesyndication|doubleclick|adsbygoogle"
    r"|\bgtag\s*\(|\bfbq\s*\(|\b_paq\b|matomo|piwik|\b_gaq\b|\bga\s*\(\s*['\"](?:create|send)"
    r"|facebook\.net|connect\.facebook|hotjar|clarity\.ms|mc\.yandex|metrika|\bym\s*\(|plausible\.io"
    r"|segment\.(?:io|com)|mixpanel|chartbeat|quantserve|scorecardresearch|comscore|newrelic|nr-data\.net"
    r"|addthis|sharethis|taboola|outbrain|amazon-adsystem|criteo|hs-scripts|hubspot|crazyegg|mouseflow"
    r"|fullstory|heapanalytics|statcounter|histats|cloudflareinsights|navigator\.sendBeacon", re.I)
# An absolute or scheme-relative URL in script text ('https://x.y', "https:\/\/x.y", "//x.y").
_ABSOLUTE = re.compile(r"""(?:\bhttps?:|["'`(=,]\s*)\\?/\\?/[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+""", re.I)
_JS_TYPES = frozenset({"", "module", "text/javascript", "application/javascript", "text/ecmascript",
                       "application/ecmascript", "application/x-javascript", "text/x-javascript",
                       "text/jscript", "text/livescript", "speculationrules", "importmap"})


def executable(script_type: str) -> bool:
    """Whether a <script type=SCRIPT_TYPE> runs (rather than holding data, like JSON-LD)."""
    t = script_type.strip(WS).lower().split(";", 1)[0]
    return t in _JS_TYPES or "javascript" in t or "ecmascript" in t


def drops_inline(text: str, script_type: str) -> bool:
    """Whether an inline script goes: it tracks, or (when it runs) it names another host."""
    if _TRACKERS.search(text):
        return True
    return executable(script_type) and _ABSOLUTE.search(text) is not None
