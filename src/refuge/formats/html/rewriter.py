"""THE HTML rewriter: an archived page copied through exactly, its links rewritten by a policy.

Nothing is rebuilt from parsed tokens, which would normalise the markup: the tokenizer
(formats.html.tokenizer) says where each start tag, raw text element and end tag lies, and
the output is the input with edits at those places only: URL attribute values, <style>
bodies, removed attributes or elements, and the policy's insertions (a banner at the start of
the body, meta tags at the head).

What the edits are is the policy's (formats.html.policy.Policy): replay's points every link
back into the archive, the static export's makes links relative and drops what would reach
out. The rewriter knows HTML: which attributes hold URLs of which kind (formats.html.attrs),
srcset candidates, CSS in style attributes and elements, where the body begins, <base>,
<picture>/<video>/<audio> around a <source>, and an element's extent when a policy drops it.

With view=True the page is fed as formats.html.utf8_view's view of its UTF-8 bytes: only the
tags, <style> and <script> text and the title that are not all ASCII are decoded, to be read.

A memo (a dict the caller keeps) remembers rewritten start tags from page to page: pages of a
site repeat their navigation and assets. The caller gives pages the same memo only when their
policy answers alike for all of them (the export's does for the pages of one folder, read the
same way); the rewriter decides which tags may use it (_memorable).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from refuge.formats.css import rewrite_css
from refuge.formats.html import grammar, utf8_view
from refuge.formats.html.attrs import (
    CSS,
    HEAD_TAGS,
    SRCSET,
    URL,
    URL_TAGS,
    WS,
    Attr,
    escape_attr,
    fetchable,
    parse_attrs,
    url_attrs,
    url_spans,
)
from refuge.formats.html.grammar import ci
from refuge.formats.html.policy import DROP_TAG, Leaving, LinkFunction, Policy
from refuge.formats.html.tokenizer import Tokenizer, skippers

# The start tags and end tags the rewriter acts on (besides every start tag with a style
# attribute, and every start tag until the head and the banner are placed).
_MEDIA = ("picture", "video", "audio")
_HIDDEN = ("noscript", "template")  # no banner is placed inside them
STARTS = URL_TAGS | HEAD_TAGS | frozenset({"body", "frameset", "source", *_MEDIA, *_HIDDEN})
ENDS = frozenset({*_MEDIA, *_HIDDEN})
# Start tags whose handling does more than rewrite their own text (see _memorable).
_STATEFUL = frozenset({"base", "script", "source", "html", "head", "body", "frameset", "title", *_MEDIA, *_HIDDEN,
                       *grammar.RAW_ELEMENTS})
MEMO_LIMIT = 50_000  # start tags remembered in one memo: a bound on memory for a huge site


def prepare() -> None:
    """Compile the tokenizer's expressions now (see tokenizer.skippers)."""
    skippers(STARTS, ENDS)


