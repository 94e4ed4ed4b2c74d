"""Replicas step of the benchmark: `refuge push` to S3 against boto3's `upload_file` with its
defaults (what the AWS CLI does), and `refuge verify` against `sha256sum`, on the same
~1 GiB of WARC files.

The S3 server is OpenStack Swift with s3api on 127.0.0.1 (tests/support/store_servers.py), started
in bench/.work/s3 and stopped (and its data removed) at the end, whatever happens.
The WARC files are a finished capture written by Refuge's own WARC writer in a data dir
of its own, with its manifest, checksum list and CIDs written as a capture does before
anything is timed; they are cached in bench/.work until the generator or the code that
writes them changes.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import procs
from captures import alternate, detail, parse_json_out, refuge_bin, summarize, tail

try:
    import psutil
except ImportError:
    psutil = None

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work"
sys.path.append(str(REPO / "tests" / "support"))  # store_servers.py; appended, so bench's own modules come first

PUSH_TARGET = 1.1  # refuge push time / boto3 upload_file time, at most
VERIFY_TARGET = 0.8  # sha256sum time / refuge verify time (speed relative to sha256sum), at least
GZIP_LEVEL = 1
TARGET_NAME = "bench-media"
SEED_URL = "https://media.example/"
MIB = 1024 * 1024
# Whatever changes the bytes, the catalog or the manifest invalidates the cached files.
STAMPED_SOURCES = ["archiver/warcwriter.py", "storage/warc/sealed.py", "storage/catalog/db.py",
                   "storage/catalog/captures.py", "storage/catalog/schema.py", "storage/manifest.py",
                   "storage/stores/cid.py", "storage/catalog/replicas.py"]

# The AWS CLI's way: one client, boto3's defaults (TransferConfig(): 8 MiB parts above 8 MiB,
# 10 threads; botocore's default checksums), path-style addressing for a non-AWS endpoint.
BOTO3_SCRIPT = """\
import json, sys
import boto3
from botocore.config import Config
job = json.load(open(sys.argv[1]))
client = boto3.client("s3", endpoint_url=job["endpoint_url"], region_name=job["region"],
                      config=Config(s3={"addressing_style": "path"}))
for path, key in job["files"]:
    client.upload_file(path, job["bucket"], key)
