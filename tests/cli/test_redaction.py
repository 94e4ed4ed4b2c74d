"""Credentials in URLs never reach a reader of Refuge's output: an operator pastes a
command's output into an issue, a log goes to a shared server. Every store an operator
names with a user name and password in its URL is down here, so each command has
something to say about it."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from refuge.config.errors import redact_text
from refuge.config.logs import RedactingFilter
from servers import free_port

REFUGE = str(Path(sys.executable).with_name("refuge"))
SECRET = "hunter2-sesame"


def run(data: Path, *args: str, env: dict[str, str]) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("REFUGE_", "AWS_"))}
    full |= {"REFUGE_DATA": str(data), "REFUGE_BACKOFF": "0.05", "REFUGE_TIMEOUT": "5", "REFUGE_RETRIES": "0",
             "AWS_ACCESS_KEY_ID": "refuge-test", "AWS_SECRET_ACCESS_KEY": "refuge-test-key", **env}
    done = subprocess.run([REFUGE, "-v", *args], capture_output=True, text=True, timeout=180, env=full,
                          stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


def test_no_command_shows_the_password_of_a_store_url(tmp_path, fixture_site) -> None:
    data = tmp_path / "data"
    s3 = f"http://keeper:{SECRET}@127.0.0.1:{free_port()}"
    ipfs = f"http://node:{SECRET}@127.0.0.1:{free_port()}"
    env = {"REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_MAX_PAGES": "3", "REFUGE_S3_BUCKET": "mirror",
           "REFUGE_S3_ENDPOINT_URL": s3, "REFUGE_IPFS_API": ipfs}
    assert "added target" in run(data, "add", fixture_site.url, "--name", "news", "--scope", "host", env=env)
    outputs = {args: run(data, *args.split(), env=env)
               for args in ("capture news", "push", "stores", "stores --json", "publish news")}
    for args, output in outputs.items():
        assert SECRET not in output, f"`refuge {args}` shows the password"
    # They did name the stores, with what identifies them and the credentials masked.
    assert all("keeper:***@127.0.0.1" in outputs[a] for a in ("capture news", "push", "stores", "stores --json"))
    assert all("node:***@127.0.0.1" in outputs[a] for a in ("push", "stores", "publish news"))


_USERINFO = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=", min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=40), user=_USERINFO, password=_USERINFO, unencoded=st.booleans(),
       after=st.text(max_size=40))
def test_a_password_in_a_url_anywhere_in_a_message_is_masked(before: str, user: str, password: str,
                                                            unencoded: bool, after: str) -> None:
    secret = f"PW{password}" + ("@" + password if unencoded else "")  # an @ left unencoded, too
    text = f"{before} https://{user}:{secret}@example.org/path {after}"
    redacted = redact_text(text)
    assert f"https://{user}:***@example.org/path" in redacted
    assert secret not in redacted.replace(before, "").replace(after, "")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["", "http://example.org/a", "mailto:me@example.org"]))
def test_text_without_credentials_is_unchanged(text: str, url: str) -> None:
    # What can look like credentials needs a :// with an @ after it before any / ? # or space.
    plain = (text + " " + url).replace("://", ":/")
    assert redact_text(plain) == plain
    with_url = f"{text.replace('://', ':/')} see http://example.org/page?who=me@example.org"
    assert redact_text(with_url) == with_url


def test_every_log_line_is_redacted_exception_text_included() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("refuge.test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("store %s is down", f"http://keeper:{SECRET}@127.0.0.1:9/")
        try:
            raise ConnectionError(f"Could not connect to the endpoint URL: \"socks5h://scout:{SECRET}@[::1]:1080\"")
        except ConnectionError:
            logger.exception("vantage failed")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert SECRET not in text
    assert "http://keeper:***@127.0.0.1:9/" in text and "socks5h://scout:***@[::1]:1080" in text
    assert "Traceback" in text  # the exception was logged, only its credentials masked


def test_a_faulty_log_call_is_reported_by_logging_not_raised_where_it_was_made(capsys) -> None:
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("refuge.test.faulty")
    logger.addHandler(handler)
    logger.propagate = False  # pytest's own handler fails the test on a faulty call instead
    try:
        logger.warning("count %d of %d", 1)  # one argument short: logging reports it on stderr
    finally:
        logger.removeHandler(handler)
    assert "Logging error" in capsys.readouterr().err
