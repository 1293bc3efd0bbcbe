"""Two ordinary `roar run`s writing one file: the one that hashes it while the other truncates
it must neither die (the memory-mapped hasher got SIGBUS, exit 135, and the job was lost) nor
record bytes the file never held."""

from __future__ import annotations

import subprocess
import time

from tests.conftest import ROAR

EMPTY_BLAKE3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def test_a_file_truncated_by_another_run_while_hashed_loses_no_job(repo, run_roar):
    big = repo / "f"
    stop = repo / "stop"
    # The issue's `roar run sh -c ': > f'`, repeated until told to stop so that it surely
    # overlaps the other run's hashing; between two, f is 2 GiB (for 0.2 s at a time, so that
    # the hasher mostly finds it big), never 3 GiB: the other run's truncate always changes it
    # (a write that changes nothing would not make f its output).
    churn = subprocess.Popen(
        [*ROAR, "run", "sh", "-c",
         f"while [ ! -e {stop} ]; do truncate -s 2G f; sleep 0.2; : > f; done"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not big.exists():
            assert churn.poll() is None and time.monotonic() < deadline, churn.communicate()
            time.sleep(0.05)
        first = run_roar("run", "sh", "-c", "truncate -s 3G f", cwd=repo, check=False, timeout=300)
    finally:
        stop.touch()
        out, err = churn.communicate(timeout=300)

    assert first.returncode == 0, (first.returncode, first.stderr)  # the command's own code
    assert churn.returncode == 0, (churn.returncode, err)
    jobs = {j["command"]: j for j in run_roar("log", "--json", cwd=repo).json()["jobs"]}
    assert "sh -c 'truncate -s 3G f'" in jobs, sorted(jobs)
    job = jobs["sh -c 'truncate -s 3G f'"]
    assert job["exit_code"] == 0
    hashed = {o["path"]: o for o in job["outputs"]}
    unhashed = job["metadata"].get("hashing", {}).get("unhashed", [])
    path = str(big.resolve())
    if path in hashed:
        # Hashed in a moment between two changes: only the empty file is quick enough.
        assert (hashed[path]["hash"], hashed[path]["size"]) == (EMPTY_BLAKE3, 0), hashed[path]
    else:
        want = [{"path": path, "role": "output", "reason": "changed while hashing"}]
        assert unhashed == want, (job, first.stderr)
        assert "kept changing while roar hashed" in first.stderr, first.stderr
        assert any("kept changing" in w for w in job["metadata"]["warnings"])
