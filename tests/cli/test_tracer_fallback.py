"""`roar tracer`, `roar tracer check` and `auto` agree on whether eBPF is usable; when `auto`
passes over a backend that `roar tracer` would have called ready, the run says so once."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the eBPF service starts as root")

# A real fault: the service's socket cannot be created (its folder cannot exist under /proc).
BROKEN_SERVICE = {"ROAR_EBPF_SOCKET": "/proc/roar-no-such-dir/ebpf.sock"}


def test_table_check_and_auto_agree_when_the_service_cannot_start(repo, run_roar):
    table = run_roar("tracer", "--json", cwd=repo, env=BROKEN_SERVICE).json()
    ebpf = next(r for r in table["backends"] if r["backend"] == "ebpf")
    assert not ebpf["ready"] and "service cannot start" in ebpf["reason"]
    assert table["active"] == "preload"

    check = run_roar("tracer", "check", "ebpf", cwd=repo, env=BROKEN_SERVICE, check=False)
    assert check.returncode != 0 and "Traceback" not in check.stderr

    run = run_roar("run", "-q", "true", cwd=repo, env=BROKEN_SERVICE)
    notes = [line for line in run.stderr.splitlines() if "auto: ebpf is not usable" in line]
    assert len(notes) == 1 and "so preload traced this run" in notes[0]
    (job,) = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert job["tracer"] == "preload"
    assert any("auto: ebpf is not usable" in w for w in job["metadata"]["warnings"])


def test_no_note_when_auto_takes_the_first_backend(repo, run_roar, ebpf_service):
    run = run_roar("run", "-q", "true", cwd=repo)
    assert "auto:" not in run.stderr
    (job,) = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert job["tracer"] == "ebpf"


def test_asking_for_ebpf_explicitly_fails_clearly(repo, run_roar):
    result = run_roar("run", "--tracer", "ebpf", "true", cwd=repo, env=BROKEN_SERVICE, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "Tracer preflight failed for 'ebpf'" in result.stderr
