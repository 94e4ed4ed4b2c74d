"""Is each mirror still reachable, and does it still serve what was published?

check() fetches every mirror's index.html and a fixed sample of its other files from
every vantage point (direct, or through an HTTP(S) or SOCKS proxy), hashes the bytes as
received and compares them with the SHA-256 published. Pure: the caller stores results.

Each (mirror, vantage) pair runs in a bounded thread pool under one hard deadline for
all its fetches. Socket timeouts cannot enforce it (a server trickling a byte a second
resets them with every byte), so every socket a pair opens is registered with the pair's
watch, and at the deadline check() shuts those sockets down, which wakes the blocked read
at once. A pair not finished GRACE seconds after its deadline (stuck in DNS, which no
socket covers) is reported as a timeout and left to end on its own. A mirror on a
public address cannot send a check to a private one (reach_watch).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3.exceptions

from refuge.config.addresses import PrivateAddressRefused
from refuge.config.errors import redact
from refuge.config.settings import DIRECT, Vantage
from refuge.mirror.publish.reach_watch import Watch, session_for

try:
    import socks  # PySocks: what requests uses for socks5h:// proxies
except ImportError:  # pragma: no cover - PySocks is a dependency of the project's requests extra
    socks = None

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_BYTES = 20 * 1024 * 1024
GRACE = 1.0  # seconds a pair may take past its deadline to notice it, before it is abandoned
_CHUNK = 64 * 1024
_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)


@dataclass(frozen=True)
class Probe:
    mirror_id: int
    url: str  # the mirror's base URL, ending in "/"
    expected: Mapping[str, str]  # relative path -> sha256 hex of the published bytes; has "index.html"


@dataclass(frozen=True)
class Result:
    mirror_id: int
    vantage: str
    status: str  # "up" | "down"
    detail: str  # one line: "ok: 4 files match" or what failed first
    seconds: float
    checked_at: str  # ISO 8601 UTC, e.g. "2026-11-28T03:00:00Z"


class _Expired(Exception):
    """The pair's deadline passed."""


def check(probes: Sequence[Probe], vantages: Sequence[Vantage] = (DIRECT,), *,
          timeout: float = 10.0, workers: int = 8, sample: int = 3, max_bytes: int = MAX_BYTES) -> list[Result]:
    """One Result per (probe, vantage), in the order of probes, then vantages.

    Never raises for a network problem; raises ValueError for malformed arguments.
    """
    _validate(probes, vantages, timeout, workers, sample, max_bytes)
    jobs = [(p, v, sample_paths(p.expected, sample)) for p in probes for v in vantages]
    if not jobs:
        return []
    results: list[Result | None] = [None] * len(jobs)
    watches: dict[int, Watch] = {}  # filled by each job as it starts: its deadline runs from then

    def run(i: int) -> Result:
        watches[i] = watch = Watch(timeout, direct=not jobs[i][1].proxy)
        return _check_pair(*jobs[i], timeout, max_bytes, watch)

    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="refuge-check")
    try:
        index = {pool.submit(run, i): i for i in range(len(jobs))}
        pending = set(index)
        while pending:
            now, wake = time.monotonic(), 0.2  # look again at least this often: jobs start meanwhile
            for future in list(pending):
                i = index[future]
                watch = watches.get(i)
                if watch is None or future.done():
                    continue
                if now >= watch.deadline:
                    watch.expire()
                if now >= watch.deadline + GRACE:
                    results[i] = _result(*jobs[i][:2], watch, "down", f"{watch.path}: timeout after {timeout:g} s")
                    pending.discard(future)
                else:
                    wake = min(wake, watch.deadline + (GRACE if watch.expired else 0) - now)
            done, _ = wait(pending, timeout=max(wake, 0.0), return_when=FIRST_COMPLETED)
            for future in done:
                results[index[future]] = future.result()
                pending.discard(future)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return results  # type: ignore[return-value]


def sample_paths(expected: Mapping[str, str], sample: int) -> list[str]:
    """index.html, then `sample` other paths in a fixed order (by the SHA-256 of the path),
    so that successive checks of the same mirror fetch the same files."""
    others = sorted((p for p in expected if p != "index.html"),
                    key=lambda p: hashlib.sha256(p.encode("utf-8", "surrogateescape")).digest())
    return ["index.html", *others[:sample]]