class HtmlRewriter:
    """Rewrites one HTML document fed in chunks; feed() and close() return the output that can
    no longer change. `title` is the document's first non-empty <title> (with
    policy.wants_title), `base` its first <base href> as written."""

    def __init__(self, policy: Policy, *, view: bool = False, skip: bool = True,
                 memo: dict[str, str] | None = None) -> None:
        self.policy = policy
        self.view = view
        self.memo = memo
        self.title = ""
        self.base: str | None = None
        texts = {"style"} | ({"title"} if policy.wants_title else set()) | (
            {"script"} if policy.checks_scripts else set())
        self._tokens = Tokenizer(self, STARTS, ENDS, frozenset(texts), skip=skip)
        self._pending: list[str] = []  # input not yet returned, starting at _out_at
        self._out_at = 0
        self._patches: list[tuple[int, int, str]] = []  # (start, end, replacement), in order
        self._head_done = policy.head is None
        self._banner_done = policy.banner is None
        self._media: list[str] = []  # open <picture>, <video>, <audio>: what a <source> feeds
        self._hidden = 0  # depth inside <noscript>/<template>
        self._script: tuple[int, bool] | None = None  # a held <script>: (start, dropped already)
        self._dropping: int | None = None  # where an element of policy.dropped_elements began
        self._script_type = ""
        self._script_text: str | None = None
        self._titling = False
        self._tokens.every_start = not (self._head_done and self._banner_done)

    # -- input and output ----------------------------------------------------------------

    def feed(self, text: str) -> str:
        """Read a chunk; return the output that can no longer change."""
        if text:
            self._pending.append(text)
            self._tokens.feed(text)
            if self._script is not None and self._tokens.given_up:
                self._script = None  # too long to check: it stays as it is, and output flows
        return self._flush(self._limit())

    def close(self) -> str:
        """Finish the document; return the rest of the output."""
        self._tokens.close()
        end = self._tokens.settled
        if self._script is not None:  # an unclosed <script> runs to the end of the document
            self._end_script(end, False)
        if self._dropping is not None:  # so does an unclosed dropped element
            self._drop(self._dropping, end)
        if not self._head_done:
            self._head_done = True
            self._patches.append((end, end, self.policy.head or ""))
        if not self._banner_done:
            self._banner_done = True
            self._patches.append((end, end, self.policy.banner or ""))
        return self._flush(end)

    def _limit(self) -> int:
        limit = self._tokens.settled
        if self._dropping is not None:
            limit = min(limit, self._dropping)
        return limit if self._script is None else min(limit, self._script[0])

    def _flush(self, limit: int) -> str:
        if limit <= self._out_at and not (self._patches and self._patches[0][1] <= limit):
            return ""
        buf = self._pending[0] if len(self._pending) == 1 else "".join(self._pending)
        base = pos = self._out_at
        out = []
        done = 0
        for start, end, replacement in self._patches:
            if end > limit:
                break
            out.append(buf[pos - base:start - base])
            out.append(replacement)
            pos = end
            done += 1
        del self._patches[:done]
        out.append(buf[pos - base:limit - base])
        rest = buf[limit - base:]
        self._pending = [rest] if rest else []
        self._out_at = limit
        return "".join(out)

    # -- the tokenizer's events ----------------------------------------------------------

    def start_tag(self, name: str, at: int, text: str) -> None:
        shown = text  # as it lies in the input (the view, with view=True)
        if self.view and not text.isascii():
            text = utf8_view.real(text)
        patches = self._patches
        if not self._head_done and name not in ("html", "head"):
            self._head_done = True
            patches.append((at, at, self.policy.head or ""))
        if not self._banner_done:
            if name == "frameset":
                self._banner_done = True
            elif name != "body" and name not in HEAD_TAGS and not self._hidden:
                self._banner_done = True
                patches.append((at, at, self.policy.banner or ""))
        memo = self.memo if self._memorable(name, shown) else None
        new = memo.get(shown) if memo is not None else None
        if new is None:
            new = self._new_tag(name, at, text)
            if new is text or new == text:
                new = shown
            elif self.view:
                new = utf8_view.view(new)
            if memo is not None and len(memo) < MEMO_LIMIT:
                memo[shown] = new
        if new is not shown:
            patches.append((at, at + len(shown), new))
        end = at + len(shown)
        if not self._head_done and name == "head":
            self._head_done = True
            patches.append((end, end, self.policy.head or ""))
        if name == "body" and not self._banner_done and not self._hidden:
            self._banner_done = True
            patches.append((end, end, self.policy.banner or ""))
        if name in _MEDIA:
            self._media.append(name)
        elif name in _HIDDEN:
            self._hidden += 1
            if self._dropping is None and name in self.policy.dropped_elements:
                self._dropping = at
        elif name == "title" and not self.title:
            self._titling = True
        self._tokens.every_start = not (self._head_done and self._banner_done)

    def _memorable(self, name: str, shown: str) -> bool:
        """Whether the rewrite of this start tag depends on its text alone, given a policy that
        answers alike for every page of a folder: no <base> and no media element changes how
        its links read, it changes no state here, and it has no link made of a query only
        ('?page=2' resolves against the whole page URL)."""
        return (self.memo is not None and self.base is None and not self._media and name not in _STATEFUL
                and "?" not in shown)

    def end_tag(self, name: str, at: int, end: int) -> None:
        if name in _MEDIA:
            if name in self._media:
                del self._media[len(self._media) - 1 - self._media[::-1].index(name):]
        elif name in _HIDDEN:
            if self._hidden:
                self._hidden -= 1
            if self._dropping is not None and name in self.policy.dropped_elements:
                self._drop(self._dropping, end)
                self._dropping = None
        elif name == "script" and self._script is not None:
            self._end_script(end, True)

    def raw_text(self, name: str, start: int, text: str, ended: bool) -> None:
        read = utf8_view.real(text) if self.view and not text.isascii() else text
        if name == "style":
            new = rewrite_css(read, self.policy.css_link)
            if new != read:
                self._patches.append((start, start + len(text), utf8_view.view(new) if self.view else new))
        elif name == "title" and self._titling:
            self._titling = False
            self.title = " ".join(read.split())
        elif name == "script" and self._script is not None:
            self._script_text = read

    # -- start tags ------------------------------------------------------------------------

    def _new_tag(self, name: str, at: int, text: str) -> str:
        """The start tag as it goes into the page ("" to drop it; TEXT itself if unchanged).
        A <script> opens an element that may still be dropped whole at its end (_end_script):
        when the policy drops its src, or (checks_scripts) its inline text."""
        attrs = parse_attrs(text) if name in URL_TAGS or "style" in text.lower() else None
        if name == "base" and self.base is None and attrs is not None:
            # Known before any link of the tag (or after it) is rewritten.
            self.base = next((a.value.strip(WS) for a in attrs if a.name == "href" and a.value.strip(WS)), None)
            if self.base is not None:
                self.policy.set_base(self.base)
        policy = self.policy
        if name == "script":
            self._script_type = next((a.value for a in attrs or () if a.name == "type"), "")
            self._script_text = None
            inline = not any(a.name == "src" and a.value.strip(WS) for a in attrs or ())
            self._script = (at, False) if inline and policy.checks_scripts else None
        if not policy.keep(name, text):
            return ""
        if attrs is None:
            return text
        edits: list[tuple[int, int, str]] = []
        leaving = False
        for a, kind, mode in url_attrs(name, attrs, self._media[-1] if self._media else ""):
            if mode == CSS:
                new = rewrite_css(a.value, policy.css_link)
                if new != a.value:
                    edits.append((a.vstart, a.vend, escape_attr(new, a.quote)))
                continue
            if mode == SRCSET:
                edit = self._srcset(name, a, kind, text)
                if edit is not None:
                    edits.append(edit)
                continue
            span = _url_span(a.value) if mode == URL else next(iter(url_spans(mode, a.value)), None)
            if span is None:
                continue
            s, e = span
            url = a.value[s:e]
            if not fetchable(url):
                continue  # a fragment, javascript:, mailto:, data:...: nothing to fetch
            new = policy.link(url, kind, name, a.name)
            if new is None:
                continue
            if new is DROP_TAG:
                if name == "script":
                    self._script = (at, True)
                    return text
                return ""
            if not isinstance(new, str):  # DROP_ATTR
                edits.append(_removal(text, a.start, a.end))
            else:
                leaving = leaving or isinstance(new, Leaving)
                if new != url:
                    edits.append((a.vstart, a.vend, escape_attr(a.value[:s] + new + a.value[e:], a.quote)))
        edits += self._removals(name, text, attrs)
        if leaving and name in ("a", "area") and policy.leaving_title is not None \
                and not any(a.name == "title" for a in parse_attrs(text, every=True)):
            at = 1 + len(name)
            edits.append((at, at, f' title="{policy.leaving_title}"'))
        return _apply(text, edits)

    def _removals(self, name: str, text: str, attrs: list[Attr]) -> list[tuple[int, int, str]]:
        """Attributes the policy removes: integrity (where the bytes it vouches for change),
        and those it removes from every tag."""
        edits = []
        if name in self.policy.integrity_tags:
            edits += [_removal(text, a.start, a.end) for a in attrs if a.name == "integrity"]
        removed = self.policy.removed_attrs
        if removed and _mentions(removed).search(text):
            edits += [_removal(text, a.start, a.end) for a in parse_attrs(text, every=True) if a.name in removed]
        return edits

    def _srcset(self, name: str, a: Attr, kind: str, text: str) -> tuple[int, int, str] | None:
        """The edit of a srcset: each candidate's URL replaced in place; a candidate the policy
        drops goes with its descriptors (the attribute, when none is left)."""
        value = a.value
        spans = url_spans(SRCSET, value)
        decisions = [self.policy.link(value[s:e], kind, name, a.name) if fetchable(value[s:e]) else None
                     for s, e in spans]
        if all(d is None for d in decisions):
            return None
        if any(not isinstance(d, str) and d is not None for d in decisions):
            pieces = []
            for i, ((s, e), d) in enumerate(zip(spans, decisions)):
                rest = value[e:spans[i + 1][0] if i + 1 < len(spans) else len(value)]
                if d is None or isinstance(d, str):
                    pieces.append((value[s:e] if d is None else d) + rest)
            if not pieces:
                return _removal(text, a.start, a.end)
            new = value[:spans[0][0]] + "".join(pieces).rstrip(WS + ",")
        else:
            out, pos = [], 0
            for (s, e), d in zip(spans, decisions):
                if d is None or d == value[s:e]:
                    continue
                assert isinstance(d, str)
                # A space or trailing comma would end the candidate early.
                d = d.replace(" ", "%20").replace(",", "%2C") if " " in d or d.endswith(",") else d
                out += [value[pos:s], d]
                pos = e
            if not out:
                return None
            new = "".join(out) + value[pos:]
        return (a.vstart, a.vend, escape_attr(new, a.quote)) if new != value else None

    # -- scripts ---------------------------------------------------------------------------

    def _end_script(self, end: int, complete: bool) -> None:
        assert self._script is not None
        start, dropped = self._script
        self._script = None
        text, self._script_text = self._script_text or "", None
        if not dropped and self.policy.keep_script(text, self._script_type, complete):
            return
        self._drop(start, end)

    def _drop(self, start: int, end: int) -> None:
        """Remove [start, end) from the output, with the edits inside it; insertions (head,
        banner) made inside it move after it."""
        kept = [p for p in self._patches if p[1] <= start]
        moved = [(end, end, r) for s, e, r in self._patches if s == e and start < s]
        self._patches[:] = kept + [(start, end, "")] + moved


