"""Capture a target while killing it: SIGKILL at random moments, then let it finish.

Each run is started as `refuge capture NAME --json` in a process group of its own and,
once the site has received a random number of new requests, the whole group (the
coordinator and its worker processes) is killed, as the OOM killer or a power cut
would. The next run resumes the capture. Used by the tests and by `make bench`.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class KillLoopResult:
    final: dict  # the last run's --json summary
    new_requests: list[int] = field(default_factory=list)  # requests the site answered in each killed run
    seconds: float = 0.0


def capture_with_kills(command: Sequence[str], env: dict[str, str], requests_so_far: Callable[[], int],
                       kills: int, rng: random.Random, per_run: tuple[int, int] = (12, 40),
                       timeout: float = 120.0) -> KillLoopResult:
    """Run COMMAND (a `refuge capture NAME --json`) KILLS times, each killed once the site
    has received a random number of new requests in the PER_RUN range, then once to the end.

    A resumed run first fetches again what the kill before it cut short; killed again
    before those are done, it would have to fetch them a third time, which no design
    avoids. So PER_RUN should start above what a capture keeps in flight at once."""
    began = time.monotonic()
    result = KillLoopResult(final={})
    for kill in range(kills):
        before = requests_so_far()
        wanted = before + rng.randint(*per_run)
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while requests_so_far() < wanted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        if proc.poll() is not None:
            raise AssertionError(f"run {kill + 1} ended by itself (exit {proc.returncode}) before its kill; "
                                 f"the site is too small or too fast: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(rng.uniform(0, 0.05))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        result.new_requests.append(requests_so_far() - before)
    last = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    if last.returncode != 0:
        raise AssertionError(f"the last run failed (exit {last.returncode}): {last.stderr[-2000:]}")
    result.final = json.loads(last.stdout)
    result.seconds = time.monotonic() - began
    return result