"""


# --------------------------------------------------------------------------- the WARC files

@dataclass
class Corpus:
    data: Path
    capture_id: str
    files: list[dict[str, Any]]  # every file of the capture: name, kind, path (absolute), sha256, size, key
    generated_seconds: float | None = None
    manifest_seconds: float | None = None

    @property
    def warcs(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f["kind"] == "warc"]

    @property
    def bytes(self) -> int:
        return sum(f["size"] for f in self.files)

    def kinds(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f["kind"]] = counts.get(f["kind"], 0) + 1
        return ", ".join(f"{n} {k}" for k, n in counts.items())


_WORDS = ("ព័ត៌មាន", "ប្រទេស", "កម្ពុជា", "រដ្ឋាភិបាល", "the", "news", "of", "and", "report", "press", "freedom",
          "archive", "court", "minister", "election", "2026", "Phnom", "Penh", "said", "on", "a", "to", "in")


def _payloads(rng: random.Random) -> Callable[[int], tuple[str, str, bytes]]:
    """(url, content type, body) for record I: mostly incompressible media (as served:
    already compressed), some HTML text."""
    text_pool = " ".join(rng.choices(_WORDS, k=200_000)).encode("utf-8")

    def make(i: int) -> tuple[str, str, bytes]:
        if rng.random() < 0.3:
            size = rng.randint(8 * 1024, 160 * 1024)
            start = rng.randrange(0, len(text_pool) - size)
            body = b"<!doctype html><html><body><p>" + text_pool[start:start + size] + b"</p></body></html>"
            return f"{SEED_URL}article/{i}.html", "text/html; charset=utf-8", body
        # log-uniform 16 KiB .. 12 MiB: images, PDFs, pieces of video
        size = int(2 ** rng.uniform(14, 23.6))
        kind, ext = rng.choice([("image/jpeg", "jpg"), ("application/pdf", "pdf"), ("video/mp4", "mp4")])
        return f"{SEED_URL}media/{i}.{ext}", kind, rng.randbytes(size)

    return make


def generate(data: Path, total_bytes: int, file_bytes: int, seed: int) -> str:
    """Write a finished capture of about TOTAL_BYTES of WARC files (rolled at FILE_BYTES)
    into the fresh data dir DATA, registered in its catalog, with its manifest. Returns its id."""
    from refuge.archiver.fetch import Exchange
    from refuge.archiver.warcwriter import RollingWarcWriter
    from refuge.config.settings import Settings
    from refuge.config.targets import make_target
    from refuge.storage import catalog
    from refuge.storage.warc import sealed

    settings = Settings(data=data, warc_max_bytes=file_bytes)
    engine = catalog.connect(settings.catalog_url)
    target, _ = catalog.save_target(engine, make_target(SEED_URL, name=TARGET_NAME, scope="host"))
    capture_id = catalog.start_capture(engine, target, stale_seconds=600)
    warcs: list = []

    def on_seal(w: Any) -> None:
        sealed.register_sealed(engine, data, capture_id, target.id, w.path, w.sha256, w.size, w.records, w.rows)
        warcs.append(w)

    writer = RollingWarcWriter(settings.archive_dir / TARGET_NAME / capture_id, capture_id, file_bytes,
                               {"software": "Refuge benchmark (bench/replicas.py)"}, on_seal, gzip_level=GZIP_LEVEL)
    rng = random.Random(seed)
    make = _payloads(rng)
    started = datetime(2026, 11, 27, 23, 41, 47, tzinfo=UTC)
    done, i = 0, 0
    while done < total_bytes:
        url, ctype, body = make(i)
        path = "/" + url.split("/", 3)[3]
        ex = Exchange(url=url, started=started + timedelta(seconds=i), request_line=f"GET {path} HTTP/1.1",
                      request_headers=[("Host", "media.example"), ("User-Agent", "Refuge/bench")], status=200,
                      reason="OK", protocol="HTTP/1.1",
                      headers=[("Content-Type", ctype), ("Content-Length", str(len(body)))],
                      body=BytesIO(body), length=len(body),
                      payload_digest="sha256:" + hashlib.sha256(body).hexdigest(), ip="203.0.113.7")
        row = writer.write_response(ex)
        in_open = 0 if warcs and warcs[-1].path == row["path"] else row["offset"] + row["length"]
        done = sum(w.size for w in warcs) + in_open
        i += 1
    writer.close()
    catalog.finish_capture(engine, capture_id, "complete",
                           {"pages": i, "files": len(warcs), "bytes": sum(w.size for w in warcs)})
    engine.dispose()
    return capture_id


def write_manifest(data: Path, capture_id: str) -> None:
    """What a finished capture does next (the local store only is configured here): the
    manifest, the checksum list and every file's CID, and the local copies recorded."""
    from refuge.config.settings import Settings
    from refuge.storage import catalog
    from refuge.storage.replicate import queue_capture

    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url)
    queue_capture(settings, engine, capture_id)
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def load_corpus(data: Path) -> Corpus:
    from refuge.config.settings import Settings
    from refuge.storage import catalog
    from refuge.storage.catalog import replicas

    settings = Settings(data=data)
    engine = catalog.connect(settings.catalog_url, create=False)
    refs = replicas.file_refs(engine, data)
    engine.dispose()
    if not refs:
        raise RuntimeError(f"{data}: no files in the catalog")
    files = [{"name": f.name, "kind": f.kind, "path": str(f.local_path.resolve()), "sha256": f.sha256,
              "size": f.size, "key": f.relative} for f in refs]
    return Corpus(data, refs[0].capture, files)


