"""What a rewrite of a page does with its links and elements: the rewriter's policy.

formats.html.rewriter.HtmlRewriter finds every URL of a page and every place where something
may be inserted; a Policy says what becomes of each. Replay's policy points links back into
the archive (mirror.replay.policy), the static export's makes them relative and drops what
would reach out (mirror.export.policy), as pywb's HTMLRewriter takes a UrlRewriter.

A policy is given URLs as written in the page, entity-decoded and stripped; it resolves them
itself, against the page's <base href> once set_base() has told it one. Its answer for a URL:

    a str        the new URL (a Leaving: one that leaves the mirror; a followed link gets
                 leaving_title)
    None         leave the URL as it is
    DROP_ATTR    remove the attribute (in a srcset: the candidate)
    DROP_TAG     remove the start tag (for a <script src>: the whole element)
"""

from __future__ import annotations

from collections.abc import Callable


class _Drop:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


DROP_ATTR = _Drop("DROP_ATTR")
DROP_TAG = _Drop("DROP_TAG")
Decision = str | _Drop | None


class Leaving(str):
    """A new URL that leaves the mirror (an uncaptured page, kept as its original address)."""


class Policy:
    """The defaults leave a page as it is. Attributes a policy sets:

    head             inserted after <head>, or before the first tag that cannot be in it
    banner           inserted after <body>, or before the first tag that cannot be in <head>
    leaving_title    the title= a followed link (<a>, <area>) gets when its URL is a Leaving
    removed_attrs    attributes removed from every start tag
    integrity_tags   the tags whose integrity= is removed (the bytes it vouches for change)
    wants_title      collect the page's title (HtmlRewriter.title)
    checks_scripts   ask keep_script() about inline scripts (their output is held to their end)
    dropped_elements <noscript> and/or <template>: removed whole, content and all (the first
                     end tag of the name ends one, as it does for a browser with scripting on)
    """

    head: str | None = None
    banner: str | None = None
    leaving_title: str | None = None
    removed_attrs: frozenset[str] = frozenset()
    integrity_tags: frozenset[str] = frozenset({"link"})
    wants_title = False
    checks_scripts = False
    dropped_elements: frozenset[str] = frozenset()

    def set_base(self, href: str) -> None:
        """The page's first <base href>, as written: later links resolve against it."""

    def link(self, url: str, kind: str, tag: str, attr: str) -> Decision:
        """What the URL in attribute ATTR of TAG becomes; KIND is what it loads ("page",
        "image", "style", "script", "frame", "media", "other", or "base" for <base href>)."""
        return None

    def css_link(self, url: str, kind: str) -> str | None:
        """What a url() or @import in CSS (a style attribute or element) becomes."""
        return None

    def keep(self, tag: str, text: str) -> bool:
        """Whether the start tag TAG (its whole text) stays in the page."""
        return True

    def keep_script(self, text: str, script_type: str, complete: bool) -> bool:
        """Whether an inline script stays (with checks_scripts); COMPLETE is False for one the
        document ends inside."""
        return True


class LinkFunction(Policy):
    """A policy made of one function: rewrite(url_as_written, kind) -> new URL or None, for
    attribute and CSS links alike; an optional banner."""

    def __init__(self, rewrite: Callable[[str, str], str | None], banner: str | None = None) -> None:
        self.rewrite = rewrite
        self.banner = banner

    def link(self, url: str, kind: str, tag: str, attr: str) -> Decision:
        return self.rewrite(url, kind)

    def css_link(self, url: str, kind: str) -> str | None:
        return self.rewrite(url, kind)
