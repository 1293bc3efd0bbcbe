"""`roar tracer` and backend selection, end to end (real backends, real store)."""

from __future__ import annotations

import pytest

BACKENDS = ("ebpf", "preload", "ptrace")


def test_readiness_table_lists_every_backend_ready_here(run_roar, tmp_path):
    table = run_roar("tracer", cwd=tmp_path)  # works outside a project too
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["BACKEND", "READY", "DEFAULT"]
    assert [line.split()[0] for line in lines[1:4]] == list(BACKENDS)
    data = run_roar("tracer", "--json", cwd=tmp_path).json()
    assert data["default"] == "auto"
    assert {b["backend"]: b["ready"] for b in data["backends"]} == dict.fromkeys(BACKENDS, True)
    assert data["active"] == "ebpf"  # auto prefers eBPF when it is ready
    assert [b["backend"] for b in data["backends"] if b["default"]] == ["ebpf"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_traces_a_probe(run_roar, tmp_path, backend):
    result = run_roar("tracer", "check", backend, "--json", cwd=tmp_path).json()
    assert result["ready"], result
    assert [c["name"] for c in result["checks"]][-1] == "probe"


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_records_the_backend_it_used(run_roar, repo, backend):
    (repo / "in.txt").write_text("x")
    run_roar("run", "--tracer", backend, "cp", "in.txt", "out.txt", cwd=repo)
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["tracer"] == backend
    assert [o["path"] for o in job["outputs"]] == [str(repo / "out.txt")]


def test_use_sets_the_project_default(run_roar, repo):
    run_roar("tracer", "use", "preload", cwd=repo)
    assert run_roar("config", "get", "tracer.backend", "--json", cwd=repo).json() == {
        "tracer.backend": "preload"
    }
    assert run_roar("tracer", "--json", cwd=repo).json()["active"] == "preload"
    run_roar("run", "true", cwd=repo)
    data = run_roar("tracer", "--json", cwd=repo).json()
    assert data["last_run"]["tracer"] == "preload"
    assert "Last run used: preload" in run_roar("tracer", cwd=repo).stdout


def test_auto_run_uses_ebpf_here(run_roar, repo):
    run_roar("run", "true", cwd=repo)
    assert run_roar("show", "@1", "--json", cwd=repo).json()["tracer"] == "ebpf"


def test_unknown_backend_is_a_clear_error(run_roar, repo):
    bad = run_roar("run", "--tracer", "dtrace", "true", cwd=repo, check=False)
    assert bad.returncode != 0
    assert "Unknown tracer backend: dtrace." in bad.stderr
    assert "auto, ebpf, preload, ptrace" in bad.stderr
    assert run_roar("tracer", "use", "dtrace", cwd=repo, check=False).returncode == 2


def test_use_needs_a_project(run_roar, tmp_path):
    result = run_roar("tracer", "use", "ptrace", cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "roar is not initialized" in result.stderr


def test_enable_ebpf_starts_the_service(run_roar, tmp_path):
    result = run_roar("tracer", "enable", "ebpf", cwd=tmp_path)
    assert "eBPF service running" in result.stderr
    assert "ebpf is ready." in result.stdout
