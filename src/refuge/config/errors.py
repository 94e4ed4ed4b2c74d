"""The two kinds of error every layer raises; the CLI maps them to exit codes."""


class BadInput(ValueError):
    """The input is wrong (a malformed URL, an unknown target, a bad setting): exit 2, HTTP 4xx.

    The message is one line and names the offending input.
    """


class Failure(RuntimeError):
    """The input was fine but the work could not be done (the seed unreachable, say): exit 1."""