def ensure_corpus(total_mib: int, file_mib: int, seed: int) -> Corpus:
    """The capture, generated unless the same generator and code already made it."""
    root = WORK / f"replicas-{total_mib}m"
    parts = [inspect.getsource(f) for f in (_payloads, generate, write_manifest)]
    parts += [(REPO / "src" / "refuge" / p).read_text(encoding="utf-8") for p in STAMPED_SOURCES]
    stamp = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16] + f"-{total_mib}-{file_mib}-{seed}-{GZIP_LEVEL}"
    stamp_file = root.parent / (root.name + ".stamp")
    if stamp_file.exists() and stamp_file.read_text() == stamp and root.exists():
        return load_corpus(root)
    stamp_file.unlink(missing_ok=True)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    capture_id = generate(root, total_mib * MIB, file_mib * MIB, seed)
    t1 = time.perf_counter()
    os.sync()
    t2 = time.perf_counter()
    write_manifest(root, capture_id)
    t3 = time.perf_counter()
    stamp_file.write_text(stamp)
    corpus = load_corpus(root)
    corpus.generated_seconds, corpus.manifest_seconds = t1 - t0, t3 - t2
    detail(f"generated {len(corpus.warcs)} WARC files, {corpus.bytes / MIB:.0f} MiB in {t1 - t0:.1f}s "
           f"(Refuge's WARC writer, gzip level {GZIP_LEVEL}); manifest, checksum list and CIDs "
           f"(part of capture, not timed below) in {t3 - t2:.1f}s")
    return corpus


def fresh_copy(corpus: Corpus, dest: Path, toml: str | None = None) -> Path:
    """A fresh data dir with the same capture: the catalog copied (replica rows as right after
    the capture), the archive files hard-linked (read only, by everyone)."""
    if dest.exists():
        shutil.rmtree(dest)

    def copy(src: str, dst: str) -> None:
        if Path(src).is_relative_to(corpus.data / "archive"):
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(corpus.data, dest, copy_function=copy)
    if toml is not None:
        (dest / "refuge.toml").write_text(toml, encoding="utf-8")
    return dest


