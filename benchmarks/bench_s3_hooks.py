"""What roar's S3 hooks (roar/remote_access) cost the programs `roar run` starts.

1. start-up: instructions (valgrind's callgrind, when installed: they do not grow with the
   machine's load) of ``python -c pass`` bare and with roar's bootstrap (``_boot/`` first on
   PYTHONPATH, ROAR_S3_OUT set), and of roar's own process for ``roar run -q true`` with the
   hooks off (ROAR_S3=0) and on. Targets: python +3 % at most, roar run +1 % at most.
2. calls: a Python program doing N × (PutObject of 64 KiB, GetObject read whole) on a loopback
   S3 server (moto), bare and with the hooks (handlers installed, every body hashed, a record
   per call), alternating, paired medians. Target: 1.10× at most.

    python benchmarks/bench_s3_hooks.py            # 5 rounds, 200 calls each
    python benchmarks/bench_s3_hooks.py --quick    # 3 rounds, 100 calls

Prints PASS/MISS per figure and the load average; exit 0 only when every figure passes. The
timed processes run with bytecode (PYTHONDONTWRITEBYTECODE dropped, a private
PYTHONPYCACHEPREFIX), as a user's install has it.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOT = ROOT / "roar" / "remote_access" / "_boot"
PYTHON = sys.executable

CALLS = """
import os, sys, time
import boto3
n, bucket = int(sys.argv[1]), sys.argv[2]
client = boto3.client("s3")
body = os.urandom(64 << 10)
client.put_object(Bucket=bucket, Key="warm", Body=body)
start = time.perf_counter()
for i in range(n):
    client.put_object(Bucket=bucket, Key=f"k{i % 20}", Body=body)
    client.get_object(Bucket=bucket, Key=f"k{i % 20}")["Body"].read()
print(time.perf_counter() - start)
"""


def instructions(argv: list[str], env: dict[str, str], cwd: str | None = None) -> int:
    # once untimed first: bytecode written, caches warm (as a user's second run)
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=True)
    with tempfile.TemporaryDirectory(prefix="roar-bench-cg-") as tmp:
        out = Path(tmp) / "cg.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            env={**env, "PYTHONHASHSEED": "0"},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        for line in out.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError(f"no instruction count for {argv}")


def with_boot(env: dict[str, str], out: str) -> dict[str, str]:
    path = env.get("PYTHONPATH")
    return {
        **env,
        "PYTHONPATH": str(BOOT) + (os.pathsep + path if path else ""),
        "ROAR_S3_OUT": out,
    }


def project(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "b@x"], ["config", "user.name", "b"],
                 ["commit", "-q", "--allow-empty", "-m", "init"]):  # fmt: skip
        subprocess.run(["git", *args], cwd=repo, check=True)
    roar = [PYTHON, "-c", "from roar.cli.main import main; main()"]
    subprocess.run([*roar, "init", "-y"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "roar"], cwd=repo, check=True)
    return repo


def startup(tmp: Path, results: dict) -> list[tuple[str, float, float, str]]:
    if shutil.which("valgrind") is None:
        print("  valgrind not installed: start-up instruction counts skipped")
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROAR_S3")}
    out = tmp / "s3out"
    out.mkdir()
    bare = instructions([PYTHON, "-c", "pass"], env)
    hooked = instructions([PYTHON, "-c", "pass"], with_boot(env, str(out)))
    repo = project(tmp)
    roar = [PYTHON, "-c", "from roar.cli.main import main; main()", "run", "-q", "true"]
    off = instructions(roar, {**env, "ROAR_S3": "0"}, cwd=str(repo))
    on = instructions(roar, env, cwd=str(repo))
    results["startup"] = {"python": [bare, hooked], "roar_run": [off, on]}
    py, rr = hooked / bare - 1, on / off - 1
    print(f"  python -c pass: {bare / 1e6:.1f} M instructions bare, {hooked / 1e6:.1f} M with "
          f"roar's bootstrap (+{py:.2%})")  # fmt: skip
    print(f"  roar run -q true (roar's process): {off / 1e6:.1f} M with ROAR_S3=0, "
          f"{on / 1e6:.1f} M with the hooks (+{rr:.2%})")  # fmt: skip
    return [
        ("python -c pass, bootstrap's extra instructions", py, 0.03, f"+{py:.2%}"),
        ("roar run -q true, hooks' extra instructions", rr, 0.01, f"+{rr:.2%}"),
    ]


def moto() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint + "/", timeout=2).close()
            return proc, endpoint
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("moto.server did not start") from None
            time.sleep(0.2)


def calls(tmp: Path, rounds: int, n: int, results: dict) -> list[tuple[str, float, float, str]]:
    proc, endpoint = moto()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROAR_S3")}
        env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull})  # fmt: skip
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                     aws_secret_access_key="bench", region_name="us-east-1"
                     ).create_bucket(Bucket="bench-s3-hooks")  # fmt: skip
        bare: list[float] = []
        hooked: list[float] = []
        for r in range(rounds):
            out = tmp / f"calls{r}"
            out.mkdir()
            variants = [("bare", env), ("hooked", with_boot(env, str(out)))]
            for name, e in variants if r % 2 == 0 else variants[::-1]:
                done = subprocess.run([PYTHON, "-c", CALLS, str(n), "bench-s3-hooks"], env=e,
                                      capture_output=True, text=True, check=True)  # fmt: skip
                (bare if name == "bare" else hooked).append(float(done.stdout.split()[-1]))
            records = sum(len(p.read_text().splitlines()) for p in out.iterdir())
            print(f"  round {r + 1}/{rounds}: bare {bare[-1]:.2f} s, hooked {hooked[-1]:.2f} s "
                  f"({records} records)")  # fmt: skip
        results["calls"] = {"n": n, "bare": bare, "hooked": hooked}
        ratio = statistics.median(h / b for h, b in zip(hooked, bare, strict=True))
        per_call = (
            statistics.median(h - b for h, b in zip(hooked, bare, strict=True)) / (2 * n) * 1e6
        )
        print(f"  {n} x (put 64 KiB + get): paired median ratio {ratio:.3f}, "
              f"{per_call:.0f} us more per call (paired)")  # fmt: skip
        return [("S3 calls with the hooks / bare", ratio, 1.10, f"{ratio:.3f}x")]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 100 calls")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--calls", type=int)
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.calls or (100 if args.quick else 200)
    print(f"bench_s3_hooks: load average {os.getloadavg()[0]:.1f} at start")
    results: dict = {}
    figures = []
    with tempfile.TemporaryDirectory(prefix="roar-bench-s3-") as tmp:
        # as a user's install: with bytecode (written once, to a private cache)
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        print("[1] start-up")
        figures += startup(Path(tmp), results)
        print("[2] S3 calls")
        figures += calls(Path(tmp), rounds, n, results)
    print(f"\nSummary (load average {os.getloadavg()[0]:.1f} at end)")
    ok = True
    for name, value, target, shown in figures:
        passed = value <= target
        ok &= passed
        print(f"  {name:<50} {shown:>9}  target <= {target:g}  {'PASS' if passed else 'MISS'}")
    out = ROOT / "benchmarks" / "results" / f"bench_s3_hooks-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
