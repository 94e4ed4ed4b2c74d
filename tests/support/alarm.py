"""A guard against code that hangs, for tests of hostile input."""

from __future__ import annotations

import signal


class Alarm:
    """Fails the test if the block takes longer than SECONDS: a guard against a parser that
    takes minutes, with a margin of ten to a hundred times what it takes now."""

    def __init__(self, seconds: int, what: str) -> None:
        self.seconds, self.what = seconds, what

    def __enter__(self) -> None:
        def too_slow(*_args: object) -> None:
            raise TimeoutError(f"{self.what} not done within {self.seconds} s")
        self.old = signal.signal(signal.SIGALRM, too_slow)
        signal.alarm(self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)
