"""Sending one alert: a JSON POST to a webhook, or a plain-text email through [smtp].

Contract:
- every network call has a timeout (the alert's `timeout` for a webhook, smtp.timeout for
  mail) and a delivery makes at most ATTEMPTS tries, pausing between them; an answer that
  will not change by trying again (a 4xx from a webhook, a 5xx from a mail server) ends it
  at once. A delivery that fails raises DeliveryFailed with a one-line reason that names
  no secret: no password, no webhook path or query (shown_webhook), no server text
  that would echo them;
- webhooks go through a plain requests session, not the crawler's guarded one: an admin
  may point them at an internal service. The session ignores the environment (proxies,
  .netrc), as every Refuge session does, and follows no redirect;
- the webhook body is {event, state, subject, detail, at, refuge_version}; state is
  "failing", "recovered" or, for `refuge alerts test`, "test".
"""

from __future__ import annotations

import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Callable

import requests

from refuge import __version__
from refuge.config.alert_settings import Alert, SmtpSettings

ATTEMPTS = 3
PAUSES = (0.5, 1.0)  # seconds before the second and third tries
LABELS = {"capture_failed": "capture failed", "snapshot_incomplete": "snapshot incomplete",
          "fixity_damage": "fixity damage", "mirror_down": "mirror down", "store_unreachable": "store unreachable",
          "test": "test alert"}


class DeliveryFailed(Exception):
    """The alert did not reach its channel; the message is one line with no secret in it."""


class _Final(Exception):
    """Trying again would get the same answer."""


@dataclass(frozen=True)
class Message:
    event: str
    state: str  # failing | recovered | test
    subject: str
    detail: str
    at: str  # ISO 8601 UTC: when the state began (or the test was sent)

    def payload(self) -> dict[str, Any]:
        return {"event": self.event, "state": self.state, "subject": self.subject, "detail": self.detail,
                "at": self.at, "refuge_version": __version__}

    def title(self) -> str:
        state = {"failing": "FAILING", "recovered": "recovered"}.get(self.state, self.state)
        text = f"[Refuge] {state}: {LABELS.get(self.event, self.event)}: {self.subject}"
        return "".join(c if c.isprintable() else " " for c in text)[:200]

    def body(self) -> str:
        return (f"Refuge alert: {LABELS.get(self.event, self.event)}\n\n"
                f"State:   {self.state}\nSubject: {self.subject}\nSince:   {self.at}\nDetail:  {self.detail}\n\n"
                f"Event {self.event}, sent by Refuge {__version__}. `refuge alerts` shows every condition.\n")


def deliver(alert: Alert, smtp: SmtpSettings | None, message: Message, user_agent: str = "Refuge") -> None:
    """Send MESSAGE to ALERT's channel, trying up to ATTEMPTS times; DeliveryFailed if it never got there."""
    if alert.webhook:
        def send() -> None:
            post_webhook(alert, message, user_agent)
    else:
        if smtp is None:
            raise DeliveryFailed("no [smtp] table is configured")

        def send() -> None:
            send_email(smtp, alert.email, message)
    _with_retries(send, alert.channel)


def _with_retries(send: Callable[[], None], channel: str) -> None:
    last = ""
    for attempt in range(ATTEMPTS):
        try:
            send()
            return
        except _Final as exc:
            raise DeliveryFailed(f"{channel}: {exc}") from None
        except (requests.RequestException, smtplib.SMTPException, OSError) as exc:
            last = _why(exc)
        if attempt < ATTEMPTS - 1:
            time.sleep(PAUSES[attempt])
    raise DeliveryFailed(f"{channel}: {last} ({ATTEMPTS} tries)")


def post_webhook(alert: Alert, message: Message, user_agent: str = "Refuge") -> None:
    """One POST of the message's JSON to the alert's webhook; raises on anything but 2xx."""
    with requests.Session() as session:
        session.trust_env = False  # no proxy or .netrc from the environment (design: settings only)
        # stream=True: the status line is all that is wanted; the body is never read, so a
        # receiver that drips one cannot hold the alert thread past the read timeout.
        response = session.post(alert.webhook, json=message.payload(), allow_redirects=False, stream=True,
                                timeout=(min(5.0, alert.timeout), alert.timeout),
                                headers={"User-Agent": user_agent})
        status = response.status_code
        response.close()
    if 200 <= status < 300:
        return
    if status in (408, 425, 429) or status >= 500:
        raise requests.HTTPError(f"answered HTTP {status}")
    raise _Final(f"answered HTTP {status}")


def send_email(smtp: SmtpSettings, address: str, message: Message) -> None:
    """One SMTP session that sends the message to ADDRESS; raises on any refusal."""
    mail = EmailMessage()
    mail["Subject"] = message.title()
    mail["From"] = smtp.sender
    mail["To"] = address
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2])
    mail.set_content(message.body())
    context = ssl.create_default_context()
    try:
        if smtp.ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(smtp.host, smtp.effective_port, timeout=smtp.timeout,
                                                    context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.effective_port, timeout=smtp.timeout)
        with client:
            if not smtp.ssl and smtp.starttls:
                client.starttls(context=context)
            if smtp.username:
                client.login(smtp.username, smtp.password)
            client.send_message(mail)
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:  # a permanent refusal: the address, the login, the message
            raise _Final(f"the mail server refused it ({exc.smtp_code})") from None
        raise
    except smtplib.SMTPRecipientsRefused:
        raise _Final(f"the mail server refused the address {address}") from None
    except smtplib.SMTPNotSupportedError:
        raise _Final("the mail server does not offer STARTTLS (set starttls = false only on a trusted network)") \
            from None


def _why(exc: BaseException) -> str:
    """A short reason for EXC without its text, which may hold the URL's path and query
    (requests puts them in its messages): the first OS error's description in its chain."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror.lower()
        if isinstance(seen, smtplib.SMTPResponseException):
            return f"the mail server answered {seen.smtp_code}"
        if isinstance(seen, requests.HTTPError):
            return str(seen)  # ours: "answered HTTP 503"
        if isinstance(seen, (requests.Timeout, TimeoutError)):
            return "timed out"
        reason = getattr(seen, "reason", None)
        nested = reason if isinstance(reason, BaseException) else None
        first = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else None
        seen = nested or first or seen.__cause__ or seen.__context__
    return type(exc).__name__
