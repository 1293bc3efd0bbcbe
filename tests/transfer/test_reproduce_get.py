"""`roar reproduce` through a `get`: the get step is replayed as `roar get URL DEST --hash H`
(the recorded object downloaded again and verified against its recorded BLAKE3), a `put` step is
not re-run (its outputs are remote copies). get → roar run → put against moto (an S3 emulator on
127.0.0.1), registered on a real registry server (glaas on SQLite), then reproduced from a second
clone that has no store, from the registry's recipe alone; and locally after the download is
deleted; and refused when the bucket's object no longer holds the recorded bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROAR
from tests.transfer.conftest import Project
from tests.transfer.test_put_lineage import pipeline


@pytest.fixture
def bare(tmp_path: Path) -> dict[str, str]:
    """A bare venv's Python first on PATH (the step imports no package: the reproduction's
    virtualenv needs no network) and a private venv cache."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "v")], check=True)
    return {
        "PATH": f"{tmp_path / 'v' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def roar_in(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> Any:
    environ = {k: v for k, v in os.environ.items() if k != "ROAR_GLAAS_URL"}
    proc = subprocess.run(
        [*ROAR, *args], cwd=cwd, env={**environ, **env}, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if check:
        assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
    return proc


def test_a_clone_reproduces_get_run_put_from_the_registry(
    project: Project, registry, bare, tmp_path: Path
) -> None:
    env = {**project.s3.env, **bare}
    bucket, clean = pipeline_in(project, bare)
    up = project.roar("put", "clean.csv", f"s3://{bucket}/out/", "-m", "cleaned", "-y", "--json",
                      env={**bare, "ROAR_GLAAS_URL": registry.base}).json()  # fmt: skip
    assert up["registration"]["status"] == "registered"

    clone = tmp_path / "elsewhere" / "clone"
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(project.root), str(clone)], check=True)
    remote = {**env, "ROAR_GLAAS_URL": registry.base}
    plan = roar_in(clone, remote, "reproduce", clean)
    assert "roar get s3://" in plan.stdout and "(verified)" in plan.stdout
    into = tmp_path / "replay"
    run = roar_in(clone, remote, "reproduce", clean, "--run", "-y", "--into", str(into))
    assert "Reproduced: the target matches the recorded bytes." in run.stderr, run.stderr
    assert (into / "clean.csv").read_bytes() == (project.root / "clean.csv").read_bytes()
    raw = project.root / "data" / "raw.csv"
    assert (into / "data" / "raw.csv").read_bytes() == raw.read_bytes()  # downloaded again
    assert not (clone / ".roar").exists()


RAW = b"a,1\nb,2\n"


def pipeline_in(project: Project, bare: dict[str, str]) -> tuple[str, str]:
    """The pipeline with the bare venv's python, on bytes of its own (the package's registry
    holds other tests' lineage: no other recipe makes the same output)."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = bare["PATH"]  # Project.roar passes os.environ: the bare venv's python
    try:
        return pipeline(project, RAW + os.urandom(8).hex().encode() + b",3\n")
    finally:
        os.environ["PATH"] = old


def test_local_reproduce_downloads_the_deleted_copy_again_and_refuses_other_bytes(
    project: Project, bare, tmp_path: Path
) -> None:
    env = {**project.s3.env, **bare}
    bucket, _clean = pipeline_in(project, bare)
    project.roar("put", "clean.csv", f"s3://{bucket}/out/", "-m", "cleaned", "-y")
    raw = (project.root / "data" / "raw.csv").read_bytes()
    (project.root / "data" / "raw.csv").unlink()
    plan = project.roar("reproduce", "clean.csv", "--json").json()
    # the put's upload holds the same bytes as clean.csv: listed, and not re-run
    assert [s["kind"] for s in plan["steps"]] == ["get", "run", "put"] and plan["sources"] == []
    shown = project.roar("reproduce", "--lineage").stdout
    assert "not re-run on reproduce: its outputs are remote copies" in shown
    into = tmp_path / "replay"
    run = roar_in(project.root, env, "reproduce", "--lineage", "--run", "-y", "--into", str(into))
    assert "Reproduced: every artifact of the session matches" in run.stderr, run.stderr
    assert "not re-run (a put: its outputs are remote copies)" in run.stderr
    assert (into / "clean.csv").read_bytes() == (project.root / "clean.csv").read_bytes()
    assert (into / "data" / "raw.csv").read_bytes() == raw  # downloaded again
    assert project.s3.keys(bucket, "out/") == ["out/clean.csv"]  # put once, not again

    # the bucket's object changed since: the get step fails, nothing is written
    project.s3.client.put_object(Bucket=bucket, Key="in/raw.csv", Body=b"other\n")
    again = tmp_path / "replay2"
    bad = roar_in(project.root, env, "reproduce", "clean.csv", "--run", "-y", "--into",
                  str(again), check=False)  # fmt: skip
    assert bad.returncode != 0
    assert "Hash mismatch" in bad.stderr and "the steps after it did not run" in bad.stderr
    assert not (again / "data" / "raw.csv").exists() and not (again / "clean.csv").exists()
