"""The static export's rewriting policy: every link made relative, nothing left that reaches out.

A link to a captured resource becomes a relative href to its file in the export. A link a
reader follows (<a>, <area>, a form) to something not captured keeps its original absolute
URL, marked as leaving the mirror; anything else that is not captured (an image, a
stylesheet, a frame, a preload, a meta refresh, <base>) is removed or pointed at nothing, so
opening a page never contacts the origin or a third party. Scripts from other sites and
inline scripts that track or name other hosts are dropped (export.scripts); the page stays
readable without JavaScript. A page written from its rendered DOM (scripts=False) keeps no
script that runs at all: the DOM is what they made; nor its <noscript> elements, which the
browser that rendered it, with scripting on, never showed ("enable JavaScript" notices, a
second copy of each lazy image).

The document is otherwise copied exactly by formats.html.rewriter.HtmlRewriter, in its own
charset; what is inserted (the head meta tags and the banner of export.banner) is ASCII, so
it fits every charset.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from refuge.formats.css import rewrite_css
from refuge.formats.html.attrs import WS, parse_attrs
from refuge.formats.html.policy import DROP_ATTR, DROP_TAG, Decision, Leaving, Policy
from refuge.formats.urls import join, quote_url
from refuge.mirror.export.banner import LEAVING_TITLE
from refuge.mirror.export.paths import rel_href
from refuge.mirror.export.scripts import drops_inline, executable
from refuge.mirror.export.site import Site

Lookup = Callable[[str], "str | None"]  # absolute URL, fragment removed -> its path in the export, or None

INERT = "data:,"  # what an uncaptured CSS url() becomes: loads nothing, fetches nothing
_NAV = frozenset({("a", "href"), ("area", "href"), ("form", "action"), ("button", "formaction"),
                  ("input", "formaction")})
_DROP_META = frozenset({"content-security-policy", "x-dns-prefetch-control", "set-cookie", "origin-trial"})


def local_href(path: str, absolute: str, lookup: Lookup) -> str | None:
    """The relative href from the export file PATH to the captured URL ABSOLUTE (its fragment
    kept), or None if it was not captured."""
    bare, hashmark, fragment = absolute.partition("#")
    target = lookup(bare)
    if target is None:
        return None
    return rel_href(path, target) + (hashmark + quote_url(fragment) if hashmark else "")


def folder_of(url: str, path: str) -> tuple[str, str]:
    """The folder of the page captured at URL and exported at PATH: pages of one folder get
    the same answers from their policies (links resolve against the folder, hrefs are made
    from the folder, the host is the same), so they may share a rewriter's memo."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/", path.rsplit("/", 1)[0]


class ExportPolicy(Policy):
    """The policy for the page captured at URL, exported at PATH: see the module docstring."""

    leaving_title = LEAVING_TITLE
    removed_attrs = frozenset({"crossorigin", "ping", "srcdoc"})
    integrity_tags = frozenset({"link", "script"})
    wants_title = True
    checks_scripts = True

    def __init__(self, url: str, path: str, lookup: Lookup, site: Site, head: str, banner: str,
                 scripts: bool = True) -> None:
        self.url, self.path, self.lookup, self.site = url, path, lookup, site
        self.head, self.banner = head, banner
        self.scripts = scripts
        # A rendered DOM was made with scripting on: its <noscript> content was never shown.
        self.dropped_elements = frozenset() if scripts else frozenset({"noscript"})
        self._base = url

    def set_base(self, href: str) -> None:
        self._base = join(self.url, href) or self.url

    def local(self, absolute: str) -> str | None:
        return local_href(self.path, absolute, self.lookup)

    def link(self, url: str, kind: str, tag: str, attr: str) -> Decision:
        absolute = join(self._base, url)
        if tag == "script":  # only a captured script of the site's own runs
            if not self.scripts:
                return DROP_TAG
            local = self.local(absolute) if absolute is not None and self.site.owns(absolute, self.url) else None
            return DROP_TAG if local is None else local
        if absolute is None:
            return None
        local = self.local(absolute)
        if local is not None:
            return local
        if (tag, attr) in _NAV:
            return Leaving(quote_url(absolute))
        return DROP_TAG if tag in ("link", "meta") else DROP_ATTR

    def css_link(self, url: str, kind: str) -> str | None:
        absolute = join(self._base, url)
        if absolute is None:
            return None
        return self.local(absolute) or INERT

    def keep(self, tag: str, text: str) -> bool:
        if tag == "base":  # links are made relative; a <base> would send them elsewhere
            return False
        if tag == "meta":
            named = {a.name: a.value.strip(WS).lower() for a in reversed(parse_attrs(text, every=True))}
            return named.get("http-equiv", "") not in _DROP_META and named.get("name") != "referrer"
        return True

    def keep_script(self, text: str, script_type: str, complete: bool) -> bool:
        # A script the document ends inside would swallow whatever a browser finds after it.
        if not self.scripts:
            return complete and not executable(script_type)
        return complete and not drops_inline(text, script_type)


def rewrite_stylesheet(text: str, url: str, path: str, lookup: Lookup) -> str:
    """A stylesheet with url() and @import made relative to its own file, or inert."""
    def ref(href: str, _kind: str) -> str | None:
        absolute = join(url, href)
        if absolute is None:
            return None
        return local_href(path, absolute, lookup) or INERT
    return rewrite_css(text, ref)
