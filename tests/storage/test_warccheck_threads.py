"""The WARC check inside `refuge verify FILE.wacz` (storage.wacz.warccheck) as a threaded
server runs it: what warcio only prints (a gzip member that stops inflating, a CRC that does
not match, a wrong Content-Length) is found per call, and nothing swaps sys.stderr, so
concurrent checks each get their own answer and other threads' output is never swallowed."""

from __future__ import annotations

import hashlib
import io
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from refuge.storage.wacz.warccheck import check_warc_member

PAGES = [("https://news.example/%d" % i, ("ព័ត៌មាន %d " % i * 400).encode()) for i in range(4)]


def _warc(gzip: bool = True) -> tuple[bytes, list[int]]:
    """A WARC file of four responses, and where each record starts."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gzip)
    starts = []
    for url, body in PAGES:
        starts.append(out.tell())
        head = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                      http_headers=head))
    return out.getvalue(), starts


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _cases() -> dict[str, tuple[bytes, str]]:
    """name -> (WARC bytes, a words every problem list of it must contain; '' when sound)."""
    good, starts = _warc()
    plain, _ = _warc(gzip=False)
    second = starts[1]
    # The 4-byte CRC ends the member, before its 4-byte length: only zlib's check finds this.
    crc_at = starts[2] - 8
    wrong_length = plain.replace(b"Content-Length: ", b"Content-Length: 1", 1)  # the first record's block grows
    return {
        "sound": (good, ""),
        "sound, uncompressed": (plain, ""),
        "flipped inside a member": (_flip(good, second + (starts[2] - second) // 2),
                                    f"the gzip member at offset {second} does not inflate"),
        "flipped CRC": (_flip(good, crc_at), f"the gzip member at offset {starts[1]} does not inflate"),
        "cut inside the last member": (good[:starts[3] + 40], f"the gzip member at offset {starts[3]} is cut short"),
        "stray bytes after the members": (good + b"\0\0\0", f"the gzip member at offset {len(good)} is not a gzip"),
        "wrong Content-Length": (wrong_length, "is not followed by its two blank lines"),
    }


class _Watched(io.RawIOBase):
    """DATA read a little at a time, noting whether sys.stderr is the process's own at each read."""

    def __init__(self, data: bytes, stderr: object, swapped: list[str]) -> None:
        self.inner, self.stderr, self.swapped = io.BytesIO(data), stderr, swapped

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if sys.stderr is not self.stderr:
            self.swapped.append(threading.current_thread().name)
        return self.inner.read(min(size if size is not None and size >= 0 else 4096, 4096))


def _check(data: bytes, stderr: object, swapped: list[str]) -> list[str]:
    stream: BinaryIO = _Watched(data, stderr, swapped)  # type: ignore[assignment]
    result = check_warc_member(stream, "archive/x.warc.gz")
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == len(data)
    return result.problems


@pytest.mark.parametrize("case", list(_cases()))
def test_damage_warcio_only_prints_is_a_problem_named_by_its_offset(case: str) -> None:
    data, words = _cases()[case]
    swapped: list[str] = []
    problems = _check(data, sys.stderr, swapped)
    if words:
        assert problems and any(words in p for p in problems), problems
        assert all(p.startswith("archive/x.warc.gz: ") and "\n" not in p for p in problems)
    else:
        assert problems == []
    assert swapped == []


def test_concurrent_checks_get_their_own_answers_and_swallow_no_other_output(capsys) -> None:
    cases = _cases()
    alone = {name: _check(data, sys.stderr, []) for name, (data, _) in cases.items()}
    stderr = sys.stderr
    swapped: list[str] = []
    lines = [f"chatter {n}\n" for n in range(300)]

    def chatter() -> None:  # another thread of the server, logging meanwhile
        for line in lines:
            sys.stderr.write(line)
            time.sleep(0.001)

    talker = threading.Thread(target=chatter)
    talker.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = {(name, i): pool.submit(_check, cases[name][0], stderr, swapped) for name in cases for i in range(6)}
            answers = {key: job.result() for key, job in jobs.items()}
    finally:
        talker.join()
    assert all(answers[(name, i)] == alone[name] for name, i in answers)
    assert swapped == []  # sys.stderr stayed the process's own while every check read
    written = set(capsys.readouterr().err.splitlines(keepends=True))
    assert all(line in written for line in lines)
