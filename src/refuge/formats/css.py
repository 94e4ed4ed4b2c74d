"""CSS: the URLs a stylesheet references, and rewriting them in place.

A regex tokenizer is enough: only comments, strings, @import, url() and image-set() matter,
and skipping comments and strings whole is what keeps `/* url(x) */` and
`content: "url(x)"` from being taken for references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

# Neither fetchable nor worth rewriting; `#id` points into the same document (SVG filters).
_SKIP = ("data:", "#", "javascript:", "about:")

_DQ = r'(?:[^"\\\n]|\\[\s\S])*'
_SQ = r"(?:[^'\\\n]|\\[\s\S])*"
# CSS allows no quotes, parentheses, whitespace or control characters in an unquoted url().
_BARE = r"(?:[^\s\"'()\\\x00-\x08\x0b\x0e-\x1f\x7f]|\\[^\n])*"
_COMMENT = r"/\*[^*]*(?:\*+[^*/][^*]*)*(?:\*+/|\**\Z)"


def _url_call(p: str, head: str = "(?i:url)") -> str:
    # The group names carry a prefix so the pattern can be used several times in one regex.
    return (rf"""{head}\([ \t\n\r\f]*(?:"(?P<{p}d>{_DQ})"|'(?P<{p}s>{_SQ})'|(?P<{p}u>{_BARE}))"""
            r"[ \t\n\r\f]*\)")


# Every alternative starts with a plain character, which lets the regex engine skip ahead
# to candidate positions instead of trying each alternative at every character.
_TOKEN = re.compile(
    _COMMENT
    + rf"""|@(?i:import)(?:[ \t\n\r\f]|{_COMMENT})*(?:"(?P<qd>{_DQ})"|'(?P<qs>{_SQ})'|{_url_call("i")})"""
    + r"|@(?i:namespace)[^;{]*"  # a namespace URI names, it is never fetched
    + "".join(rf"|{u}(?<![\w-]{u}){_url_call(u, '(?i:rl)')}" for u in "uU")
    + r"|-(?<![\w-]-)(?P<set>(?i:webkit-image-set))\("
    + "".join(rf"|{i}(?<![\w-]{i})(?P<set{i}>(?i:mage-set))\(" for i in "iI")
    + rf"""|"{_DQ}"?|'{_SQ}'?"""  # other strings (unterminated ones end at the line)
)
# Inside image-set() a bare string is an image URL too; parentheses nest.
_SET_TOKEN = re.compile(
    _COMMENT
    + rf"|{_url_call('u')}"
    + rf"""|"(?P<d>{_DQ})"?|'(?P<s>{_SQ})'?"""
    + r"|(?P<open>\()|(?P<close>\))"
)
# Group name -> (kind, quote character used by the value).
_GROUPS = {
    "qd": ("style", '"'), "qs": ("style", "'"),
    "id": ("style", '"'), "is": ("style", "'"), "iu": ("style", ""),
    "ud": ("image", '"'), "us": ("image", "'"), "uu": ("image", ""),
    "Ud": ("image", '"'), "Us": ("image", "'"), "Uu": ("image", ""),
    "d": ("image", '"'), "s": ("image", "'"),
}
_WS = " \t\n\r\f"
_NEEDS_QUOTES = re.compile(r"[\s\"'()\\\x00-\x1f\x7f]")


def _refs(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, kind, quote) of each URL value, quotes excluded, in document order."""
    pos = 0
    search = _TOKEN.search
    while True:
        m = search(text, pos)
        if m is None:
            return
        pos = m.end()
        name = m.lastgroup
        if name is not None and name.startswith("set"):
            pos = yield from _image_set(text, pos)
        elif name is not None:
            kind, quote = _GROUPS[name]
            yield m.start(name), m.end(name), kind, quote


def _image_set(text: str, pos: int) -> Iterator[tuple[int, int, str, str]]:
    depth = 1
    while depth:
        m = _SET_TOKEN.search(text, pos)
        if m is None:
            return len(text)
        pos = m.end()
        name = m.lastgroup
        if name == "open":
            depth += 1
        elif name == "close":
            depth -= 1
        elif name is not None:
            kind, quote = _GROUPS[name]
            yield m.start(name), m.end(name), kind, quote
    return pos


def _wanted(url: str) -> bool:
    return bool(url) and not url[:11].lower().startswith(_SKIP)


def css_urls(text: str) -> list[tuple[str, str]]:
    """Every URL a stylesheet references, in order, as (url_as_written, kind).

    kind is "style" for @import targets and "image" for any other url() (images, fonts...).
    The URL is left as written: CSS escapes are not decoded, surrounding whitespace is removed.
    """
    if "(" not in text and "@" not in text:
        return []
    found = []
    for start, end, kind, _quote in _refs(text):
        url = text[start:end].strip(_WS)
        if _wanted(url):
            found.append((url, kind))
    return found


def rewrite_css(text: str, rewrite: Callable[[str, str], str | None]) -> str:
    """text with each URL replaced by rewrite(url_as_written, kind); None leaves it unchanged.

    Everything else is copied unchanged. A replacement keeps the original quoting; an unquoted
    url() whose new value needs quoting gets double quotes.
    """
    if "(" not in text and "@" not in text:
        return text
    out: list[str] = []
    done = 0
    for start, end, kind, quote in _refs(text):
        written = text[start:end]
        url = written.strip(_WS)
        if not _wanted(url):
            continue
        new = rewrite(url, kind)
        if new is None or new == url:
            continue
        start += len(written) - len(written.lstrip(_WS))  # the white space around it stays
        out.append(text[done:start])
        out.append(_quoted(new, quote))
        done = start + len(url)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


def _quoted(value: str, quote: str) -> str:
    if not quote:
        if not _NEEDS_QUOTES.search(value):
            return value
        return '"' + _escape(value, '"') + '"'
    return _escape(value, quote)


def _escape(value: str, quote: str) -> str:
    # Values are handed over with their escapes as written: an escape passes through whole
    # (a quote escaped already stays escaped once); a bare quote or line break is escaped,
    # and so is a backslash left alone at the end, which would escape the closing quote.
    return _ESCAPABLE[quote].sub(_escape_one, value)


_ESCAPABLE = {q: re.compile(r"\\[\s\S]|\\\Z|" + q + r"|[\n\r\f]") for q in "\"'"}
_ESCAPED = {"\n": "\\a ", "\r": "\\d ", "\f": "\\c ", "\\": "\\\\"}


def _escape_one(m: re.Match[str]) -> str:
    found = m.group(0)
    if len(found) == 2:
        return found
    return _ESCAPED.get(found, "\\" + found)
