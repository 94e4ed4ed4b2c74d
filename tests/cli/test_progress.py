"""`refuge capture` on a terminal shows how it goes while it runs; piped, or with --json,
it prints exactly what it printed before."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tiny_site import Route, page, serve

REFUGE = str(Path(sys.executable).with_name("refuge"))
PAGES = 12


def site_routes() -> dict[str, Route]:
    links = [f"/p{i}.html" for i in range(PAGES)]
    routes = {"/": Route(page(*links)), "/robots.txt": Route(b"", 404, "text/plain")}
    # Slow enough that the capture runs for a few seconds: the display is redrawn meanwhile.
    routes.update({path: Route(page(title=path), delay=0.25) for path in links})
    return routes


def env_for(data: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith("REFUGE_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    return {**inherited, "REFUGE_DATA": str(data),
            "REFUGE_ALLOW_PRIVATE_NETWORKS": "true", "REFUGE_WORKERS": "2", "REFUGE_PER_HOST": "2",
            "TERM": "xterm-256color", "COLUMNS": "160"}


def run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run ARGS with stderr on a pseudo-terminal: (exit code, stdout, what the terminal showed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    shown = bytearray()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: the command ended
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return proc.wait(10), out, shown.decode(errors="replace")


def test_a_capture_on_a_terminal_shows_pages_queued_bytes_and_rate_as_it_goes(tmp_path) -> None:
    with serve(site_routes()) as site:
        env = env_for(tmp_path / "data")
        assert subprocess.run([REFUGE, "add", site.url("/"), "--name", "slow", "--scope", "host"], env=env,
                              capture_output=True).returncode == 0
        code, out, shown = run_on_a_terminal([REFUGE, "capture", "slow"], env)
    assert code == 0, shown
    lines = re.findall(r"slow: (\d+) pages, \d+ requisites, (\d+) failed, (\d+) queued · [\d.]+ [KMG]?B · [\d.]+ pages/s",
                       shown)
    pages = [int(p) for p, _, _ in lines]
    assert len(set(pages)) >= 2 and pages == sorted(pages), shown  # counting up while it ran
    assert any(int(queued) > 0 for _, _, queued in lines)
    assert out.splitlines()[0].endswith(" of slow: complete")  # the summary, on stdout as before


def test_piped_or_json_a_capture_prints_only_its_summary(tmp_path) -> None:
    with serve(site_routes()) as site:
        env = env_for(tmp_path / "data")
        subprocess.run([REFUGE, "add", site.url("/"), "--name", "slow", "--scope", "host"], env=env, check=True,
                       capture_output=True)
        piped = subprocess.run([REFUGE, "capture", "slow"], env=env, capture_output=True, text=True, timeout=120)
        code, out, shown = run_on_a_terminal([REFUGE, "capture", "slow", "--json", "--fresh"], env)
        forced = subprocess.run([REFUGE, "capture", "slow"], env={**env, "FORCE_COLOR": "1"}, capture_output=True,
                                text=True, timeout=120)  # a pipe stays a pipe, whatever the colour setting
    assert piped.returncode == 0 and "pages/s" not in piped.stderr and "queued" not in piped.stderr
    assert forced.returncode == 0 and "pages/s" not in forced.stderr
    assert code == 0 and "pages/s" not in shown and out.lstrip().startswith("{")


def test_export_and_verify_on_a_terminal_count_files_as_they_go(tmp_path) -> None:
    with serve(site_routes()) as site:
        env = env_for(tmp_path / "data")
        subprocess.run([REFUGE, "add", site.url("/"), "--name", "slow", "--scope", "host"], env=env, check=True,
                       capture_output=True)
        subprocess.run([REFUGE, "capture", "slow"], env=env, check=True, capture_output=True, timeout=120)
    code, out, shown = run_on_a_terminal([REFUGE, "export", "slow", "--out", str(tmp_path / "site")], env)
    assert code == 0, shown
    counts = [(int(done), int(total)) for done, total in re.findall(r"export slow: (\d+)/(\d+) files · ", shown)]
    assert counts and counts[-1][0] == counts[-1][1] == PAGES + 1, shown  # every captured file, counted up
    assert out.startswith("exported capture ")

    code, out, shown = run_on_a_terminal([REFUGE, "verify"], env)
    assert code == 0 and re.search(r"verify: \d+ copies · [\d.]+ [KMG]?B", shown), shown
    piped = subprocess.run([REFUGE, "verify"], env=env, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and "copies ·" not in piped.stderr
