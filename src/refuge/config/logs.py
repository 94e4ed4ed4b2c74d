"""How every Refuge process logs: one format on stderr, and no credentials.

Contract: setup_logging(level) configures the root logger once per process (the CLI, each
replay server process, each capture worker process); every line it writes, exception
text included, has the user name and password of any URL in it replaced as redact_text
does, whoever logged it (Refuge, urllib3, waitress) and whatever the URL came from (a
setting, a target, a link on a hostile page).
"""

from __future__ import annotations

import logging

from refuge.config.errors import redact_text

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and exception text with credentials redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a faulty log call: the handler reports it, as without us
            return True
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def setup_logging(level: int) -> None:
    """Log at LEVEL to stderr through the redacting filter (once: a later call only sets the level)."""
    root = logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(level)
