#!/usr/bin/env python3
"""Benchmark roar's native hashing (roar._native) against b3sum and hashlib.

Not a pytest test. Usage:

    python benchmarks/bench_hash.py               # 1 GiB file, 10,000 small files
    python benchmarks/bench_hash.py --size-mb 128 --small-files 2000

It measures, in one run with the page cache warm for every contender:

* large file: roar ``hash_file`` (BLAKE3, pread of 1 MiB subtrees, multi-threaded) vs ``b3sum``
  (median of N runs each), and the ratio roar/b3sum (target >= 0.90);
  also roar SHA-256 vs ``hashlib.sha256`` for reference;
* many small files: ``hash_files`` (parallel) vs a Python loop doing
  open + fstat + read + hashlib.sha256 for each file.

If ``b3sum`` is not on PATH it tries ``cargo install b3sum --locked``; if that
fails the b3sum comparison is skipped (and says so).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import roar._native as native
except ImportError:  # running from a source tree
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
    import roar._native as native

MiB = 1 << 20


def median_time(fn, repeats: int) -> tuple[float, object]:
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def find_b3sum() -> str | None:
    for cand in (shutil.which("b3sum"), os.path.expanduser("~/.cargo/bin/b3sum")):
        if cand and os.access(cand, os.X_OK):
            return cand
    if shutil.which("cargo") is None:
        print("b3sum not found and cargo is unavailable: skipping the b3sum comparison")
        return None
    print("b3sum not on PATH: running `cargo install b3sum --locked` ...", flush=True)
    try:
        subprocess.run(
            ["cargo", "install", "b3sum", "--locked"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as e:
        print(f"could not install b3sum ({e}): skipping the b3sum comparison")
        return None
    cand = shutil.which("b3sum") or os.path.expanduser("~/.cargo/bin/b3sum")
    return cand if os.access(cand, os.X_OK) else None


def make_big_file(path: pathlib.Path, size_mb: int) -> None:
    chunk = os.urandom(16 * MiB)
    remaining = size_mb * MiB
    with open(path, "wb") as fh:
        while remaining > 0:
            n = min(remaining, len(chunk))
            fh.write(chunk[:n])
            remaining -= n


def make_small_files(root: pathlib.Path, count: int, max_size: int) -> list[str]:
    root.mkdir()
    blob = os.urandom(max_size)
    paths = []
    for i in range(count):
        sub = root / f"d{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir()
        p = sub / f"f{i:06d}.bin"
        size = (i * 2654435761) % max_size  # deterministic spread of sizes
        p.write_bytes(blob[:size])
        paths.append(str(p))
    return paths


def warm(path: pathlib.Path) -> None:
    with open(path, "rb") as fh:
        while fh.readinto(bytearray(16 * MiB)):
            pass


def python_loop(paths: list[str]) -> list[tuple[str, int, int, int, int]]:
    out = []
    for p in paths:
        with open(p, "rb") as fh:
            st = os.fstat(fh.fileno())
            digest = hashlib.sha256(fh.read()).hexdigest()
        out.append((digest, st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns))
    return out


def fmt_rate(nbytes: int, secs: float) -> str:
    return f"{nbytes / secs / MiB:,.0f} MiB/s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="large file size (MiB)")
    ap.add_argument("--small-files", type=int, default=10_000, help="number of small files")
    ap.add_argument("--small-max-kb", type=int, default=16, help="small files are 0..N KiB")
    ap.add_argument("--repeats", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--dir", default=None, help="scratch directory (default: a new one in /tmp)")
    args = ap.parse_args()

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="roar-bench-hash-", dir=args.dir))
    rows: list[tuple[str, str, str]] = []
    try:
        big = scratch / "big.bin"
        nbytes = args.size_mb * MiB
        print(f"writing {args.size_mb} MiB to {big} ...", flush=True)
        make_big_file(big, args.size_mb)
        warm(big)
        cpus = os.cpu_count()

        # --- large file: roar vs b3sum (both measured here, cache warm) ---
        native.hash_file(str(big))  # warm-up
        t_roar, roar_hex = median_time(lambda: native.hash_file(str(big)), args.repeats)
        rows.append(
            (
                f"hash_file blake3 {args.size_mb} MiB",
                f"{t_roar * 1000:,.1f} ms",
                fmt_rate(nbytes, t_roar),
            )
        )

        b3sum = find_b3sum()
        ratio = None
        if b3sum:

            def run_b3sum() -> str:
                r = subprocess.run(
                    [b3sum, "--no-names", str(big)], check=True, capture_output=True, text=True
                )
                return r.stdout.strip()

            run_b3sum()  # warm-up
            t_b3, b3_hex = median_time(run_b3sum, args.repeats)
            if b3_hex != roar_hex:
                print(f"DIGEST MISMATCH: roar {roar_hex} b3sum {b3_hex}")
                return 1
            rows.append(
                (f"b3sum {args.size_mb} MiB", f"{t_b3 * 1000:,.1f} ms", fmt_rate(nbytes, t_b3))
            )
            ratio = t_b3 / t_roar
            rows.append(("ratio roar/b3sum (throughput)", f"{ratio:.3f}", "target >= 0.90"))
        else:
            rows.append(("b3sum", "skipped", "not available"))

        t_rs, rs_hex = median_time(lambda: native.hash_file(str(big), "sha256"), args.repeats)

        def hashlib_file() -> str:
            with open(big, "rb") as fh:
                return hashlib.file_digest(fh, "sha256").hexdigest()

        t_hl, hl_hex = median_time(hashlib_file, args.repeats)
        if rs_hex != hl_hex:
            print(f"DIGEST MISMATCH: roar sha256 {rs_hex} hashlib {hl_hex}")
            return 1
        rows.append(
            (
                f"hash_file sha256 {args.size_mb} MiB",
                f"{t_rs * 1000:,.1f} ms",
                fmt_rate(nbytes, t_rs),
            )
        )
        rows.append(
            (f"hashlib.sha256 {args.size_mb} MiB", f"{t_hl * 1000:,.1f} ms", fmt_rate(nbytes, t_hl))
        )
        big.unlink()

        # --- many small files ---
        n = args.small_files
        print(f"writing {n:,} small files (0..{args.small_max_kb} KiB) ...", flush=True)
        paths = make_small_files(scratch / "small", n, args.small_max_kb * 1024)
        python_loop(paths)  # warm the cache and the dentries
        t_b3_many, res_b3 = median_time(lambda: native.hash_files(paths), args.repeats)
        t_s_many, res_s = median_time(lambda: native.hash_files(paths, "sha256"), args.repeats)
        t_py, res_py = median_time(lambda: python_loop(paths), args.repeats)
        if res_s != res_py:
            print("MISMATCH between hash_files(sha256) and the hashlib loop")
            return 1
        assert all(isinstance(r, tuple) for r in res_b3)
        rows.append(
            (
                f"hash_files blake3 x{n:,}",
                f"{t_b3_many * 1000:,.1f} ms",
                f"{n / t_b3_many:,.0f} files/s",
            )
        )
        rows.append(
            (
                f"hash_files sha256 x{n:,}",
                f"{t_s_many * 1000:,.1f} ms",
                f"{n / t_s_many:,.0f} files/s",
            )
        )
        rows.append(
            (
                f"python loop hashlib.sha256 x{n:,}",
                f"{t_py * 1000:,.1f} ms",
                f"{n / t_py:,.0f} files/s",
            )
        )
        rows.append(("speedup hash_files blake3 / python loop", f"{t_py / t_b3_many:.1f}x", ""))
        rows.append(("speedup hash_files sha256 / python loop", f"{t_py / t_s_many:.1f}x", ""))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"\nroar hashing benchmark: {cpus} CPUs, median of {args.repeats}, page cache warm")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'measurement':<{w0}}  {'time':>{w1}}  rate")
    print(f"{'-' * w0}  {'-' * w1}  {'-' * 16}")
    for a, b, c in rows:
        print(f"{a:<{w0}}  {b:>{w1}}  {c}")
    if ratio is not None:
        print(
            f"\nroar/b3sum = {ratio:.3f} ({'meets' if ratio >= 0.90 else 'BELOW'} the 0.90 target)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