def warm(files: list[dict[str, Any]]) -> float:
    """Read every file once, so each tool reads them from the page cache alike."""
    t0 = time.perf_counter()
    buf = bytearray(8 * MIB)
    for f in files:
        with open(f["path"], "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- the S3 server

class Swift:
    """The S3 server, its CPU time and the S3 requests it logged."""

    def __init__(self, root: Path) -> None:
        from store_servers import start_s3_server

        if root.exists():
            shutil.rmtree(root)
        self.root = root
        self.server = start_s3_server(root)
        self.log = root / "log" / "proxy.log"

    def version(self) -> str:
        r = subprocess.run(["/usr/bin/python3", "-c", "import swift; print(swift.__version__)"],
                           capture_output=True, text=True, timeout=30, check=False)
        return r.stdout.strip() or "?"

    def cpu(self) -> float:
        total = 0.0
        if psutil is None:
            return total
        for p in self.server._procs.values():  # the server's own processes
            try:
                for q in [psutil.Process(p.pid)] + psutil.Process(p.pid).children(recursive=True):
                    t = q.cpu_times()
                    total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def log_offset(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def requests_since(self, offset: int) -> dict[str, int]:
        """S3 requests (as the client sent them, not Swift's own subrequests) by method."""
        counts: dict[str, int] = {}
        try:
            with open(self.log, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return counts
        for line in text.splitlines():
            parts = line.split()
            # proxy: CLIENT REMOTE DATE METHOD PATH PROTO STATUS ...
            if len(parts) > 6 and parts[0] == "proxy:" and parts[4] in ("GET", "PUT", "POST", "HEAD", "DELETE") \
                    and not parts[5].startswith(("/v1/", "/auth/", "/healthcheck", "/info")):
                counts[parts[4]] = counts.get(parts[4], 0) + 1
        return counts

    def bucket_contents(self, bucket: str) -> tuple[int, int]:
        client = self.server.client()
        n = size = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                n += 1
                size += obj["Size"]
        return n, size

    def stop(self) -> None:
        """Stop the four servers and drop the objects (several GiB after a run); the logs stay."""
        self.server.stop()
        shutil.rmtree(self.root / "node", ignore_errors=True)


def aws_env(swift: Swift) -> dict[str, str]:
    """Only the S3 server's credentials, from the environment; nothing from ~/.aws, no metadata service."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "REFUGE_"))}
    env.update(AWS_ACCESS_KEY_ID=swift.server.access_key, AWS_SECRET_ACCESS_KEY=swift.server.secret_key,
               AWS_CONFIG_FILE=str(WORK / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(WORK / "no-aws-credentials"),
               AWS_EC2_METADATA_DISABLED="true")
    return env


def s3_toml(swift: Swift, bucket: str, prefix: str, args: Any) -> str:
    s = swift.server
    lines = ["[s3]", f'bucket = "{bucket}"', f'endpoint_url = "{s.endpoint_url}"', f'prefix = "{prefix}"',
             f'region = "{s.region}"', 'addressing_style = "path"']
    if args.push_part_mib:
        lines.append(f"part_size = {args.push_part_mib * MIB}")
    if args.push_concurrency:
        lines.append(f"concurrency = {args.push_concurrency}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- timed runs

def _measured(swift: Swift, cmd: list[str], log: Path, env: dict[str, str]) -> tuple[procs.RunResult, dict]:
    off, cpu0 = swift.log_offset(), swift.cpu()
    r = procs.run_measured(cmd, env=env, log=log, timeout=900)
    reqs = swift.requests_since(off)
    res = {"returncode": r.returncode, "seconds": r.seconds, "peak_rss": r.peak_rss, "cpu_seconds": r.cpu_seconds,
           "server_cpu_seconds": swift.cpu() - cpu0, "s3_requests": reqs,
           "fetched": {"requests": sum(reqs.values())}}  # what alternate() prints
    return r, res


def push_refuge(swift: Swift, corpus: Corpus, i: int, args: Any) -> dict:
    bucket, prefix = f"refuge-{i}", "archive/"
    swift.server.create_bucket(bucket)
    data = fresh_copy(corpus, WORK / "replicas-push", s3_toml(swift, bucket, prefix, args))
    r, res = _measured(swift, [str(refuge_bin()), "--data", str(data), "push", "--json"],
                       WORK / f"replicas-push-refuge-{i}", aws_env(swift))
    out = parse_json_out(r.stdout)
    uploaded = len(out.get("uploaded", [])) if out else 0
    res.update(ok=r.returncode == 0 and bool(out) and out.get("ok") is True and uploaded == len(corpus.files),
               bucket=bucket, data_dir=str(data))
    if not res["ok"]:
        res["error"] = (f"refuge push exited {r.returncode}, {uploaded} of {len(corpus.files)} files uploaded: "
                        f"{tail(r.stderr + r.stdout)}")
        return res
    return _check_bucket(swift, corpus, bucket, res)


def push_boto3(swift: Swift, corpus: Corpus, i: int, args: Any) -> dict:
    bucket, prefix = f"boto3-{i}", "archive/"
    swift.server.create_bucket(bucket)
    script = WORK / "replicas-boto3-upload.py"
    script.write_text(BOTO3_SCRIPT, encoding="utf-8")
    job = WORK / "replicas-boto3-job.json"
    job.write_text(json.dumps({"endpoint_url": swift.server.endpoint_url, "region": swift.server.region,
                               "bucket": bucket, "files": [[f["path"], prefix + f["key"]] for f in corpus.files]}))
    r, res = _measured(swift, [sys.executable, str(script), str(job)], WORK / f"replicas-push-boto3-{i}",
                       aws_env(swift))
    res.update(ok=r.returncode == 0, bucket=bucket)
    if not res["ok"]:
        res["error"] = f"boto3 upload_file exited {r.returncode}: {tail(r.stderr + r.stdout)}"
        return res
    return _check_bucket(swift, corpus, bucket, res)


def _check_bucket(swift: Swift, corpus: Corpus, bucket: str, res: dict) -> dict:
    n, size = swift.bucket_contents(bucket)
    if (n, size) != (len(corpus.files), corpus.bytes):
        res.update(ok=False, error=f"bucket {bucket} holds {n} objects, {size} bytes; "
                                   f"expected {len(corpus.files)}, {corpus.bytes}")
    return res


def verify_refuge(swift: Swift | None, data: Path, corpus: Corpus, store: str, log: str) -> dict:
    env = aws_env(swift) if swift else {k: v for k, v in os.environ.items() if not k.startswith("REFUGE_")}
    cmd = [str(refuge_bin()), "--data", str(data), "verify", "--store", store, "--json"]
    if swift is not None:
        r, res = _measured(swift, cmd, WORK / log, env)
    else:
        r = procs.run_measured(cmd, env=env, log=WORK / log, timeout=900)
        res = {"returncode": r.returncode, "seconds": r.seconds, "peak_rss": r.peak_rss, "cpu_seconds": r.cpu_seconds}
    out = parse_json_out(r.stdout)
    counts = (out or {}).get("counts", {})
    res.update(ok=r.returncode == 0 and counts.get("ok") == len(corpus.files) and len(counts) == 1, counts=counts)
    if not res["ok"]:
        res["error"] = f"refuge verify --store {store} exited {r.returncode} ({counts}): {tail(r.stderr + r.stdout)}"
    return res


def verify_sha256sum(corpus: Corpus, i: int) -> dict:
    r = procs.run_measured(["sha256sum", *[f["path"] for f in corpus.files]], log=WORK / f"replicas-sha256sum-{i}",
                           timeout=900)
    got = {}
    for line in r.stdout.splitlines():
        digest, _, path = line.partition("  ")
        got[path] = digest
    bad = [f["name"] for f in corpus.files if got.get(f["path"]) != f["sha256"]]
    res = {"ok": r.returncode == 0 and not bad, "returncode": r.returncode, "seconds": r.seconds,
           "peak_rss": r.peak_rss, "cpu_seconds": r.cpu_seconds}
    if not res["ok"]:
        res["error"] = f"sha256sum exited {r.returncode}; mismatched: {bad[:3]}: {tail(r.stderr)}"
    return res


def warm_up(swift: Swift, corpus: Corpus) -> None:
    """One untimed upload of the largest file first: a new Swift's first writes also create
    its partition directories and databases, which would count against whichever tool goes first."""
    biggest = max(corpus.files, key=lambda f: f["size"])
    swift.server.create_bucket("warm-up")
    t0 = time.perf_counter()
    swift.server.client().upload_file(biggest["path"], "warm-up", biggest["key"])
    detail(f"S3 server warmed up: {biggest['size'] / MIB:.0f} MiB uploaded untimed in {time.perf_counter() - t0:.1f}s")


def _rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / MIB / seconds:.0f} MiB/s"


def _runs(rs: list[dict]) -> list[dict]:
    keep = ("seconds", "cpu_seconds", "server_cpu_seconds", "s3_requests", "peak_rss")
    return [{k: r.get(k) for k in keep if k in r} for r in rs]


# --------------------------------------------------------------------------- the step

def _fmt(s: dict, skipped: bool = False) -> str:
    if s.get("ok"):
        return f"{s['seconds_median']:.2f} s"
    return "skipped" if skipped else "FAILED"


def run_push(swift: Swift, corpus: Corpus, args: Any, res: dict, errors: list[str]) -> dict:
    """refuge push vs boto3 upload_file, alternating, each run into a fresh bucket. Returns
    Refuge's median run ({} when it did not run)."""
    refuge_too = not args.baseline_only
    tools: dict[str, Callable[[int], dict]] = {"boto3": lambda i: push_boto3(swift, corpus, i, args)}
    if refuge_too:
        tools = {"refuge": lambda i: push_refuge(swift, corpus, i, args), **tools}
    runs = alternate(tools, args.repeat)
    sums = _compare("push", "boto3", runs, res, errors, lambda ours, peer: ours / peer, f"<= {PUSH_TARGET:g}",
                    skipped=not refuge_too)
    rp = sums.get("refuge", {})
    part = f"{args.push_part_mib} MiB" if args.push_part_mib else "16 MiB (default)"
    conc = args.push_concurrency or "4 (default)"
    detail(f"pushed {len(corpus.files)} files, {corpus.bytes} bytes ({corpus.bytes / MIB:.0f} MiB) per run, "
           f"one file after the other, into a fresh bucket each run; refuge: s3.part_size {part}, "
           f"s3.concurrency {conc}, SHA-256 as S3 checksum and metadata; boto3: upload_file with its "
           f"TransferConfig() defaults (8 MiB parts, 10 threads)")
    for name, s in sums.items():
        if s.get("ok"):
            detail(f"{name} push: {_rate(corpus.bytes, s['seconds_median'])}; runs "
                   f"{', '.join(f'{x:.2f}s' for x in s['seconds_all'])}; CPU of the median run: client "
                   f"{s['cpu_seconds']:.2f}s, Swift {s['server_cpu_seconds']:.2f}s; S3 requests {s['s3_requests']}")
    return rp if rp.get("ok") else {}


def _compare(step: str, peer: str, runs: dict[str, list[dict]], res: dict, errors: list[str],
             ratio: Callable[[float, float], float], target: str, skipped: bool) -> dict[str, dict]:
    """Summarise each tool's runs into RES, and print the step's `STEP_vs_PEER` line."""
    sums = {name: summarize(rs) for name, rs in runs.items()}
    for name, s in sums.items():
        res[name] = s
        res[f"{name}_runs"] = _runs(runs[name])
        if not s.get("ok"):
            errors.append(f"{step} {name}: {s.get('error')}")
    ours, theirs = sums.get("refuge", {}), sums[peer]
    if ours.get("ok") and theirs.get("ok"):
        a, b = ours["seconds_median"], theirs["seconds_median"]
        res["ratio"] = ratio(a, b)
        print(f"{step}_vs_{peer}: refuge {a:.2f} s, {peer} {b:.2f} s, ratio {res['ratio']:.2f} (target {target})",
              flush=True)
    else:
        print(f"{step}_vs_{peer}: refuge {_fmt(ours, skipped)}, {peer} {_fmt(theirs)}, ratio n/a", flush=True)
    return sums


def run_verify(corpus: Corpus, data: Path | None, args: Any, res: dict, errors: list[str]) -> None:
    """refuge verify --store local vs sha256sum on the same files, both from the page cache."""
    warm_s = warm(corpus.files)
    tools: dict[str, Callable[[int], dict]] = {"sha256sum": lambda i: verify_sha256sum(corpus, i)}
    if data is not None:
        tools = {"refuge": lambda i: verify_refuge(None, data, corpus, "local", f"replicas-verify-{i}"), **tools}
    runs = alternate(tools, args.repeat, describe=lambda r: f"{r['seconds']:.2f}s", what="verify run")
    sums = _compare("verify", "sha256sum", runs, res, errors, lambda ours, peer: peer / ours,
                    f">= {VERIFY_TARGET:g}", skipped=data is None)
    detail(f"verified {len(corpus.files)} files, {corpus.bytes / MIB:.0f} MiB, warm: every file read once "
           f"beforehand ({warm_s:.1f}s), so both hash from the page cache; `refuge verify --store local` "
           f"(also records each result in the catalog) vs `sha256sum FILES`")
    for name, s in sums.items():
        if s.get("ok"):
            detail(f"{name} verify: {_rate(corpus.bytes, s['seconds_median'])}; runs "
                   f"{', '.join(f'{x:.2f}s' for x in s['seconds_all'])}; CPU of the median run {s['cpu_seconds']:.2f}s")
    if shutil.which("openssl"):
        o = procs.run_measured(["openssl", "dgst", "-sha256", *[f["path"] for f in corpus.files]],
                               log=WORK / "replicas-openssl", timeout=900)
        if o.returncode == 0:
            res["openssl_seconds"] = o.seconds
            detail(f"for scale (info only): `openssl dgst -sha256 FILES` {o.seconds:.2f}s = "
                   f"{_rate(corpus.bytes, o.seconds)} (OpenSSL's SHA-256, with the CPU's SHA instructions "
                   f"where it has them; Python's hashlib uses the same code)")
    if data is not None:
        v0 = procs.run_measured([str(refuge_bin()), "--version"], log=WORK / "replicas-refuge-version")
        res["refuge_startup_seconds"] = v0.seconds
        detail(f"of which start-up: `refuge --version` takes {v0.seconds:.2f}s")


def run(args: Any, results: dict) -> bool:
    """The replicas step: two comparison lines, details, and results['replicas']."""
    res: dict[str, Any] = {"push": {}, "verify": {}}
    results["replicas"] = res
    errors: list[str] = results["errors"]
    before = len(errors)
    refuge_too = not args.baseline_only

    t0 = time.perf_counter()
    corpus = ensure_corpus(args.replica_mib, args.replica_file_mib, args.seed)
    res["corpus"] = {"files": len(corpus.files), "bytes": corpus.bytes, "warc_files": len(corpus.warcs),
                     "warc_bytes": sum(f["size"] for f in corpus.warcs), "kinds": corpus.kinds(),
                     "generated_seconds": corpus.generated_seconds, "manifest_seconds": corpus.manifest_seconds,
                     "data_dir": str(corpus.data)}
    sizes = [f["size"] for f in corpus.warcs]
    detail(f"replica files: capture {corpus.capture_id} of {len(corpus.files)} files ({corpus.kinds()}), "
           f"{corpus.bytes / MIB:.0f} MiB; WARC files of {min(sizes) / MIB:.0f}-{max(sizes) / MIB:.0f} MiB "
           f"(ready in {time.perf_counter() - t0:.1f}s)")

    swift = None
    try:
        try:
            swift = Swift(WORK / "s3")
        except Exception as exc:  # noqa: BLE001 - StoreServerUnavailable (not installed), or it did not start
            errors.append(f"S3 server: {type(exc).__name__}: {exc}")
            detail(f"S3 server FAILED to start (scripts/install-test-servers.sh installs it): {exc}")
            print("push_vs_boto3: FAILED (no S3 server), ratio n/a", flush=True)
        rp: dict = {}
        if swift is not None:
            version = swift.version()
            res["server"] = {"kind": f"OpenStack Swift {version} with s3api", "endpoint": swift.server.endpoint_url}
            detail(f"S3 server: OpenStack Swift {version} + s3api at {swift.server.endpoint_url} "
                   f"(proxy, object, container and account servers, one process each)")
            warm(corpus.files)
            warm_up(swift, corpus)
            rp = run_push(swift, corpus, args, res["push"], errors)

        # After the push the data dir also has its S3 rows; without one, the capture's own
        # data dir (local rows only) in a fresh copy.
        data = None
        if refuge_too:
            data = Path(rp["data_dir"]) if rp else fresh_copy(corpus, WORK / "replicas-push")
        run_verify(corpus, data, args, res["verify"], errors)

        # ---- reading the copies back from S3 (info only)
        if swift is not None and rp:
            s3v = verify_refuge(swift, Path(rp["data_dir"]), corpus, "s3", "replicas-verify-s3")
            res["verify"]["refuge_s3"] = s3v
            if s3v["ok"]:
                detail(f"refuge verify --store s3 (reads every copy back from Swift; info only): "
                       f"{s3v['seconds']:.2f}s = {_rate(corpus.bytes, s3v['seconds'])}; CPU client "
                       f"{s3v['cpu_seconds']:.2f}s, Swift {s3v['server_cpu_seconds']:.2f}s; "
                       f"S3 requests {s3v['s3_requests']}")
            else:
                errors.append(s3v["error"])
                detail(f"refuge verify --store s3 FAILED: {s3v['error']}")
    finally:
        if swift is not None:
            swift.stop()
    return len(errors) == before


def targets(results: dict) -> dict:
    """The replicas step's entries for results['targets']."""
    rep = results.get("replicas") or {}
    pr, vr = rep.get("push", {}).get("ratio"), rep.get("verify", {}).get("ratio")
    return {
        "push_ratio": {"target": PUSH_TARGET, "op": "<=", "value": pr, "met": bool(pr and pr <= PUSH_TARGET)},
        "verify_ratio": {"target": VERIFY_TARGET, "op": ">=", "value": vr, "met": bool(vr and vr >= VERIFY_TARGET)},
    }


__all__ = ["PUSH_TARGET", "VERIFY_TARGET", "run", "targets"]