@cache
def _mentions(names: frozenset[str]) -> re.Pattern[str]:
    """Finds any of NAMES in a tag's text, in any ASCII case (a quick test before parsing)."""
    return re.compile("|".join(ci(n) for n in sorted(names)))


def _url_span(value: str) -> tuple[int, int] | None:
    start = len(value) - len(value.lstrip(WS))
    end = len(value.rstrip(WS))
    return (start, end) if end > start else None


def _removal(text: str, start: int, end: int) -> tuple[int, int, str]:
    """The edit that removes the attribute at [start, end) with the white space before it."""
    return len(text[:start].rstrip(WS)), end, ""


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    if len(edits) == 1:
        start, end, replacement = edits[0]
        return text[:start] + replacement + text[end:]
    edits.sort(key=lambda e: (e[0], e[1]))
    out, pos = [], 0
    for start, end, replacement in edits:
        if start < pos:  # edits of one tag's attributes never overlap; be safe
            continue
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def rewrite_html(text: str, policy: Policy | Callable[[str, str], str | None], banner: str | None = None) -> str:
    """The whole document rewritten at once. POLICY may be a function rewrite(url, kind)
    (formats.html.policy.LinkFunction), then BANNER is its banner."""
    if not isinstance(policy, Policy):
        policy = LinkFunction(policy, banner)
    rewriter = HtmlRewriter(policy)
    return rewriter.feed(text) + rewriter.close()
