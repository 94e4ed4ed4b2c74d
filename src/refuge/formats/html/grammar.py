"""The HTML standard's tokenization rules, as regular expressions (formats.html.tokenizer).

Written from the WHATWG HTML standard, section 13.2.5 "Tokenization", for the states a
rewriter needs: tags with their attributes, comments, bogus comments and declarations, and
the ends of raw text elements. The input stream's preprocessing turns CR into LF before the
tokenizer sees it, so CR counts as white space here too. Browsers read markup this way;
CPython's html.parser does not always (it has changed between patch releases), which is
why this module exists.
"""

from __future__ import annotations

import re
from functools import cache

SPACE = "\t\n\f\r "


def ci(word: str) -> str:
    """A pattern for WORD in any ASCII case (re's IGNORECASE would also let 'ſ' stand for 's')."""
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


_SP = r"[\t\n\f\r ]"
# Tag name state: anything up to white space, '/' or '>'.
NAME = r"[a-zA-Z][^\t\n\f\r />]*+"
# An attribute: its name (the first character may be '='), then, when '=' follows, a value:
# double-quoted, single-quoted, unquoted (up to white space or '>'), or none before '>'. A
# quoted value the input ends inside leaves the tag incomplete.
VALUE = r"""(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >"'][^\t\n\f\r >]*+|(?=>))"""
ATTR_NAME = r"[^\t\n\f\r />][^\t\n\f\r /=>]*+"
ATTR = rf"{ATTR_NAME}(?:{_SP}*+={_SP}*+{VALUE}|(?!{_SP}*+=))"
# Between attributes: white space, and '/' not followed by '>' (a parse error, ignored).
_GAP = r"[\t\n\f\r /]++"
GAP_OPT = r"[\t\n\f\r /]*+"
SP = _SP
TAG_NAME = re.compile(NAME)
_ATTRS = rf"(?:{_GAP}|{ATTR})*+"

# A whole start or end tag: group 1 is "/" for an end tag, group 2 the name. A tag only fails
# to match when the input ends inside it: then it is not complete yet.
TAG = re.compile(rf"<(/?)({NAME}){_ATTRS}>")
# A comment: '<!-->' and '<!--->' end at once; otherwise it ends at the first '-->' or '--!>'.
COMMENT = re.compile(r"<!--(?:>|->|[\s\S]*?--!?>)")
# '<!...' other than a comment (DOCTYPE, CDATA outside SVG/MathML, anything), '<?...', and
# '</' followed by something other than a letter or '>': a bogus comment to the next '>'.
BOGUS = re.compile(r"<(?:![^>]*+|\?[^>]*+|/[^a-zA-Z>][^>]*+)>")
# A start tag without a style attribute (its whole text): a tag that does not match has one.
STYLELESS = re.compile(rf"<{NAME}(?:{_GAP}|(?!{ci('style')}[\t\n\f\r /=>]){ATTR})*+>")

# Raw text elements. Script data, RAWTEXT and RCDATA all end at an "appropriate end tag":
# '</name' followed by white space, '/' or '>', whatever its case; the end tag then runs to
# its '>' as any tag does. Script data also has escapes: after '<!--', a '<script' opens a
# nested script in which '</script' does not end the element (until '-->').
SCRIPT = "script"
RAWTEXT = frozenset({"style", "xmp", "iframe", "noembed", "noframes"})
RCDATA = frozenset({"title", "textarea"})
PLAINTEXT = "plaintext"  # the rest of the document is text
RAW_ELEMENTS = frozenset({SCRIPT, PLAINTEXT}) | RAWTEXT | RCDATA


@cache
def end_of(name: str) -> re.Pattern[str]:
    """The end tag that closes raw text element NAME (group 0 from '<' to its '>')."""
    return re.compile(rf"</{ci(name)}(?=[\t\n\f\r />]){_ATTRS}>")


@cache
def end_start_of(name: str) -> re.Pattern[str]:
    """Where an end tag of NAME could begin: what end_of needs to be tried at."""
    return re.compile(rf"</{ci(name)}(?=[\t\n\f\r />])")


# Script data: the next place where the state can change.
SCRIPT_EVENTS = re.compile(rf"<!--|-->|<(/?){ci('script')}(?=[\t\n\f\r />])")


def other_name(names: frozenset[str]) -> str:
    """A pattern for a tag NAME that, lowercased, is none of NAMES (lowercase ASCII).

    A negative lookahead over the names would try each in turn at every tag; this follows
    their trie instead, a character at a time: a name leaves it by a character no name goes
    on with, by ending where no name ends, or by going on after a name ends.
    """
    trie: dict = {}
    for name in names:
        node = trie
        for ch in name:
            node = node.setdefault(ch, {})
        node[""] = {}

    def alternatives(node: dict, first: bool) -> str:
        kids = sorted(c for c in node if c)
        alts = [_char_class(frozenset({k, k.upper()})) + alternatives(node[k], False) for k in kids]
        taken = "".join(k + k.upper() for k in kids)
        if first:
            alts.append(f"(?![{re.escape(taken)}])[a-zA-Z][^\t\n\f\r />]*+" if taken else NAME)
        else:
            alts.append(f"(?![{re.escape(taken)}\t\n\f\r />])[^\t\n\f\r />][^\t\n\f\r />]*+" if taken
                        else "[^\t\n\f\r />]++")
            if "" not in node:
                alts.append(r"(?=[\t\n\f\r />])")  # the name ends here, short of any of NAMES
        return "(?:" + "|".join(alts) + ")"

    return "(?>" + alternatives(trie, True) + ")"


def _char_class(chars: frozenset[str]) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


@cache
def skipper(starts: frozenset[str] | None, ends: frozenset[str]) -> re.Pattern[str]:
    """A pattern that matches, from a position in the data state, the run of what needs no
    attention: text, start tags whose name is not in STARTS and that have no style attribute
    (no start tag at all if STARTS is None), end tags whose name is not in ENDS, comments,
    bogus comments and declarations, and '<' that starts no markup. Possibly empty. It stops
    before anything else, or before markup the input ends inside.
    """
    start = "" if starts is None else (
        rf"|<{other_name(starts)}(?:{_GAP}|(?!{ci('style')}[\t\n\f\r /=>]){ATTR})*+>")
    return re.compile(
        "(?:"
        r"[^<]++"
        rf"|</{other_name(ends)}{_ATTRS}>"
        + start +
        r"|<!--(?:>|->|[\s\S]*?--!?>)"
        r"|<(?:!(?!--)[^>]*+|\?[^>]*+|/[^a-zA-Z>][^>]*+)>"
        r"|</>"
        r"|<(?=[^a-zA-Z/!?])"
        ")*+")
