"""Bad input gets one line of BadInput naming the input: a check for property tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from refuge.config.errors import BadInput

T = TypeVar("T")


def answered_or_refused(call: Callable[[], T], names: str = "") -> T | None:
    """What CALL returns, or None when it refused with one non-empty line of BadInput
    starting with NAMES (the file or input it names); any other exception fails the test."""
    try:
        return call()
    except BadInput as err:
        message = str(err)
        assert message and "\n" not in message and message.startswith(names), message
        return None
