"""The grammar of formats.html_scanner's fast path: which start tags every html.parser release reads
the same way, and the regular expressions that step over markup nobody rewrites."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

# A clean tag is one that every html.parser release reads the same way (3.11's
# locatestarttagend_tolerant and attrfind_tolerant; the locatetagend grammar of the 2025
# security releases): an ASCII name, then attributes each after ASCII white space, each a name
# of ordinary characters, optionally followed right away by '=' and a quoted or bare value,
# then optional white space, an optional '/' and '>'. Anything else (white space around '=',
# '/' between attributes, a quote or NUL in a name, Unicode spaces, a tag cut off by the end
# of the chunk) does not match and is left to HTMLParser itself.
_SP = r"[\t\n\r\f ]"
_NAME_REST = r"[a-zA-Z0-9_:.\-]*"
_NAME = r"[a-zA-Z]" + _NAME_REST
_ATTR_NAME = r"""[^\s"'<>/=\x00]+"""
_ATTR_VALUE = r"""(?:=(?:"[^"]*"|'[^']*'|[^\s"'=>][^\s>]*))?"""  # as html_attrs._CLEAN_ATTR's
CLEAN_TAG = re.compile(rf"<({_NAME})(?:{_SP}+{_ATTR_NAME}{_ATTR_VALUE})*+{_SP}*(/?)>")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:.-")


def _char_class(chars: set[str]) -> str:
    """A [...] pattern for chars, consecutive ones as ranges."""
    return _class_of(frozenset(chars))


@lru_cache(maxsize=None)  # the trie's nodes mostly ask for the same few sets
def _class_of(chars: frozenset[str]) -> str:
    codes = sorted(map(ord, chars))
    out, k = [], 0
    while k < len(codes):
        last = k
        while last + 1 < len(codes) and codes[last + 1] == codes[last] + 1:
            last += 1
        first_char, last_char = re.escape(chr(codes[k])), re.escape(chr(codes[last]))
        out.append(first_char if last == k else f"{first_char}-{last_char}")
        k = last + 1
    return "[" + "".join(out) + "]"


def _other_name(names: frozenset[str]) -> str:
    """A pattern for a _NAME that, lowercased, is none of names (lowercase ASCII).

    A negative lookahead over the names would try each in turn at every tag; this follows
    their trie instead, a character at a time: a tag name leaves it by a character no name
    continues with, by ending where no name ends, or by going on after a name ends.
    """
    trie: dict = {}
    for name in names:
        node = trie
        for ch in name:
            node = node.setdefault(ch, {})
        node[""] = {}

    def alternatives(node: dict, first: bool) -> str:
        kids = sorted(c for c in node if c)
        alts = [_char_class({k, k.upper()}) + alternatives(node[k], False) for k in kids]
        other = {c for c in _NAME_CHARS if c.isalpha() or not first} - {c for k in kids for c in (k, k.upper())}
        if other:
            alts.append(_char_class(other) + _NAME_REST)
        if not first and "" not in node:
            alts.append("")  # the name ends here, short of any of names
        return "(?:" + "|".join(alts) + ")"

    return "(?>" + alternatives(trie, True) + ")"


def skipper(starts: frozenset[str] | None, ends: frozenset[str]) -> Callable[[str, int], re.Match[str]]:
    """match(text, i): the run from i of text followed by '<', clean start tags whose name is
    not in starts and that have no style attribute (no start tag at all if starts is None),
    clean end tags whose name is not in ends, and '<' that starts no markup (HTMLParser's
    data "<"); possibly empty. Then, if the run stops at a clean start tag, that tag: group 1
    its text, 2 its name, 3 its '/'.
    """
    start = "" if starts is None else (
        rf"|<{_other_name(starts)}(?:{_SP}+(?!(?i:style)[\t\n\r\f /=>]){_ATTR_NAME}{_ATTR_VALUE})*+{_SP}*/?>")
    # The end tag goes before the start tag: both begin with '<', and an end tag fails the
    # start tag's name at once, where the other way round '/' was tried against every name
    # (a quarter of the time on the bench's pages).
    return re.compile(
        "(?:"
        r"[^<]++(?=<)"
        rf"|</{_other_name(ends)}{_SP}*>"
        + start +
        r"|<(?=[^a-zA-Z/!?])"
        ")*+"
        rf"(<({_NAME})(?:{_SP}+{_ATTR_NAME}{_ATTR_VALUE})*+{_SP}*(/?)>)?").match
