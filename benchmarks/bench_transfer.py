#!/usr/bin/env python3
"""`roar get` / `roar put` against `aws s3 cp` doing the same transfer, on a loopback S3 server.

Not a pytest test. Usage:

    python benchmarks/bench_transfer.py                # 1 GiB object + 1,000 small objects, 3 rounds
    python benchmarks/bench_transfer.py --quick        # 256 MiB, 1 round
    python benchmarks/bench_transfer.py --size-mb 512 --files 500 --rounds 5

The server is moto's standalone S3 emulator (``python -m moto.server``, from moto[server]) on
127.0.0.1: both tools talk to the same server with the same test credentials, so the ratio is
what roar adds (hashing, the store, its process start) on top of the transfer — the emulator
itself is slow (a Python process, ~10 ms a request), which weighs on both alike. The baseline is
``aws s3 cp`` (awscli) when it is installed, else ``s5cmd``; with neither, roar's times are
printed alone, with a note. Each round runs every variant once, the order rotating from round
to round; figures are medians. Target (issue 18): roar ≤ 1.2× the baseline in every case: each
case prints PASS or MISS, then the whole run does (exit 0 only when every case passes), with
the load average (the host may be shared: ratios of one run, side by side, are what counts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.2
CASES = ["put 1 object", "get 1 object", "put 1,000 objects", "get 1,000 objects"]  # in order
ROAR = [str(Path(sys.executable).with_name("roar"))]
if not Path(ROAR[0]).exists():
    ROAR = [sys.executable, "-m", "roar"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/", timeout=2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"moto.server did not start: {log.read_text()}")


def baseline_tool() -> tuple[str, list[str]] | None:
    if shutil.which("aws"):
        return "aws s3 cp", ["aws", "s3", "cp", "--only-show-errors"]
    if shutil.which("s5cmd"):
        return "s5cmd cp", ["s5cmd", "cp"]
    return None


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return took


def make_data(work: Path, size_mb: int, files: int) -> tuple[Path, Path]:
    big = work / "big.bin"
    block = os.urandom(8 << 20)
    with big.open("wb") as fh:
        for i in range(max(1, size_mb // 8)):
            fh.write(block[:-8] + i.to_bytes(8, "little"))
    small = work / "small"
    small.mkdir()
    for i in range(files):
        (small / f"{i:05d}.txt").write_bytes(os.urandom(1024 + (i % 8) * 1024))
    return big, small


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="256 MiB, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.size_mb, args.rounds = 256, 1
    work = Path(tempfile.mkdtemp(prefix="roar-bench-transfer-"))
    proc, endpoint = start_moto(work / "moto.log")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(work / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(work / "aws-credentials"),
    }
    env.pop("ROAR_GLAAS_URL", None)
    try:
        repo = work / "project"
        repo.mkdir()
        for cmd in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "i"]):
            subprocess.run(cmd, cwd=repo, check=True, env={**env, "GIT_AUTHOR_NAME": "b",
                           "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
                           "GIT_COMMITTER_EMAIL": "b@b"})  # fmt: skip
        subprocess.run([*ROAR, "init", "-y"], cwd=repo, check=True, env=env, capture_output=True)
        big, small = make_data(work, args.size_mb, args.files)
        os.sync()  # the data's writeback done before timing, not during the first tool's run
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                     aws_secret_access_key="bench", region_name="us-east-1",
                     ).create_bucket(Bucket="bench")  # fmt: skip
        base = baseline_tool()
        results = measure(repo, env, big, small, base, args.rounds)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    report(results, base, args)


def measure(
    repo: Path, env: dict[str, str], big: Path, small: Path,
    base: tuple[str, list[str]] | None, rounds: int,
) -> dict[str, dict[str, list[float]]]:  # fmt: skip
    times: dict[str, dict[str, list[float]]] = {}

    def timed(case: str, tool: str, cmd: list[str], before: Sequence[Path] = ()) -> None:
        for path in before:
            shutil.rmtree(path, ignore_errors=True)
        times.setdefault(case, {}).setdefault(tool, []).append(run(cmd, repo, env))

    cp = base[1] if base else None
    recursive = ["--recursive"] if base and base[0].startswith("aws") else []
    s5_glob = base is not None and base[0].startswith("s5cmd")
    # Untimed warm-up: one tiny object up and down with each tool, so that neither the first
    # timed command (roar's, in round 1) pays for cold module files or the server's first
    # requests.
    warm = small / sorted(os.listdir(small))[0]
    warmups = [[*ROAR, "put", str(warm), "s3://bench/warm/roar.txt", "-m", "w"],
               [*ROAR, "get", "s3://bench/warm/roar.txt", "warm-roar.txt"]]  # fmt: skip
    if cp:
        warmups += [[*cp, str(warm), "s3://bench/warm/base.txt"],
                    [*cp, "s3://bench/warm/base.txt", "warm-base.txt"]]  # fmt: skip
    for cmd in warmups:
        run(cmd, repo, env)
    for r in range(rounds):
        variants = [
            ("put 1 object", "roar", [*ROAR, "put", str(big), "s3://bench/roar/big.bin", "-m", "b"], []),
            ("get 1 object", "roar", [*ROAR, "get", "s3://bench/roar/big.bin", "dl-roar/"], [repo / "dl-roar"]),
            ("put 1,000 objects", "roar", [*ROAR, "put", str(small), "s3://bench/roar/small/", "-m", "s"], []),
            ("get 1,000 objects", "roar", [*ROAR, "get", "s3://bench/roar/small/", "sm-roar/"], [repo / "sm-roar"]),
        ]  # fmt: skip
        if cp:
            small_src = f"{small}/*" if s5_glob else str(small)
            small_get = "s3://bench/base/small/*" if s5_glob else "s3://bench/base/small/"
            variants += [
                ("put 1 object", "baseline", [*cp, str(big), "s3://bench/base/big.bin"], []),
                ("get 1 object", "baseline", [*cp, "s3://bench/base/big.bin", "dl-base/"], [repo / "dl-base"]),
                ("put 1,000 objects", "baseline", [*cp, *recursive, small_src, "s3://bench/base/small/"], []),
                ("get 1,000 objects", "baseline", [*cp, *recursive, small_get, "sm-base/"], [repo / "sm-base"]),
            ]  # fmt: skip
        first = ("roar", "baseline")[r % 2]  # which tool goes first alternates by round
        order = sorted(variants, key=lambda v: (CASES.index(v[0]), v[1] != first))
        for case, tool, cmd, before in order:
            timed(case, tool, cmd, before)
            print(f"round {r + 1}: {case:<18} {tool:<8} {times[case][tool][-1]:7.2f} s", flush=True)
    return times


def report(
    times: dict[str, dict[str, list[float]]], base: tuple[str, list[str]] | None,
    args: argparse.Namespace,
) -> None:  # fmt: skip
    print()
    name = base[0] if base else "(no baseline: neither awscli nor s5cmd is installed)"
    print(f"roar get/put vs {name} on moto (S3 emulator, loopback); {args.size_mb} MiB object, "
          f"{args.files} small objects, median of {args.rounds}")  # fmt: skip
    out = {"size_mb": args.size_mb, "files": args.files, "rounds": args.rounds,
           "baseline": name, "cases": {}}  # fmt: skip
    for case, by_tool in times.items():
        roar = statistics.median(by_tool["roar"])
        line = f"  {case:<18} roar {roar:7.2f} s"
        entry: dict[str, object] = {"roar_s": by_tool["roar"]}
        if "baseline" in by_tool:
            b = statistics.median(by_tool["baseline"])
            ratio = roar / b
            mark = "PASS" if ratio <= TARGET else f"MISS: over the {TARGET}x target"
            line += f"   baseline {b:7.2f} s   ratio {ratio:4.2f}x ({mark})"
            entry |= {"baseline_s": by_tool["baseline"], "ratio": ratio}
        print(line)
        out["cases"][case] = entry  # type: ignore[index]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    out["load_average"] = load
    print(f"  load average at the end (1, 5, 15 min): {load}; CPUs: {os.cpu_count()}")
    ratios = [e["ratio"] for e in out["cases"].values() if "ratio" in e]  # type: ignore[attr-defined]
    verdict = "PASS" if ratios and all(r <= TARGET for r in ratios) else "MISS"
    if not ratios:
        print(f"MISS: no baseline to compare with (target: roar <= {TARGET}x it)")
    else:
        print(f"{verdict}: worst ratio {max(ratios):.2f}x (target: every case <= {TARGET}x)")
    out["verdict"] = verdict
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "transfer.json").write_text(json.dumps(out, indent=2))
    if verdict != "PASS":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
