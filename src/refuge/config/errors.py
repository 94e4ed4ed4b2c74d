"""The two kinds of error every layer raises (the CLI maps them to exit codes), and the
redaction of credentials from what their messages show."""

import re
from urllib.parse import urlsplit


class BadInput(ValueError):
    """The input is wrong (a malformed URL, an unknown target, a bad setting): exit 2, HTTP 4xx.

    The message is one line and names the offending input.
    """


class Failure(RuntimeError):
    """The input was fine but the work could not be done (the seed unreachable, say): exit 1."""


def first_line(exc: object, limit: int = 300) -> str:
    """An exception's message fit for a one-line error: its first line, at most LIMIT
    characters, or its type's name when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def redact(url: str) -> str:
    """URL fit for a message or a log line: a password in it becomes ***, and so does a user
    name given alone (a token, as often as not)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" not in netloc:
        return url
    userinfo, host = netloc.rsplit("@", 1)
    user, colon, _ = userinfo.partition(":")
    shown = f"{user}:***" if colon else "***"
    return url.replace(netloc, f"{shown}@{host}", 1)


_USERINFO_END = re.compile(r"[\s/?#\\\"<>]")  # what ends the stretch where a user name and password may be


def redact_text(text: str) -> str:
    """TEXT with the credentials of every URL in it redacted as redact() does: what lies
    between a scheme's :// and the last @ before the host ends. It errs toward masking (a
    list like 'http://a.example','me@b.example' loses a little too) and is linear in TEXT:
    each stretch after a :// is looked through once."""
    out, pos = [], 0
    while (sep := text.find("://", pos)) != -1:
        start = sep + 3
        end = _USERINFO_END.search(text, start)
        stretch_end = end.start() if end is not None else len(text)
        at = text.rfind("@", start, stretch_end)
        if at > start:
            user, colon, _ = text[start:at].partition(":")
            out += [text[pos:start], f"{user}:***" if colon else "***"]
            pos = at
        else:
            out.append(text[pos:start])
            pos = start
    out.append(text[pos:])
    return "".join(out)