# -- one (probe, vantage) pair -------------------------------------------------------------

def _check_pair(probe: Probe, vantage: Vantage, paths: list[str], timeout: float, max_bytes: int,
                watch: Watch) -> Result:
    session = session_for(vantage, watch)
    try:
        for path in paths:
            watch.path = path
            problem = _compare(session, probe.url + _quote(path), probe.expected[path], watch, max_bytes)
            if problem:
                return _result(probe, vantage, watch, "down", f"{path}: {problem}")
        files = "1 file matches" if len(paths) == 1 else f"{len(paths)} files match"
        return _result(probe, vantage, watch, "up", f"ok: {files}")
    except _NETWORK_ERRORS + (_Expired,) as exc:
        return _result(probe, vantage, watch, "down", _explain(exc, vantage, watch, timeout))
    except PrivateAddressRefused as exc:
        return _result(probe, vantage, watch, "down", f"{watch.path}: {exc}")
    except Exception as exc:  # a hostile answer tripping a library: one mirror must not stop the others
        log.exception("checking mirror %s from %s: %s", probe.mirror_id, vantage.name, watch.path)
        detail = "timeout" if watch.expired else f"unexpected error ({type(exc).__name__}: {exc})"
        return _result(probe, vantage, watch, "down", f"{watch.path}: {detail}")
    finally:
        session.close()
        watch.close()


def _compare(session: requests.Session, url: str, expected: str, watch: Watch, max_bytes: int) -> str | None:
    """None when url serves bytes with the expected SHA-256, else what is wrong."""
    resp = _get(session, url, watch)
    with resp:
        moved = f" (redirected to {resp.url[:200]})" if resp.url != url else ""
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}{moved}"
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return f"too large ({int(declared)} bytes, limit {max_bytes})"
        digest, size = hashlib.sha256(), 0
        for chunk in resp.raw.stream(_CHUNK, decode_content=False):  # the bytes as served
            size += len(chunk)
            if size > max_bytes:
                return f"too large (over {max_bytes} bytes)"
            if watch.remaining() <= 0:
                raise _Expired
            digest.update(chunk)
    if watch.expired:  # a shut-down socket can look like a body that ended early
        raise _Expired
    got = digest.hexdigest()
    if got != expected.lower():
        encoding = resp.headers.get("Content-Encoding", "identity")
        served = f", Content-Encoding {encoding}" if encoding.lower() != "identity" else ""
        return f"content differs (sha256 {got[:12]}…, expected {expected.lower()[:12]}…, {size} bytes{served}){moved}"
    return None


def _get(session: requests.Session, url: str, watch: Watch) -> requests.Response:
    """GET url, following at most MAX_REDIRECTS redirects without reading their bodies."""
    for _hop in range(MAX_REDIRECTS + 1):
        left = watch.remaining()
        if left <= 0:
            raise _Expired
        resp = session.get(url, stream=True, allow_redirects=False, timeout=(left, left))
        if not resp.is_redirect:
            return resp
        resp.close()
        location = resp.headers["Location"]
        try:  # http.client decodes header bytes as Latin-1; servers mostly send UTF-8
            location = location.encode("latin-1").decode("utf-8")
        except UnicodeError:
            pass
        url = urljoin(resp.url, location)
    raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")


# -- reporting -------------------------------------------------------------------------------

def _result(probe: Probe, vantage: Vantage, watch: Watch, status: str, detail: str) -> Result:
    line = " ".join(detail.splitlines())
    return Result(probe.mirror_id, vantage.name, status, line[:400],
                  round(time.monotonic() - watch.started, 3), watch.checked_at)


