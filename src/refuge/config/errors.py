"""The two kinds of error every layer raises (the CLI maps them to exit codes), and the
redaction of credentials from what their messages show."""

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
