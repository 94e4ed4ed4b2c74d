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


_USERINFO_END = re.compile(r"[\s/?#@\\\"<>]")  # what cannot be in a user name or password


def redact_text(text: str) -> str:
    """TEXT with the credentials of every URL in it redacted as redact() does. Linear in
    TEXT: each scheme separator is looked past only as far as the next delimiter."""
    out, pos = [], 0
    while (sep := text.find("://", pos)) != -1:
        start = sep + 3
        end = _USERINFO_END.search(text, start)
        if end is not None and end.group() == "@" and end.start() > start:
            user, colon, _ = text[start:end.start()].partition(":")
            out += [text[pos:start], f"{user}:***" if colon else "***"]
            pos = end.start()
        else:
            out.append(text[pos:start])
            pos = start
    out.append(text[pos:])
    return "".join(out)