def _explain(exc: BaseException, vantage: Vantage, watch: Watch, timeout: float) -> str:
    chain = _chain(exc)
    if watch.expired or isinstance(exc, requests.Timeout) or any(  # (NewConnectionError is a urllib3 TimeoutError)
            isinstance(e, (_Expired, TimeoutError, urllib3.exceptions.ReadTimeoutError)) for e in chain):
        return f"{watch.path}: timeout after {timeout:g} s"
    if vantage.proxy and any(isinstance(e, requests.exceptions.ProxyError)
                             or (socks is not None and isinstance(e, socks.ProxyError)) for e in chain):
        return f"vantage {vantage.name!r}: proxy {redact(vantage.proxy)} failed: {_reason(chain)}"
    if isinstance(exc, requests.TooManyRedirects):
        return f"{watch.path}: too many redirects (more than {MAX_REDIRECTS})"
    return f"{watch.path}: {_reason(chain)}"


def _chain(exc: BaseException) -> list[BaseException]:
    """exc and every exception it wraps (causes, contexts, urllib3 reasons, PySocks socket errors)."""
    out: list[BaseException] = []
    todo: list[object] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is seen for seen in out):
            continue
        out.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), getattr(e, "socket_err", None), *e.args]
    return out


_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (http.client.RemoteDisconnected, "connection closed without a response"),
    (socket.gaierror, "DNS lookup failed"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (http.client.IncompleteRead, "response cut short"),
    (ssl.SSLCertVerificationError, "TLS certificate rejected"),
    (ssl.SSLError, "TLS error"),
)


def _reason(chain: list[BaseException]) -> str:
    for kind, words in _REASONS:
        for e in chain:
            if isinstance(e, kind):
                more = getattr(e, "verify_message", None) or getattr(e, "strerror", None)
                return f"{words} ({more})" if kind in (socket.gaierror, ssl.SSLCertVerificationError,
                                                       ssl.SSLError) and more else words
    for e in chain:
        if socks is not None and isinstance(e, socks.ProxyError) and not e.socket_err:
            return e.msg  # e.g. "0x05: Connection refused": the proxy could not reach the mirror
        if isinstance(e, OSError) and e.strerror:
            return e.strerror
    text = str(chain[-1]) or type(chain[-1]).__name__
    return text.splitlines()[0][:200]


def _quote(path: str) -> str:
    """The path percent-encoded for a URL (UTF-8; only "/" and unreserved characters left as is)."""
    return quote(path.encode("utf-8", "surrogateescape"), safe="/")


def _validate(probes: Sequence[Probe], vantages: Sequence[Vantage], timeout: float, workers: int,
              sample: int, max_bytes: int) -> None:
    if not timeout > 0 or not (isinstance(workers, int) and workers >= 1) or not (isinstance(sample, int)
            and sample >= 0) or not (isinstance(max_bytes, int) and max_bytes >= 1):
        raise ValueError(f"bad arguments: timeout={timeout!r} workers={workers!r} sample={sample!r} "
                         f"max_bytes={max_bytes!r}")
    names = [v.name for v in vantages]
    if len(set(names)) != len(names):
        raise ValueError(f"vantage names must be unique: {names}")
    for v in vantages:
        scheme = urlsplit(v.proxy).scheme.lower() if v.proxy else None
        if v.proxy and (scheme not in _PROXY_SCHEMES or not urlsplit(v.proxy).hostname):
            raise ValueError(f"vantage {v.name!r}: proxy must be a {'/'.join(_PROXY_SCHEMES)} URL with a host, "
                             f"not {redact(v.proxy)!r}")
        if scheme and scheme.startswith("socks") and socks is None:
            raise ValueError(f"vantage {v.name!r}: a SOCKS proxy needs PySocks")
    for p in probes:
        parts = urlsplit(p.url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment \
                or not p.url.endswith("/"):
            raise ValueError(f"mirror {p.mirror_id}: url must be an http(s) base URL ending in '/', not {p.url!r}")
        if "index.html" not in p.expected:
            raise ValueError(f"mirror {p.mirror_id}: expected must include 'index.html'")
        for path, digest in p.expected.items():
            if not isinstance(path, str) or not path or path.startswith("/") \
                    or any(seg in (".", "..") for seg in path.split("/")):
                raise ValueError(f"mirror {p.mirror_id}: bad relative path {path!r}")
            if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
                raise ValueError(f"mirror {p.mirror_id}: {path!r} needs a sha256 hex digest, not {digest!r}")
