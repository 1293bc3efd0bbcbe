"""Issue 17's headline: a 3-step pipeline registered from one repo to a real GLaaS server, then
reproduced from a second clone that has no local store, from the registry's recipe alone; the
source input is found in the second clone by its hash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROAR, commit_all, git, make_repo

PREP = """
rows = open("data/raw.csv").read().splitlines()
open("clean.csv", "w").write("\\n".join(r.upper() for r in rows) + "\\n")
"""
TRAIN = """
import sys
lr = sys.argv[1].split("=", 1)[1]
clean = open("clean.csv").read()
open("model.txt", "w").write(f"lr={lr} rows={clean.count(chr(10))}\\n")
"""
EVALUATE = """
import json
model = open("model.txt").read()
json.dump({"score": sum(map(ord, model)), "data": len(open("clean.csv").read())},
          open("metrics.json", "w"))
"""
IGNORED = "data/\nclean.csv\nmodel.txt\nmetrics.json\n"


def roar(*args: str, cwd: Path, env: dict[str, str], check: bool = True):
    proc = subprocess.run(
        [*ROAR, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        input="",
    )
    if check:
        assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A bare venv's Python first on PATH (the steps use no package: the reproduction's
    virtualenv needs no network), a private venv cache, and no ROAR_GLAAS_URL inherited."""
    tmp = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "v")], check=True)
    os.environ.pop("ROAR_GLAAS_URL", None)
    return {
        "PATH": f"{tmp / 'v' / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }


@pytest.fixture(scope="module")
def origin(tmp_path_factory, env) -> dict[str, str | Path]:
    """The first repo: data/raw.csv (not in git) -> clean.csv -> model.txt -> metrics.json."""
    root = make_repo(tmp_path_factory.mktemp("origin") / "project")
    for name, body in (("prep.py", PREP), ("train.py", TRAIN), ("evaluate.py", EVALUATE),
                       (".gitignore", IGNORED)):  # fmt: skip
        (root / name).write_text(body)
    roar("init", "-y", cwd=root, env=env)
    commit_all(root, "pipeline")
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("a,b\nc,d\n")
    roar("run", "-q", "python", "prep.py", cwd=root, env=env)
    roar("run", "-q", "python", "train.py", "--lr=0.1", cwd=root, env=env)
    roar("run", "-q", "python", "evaluate.py", cwd=root, env=env)
    shown = json.loads(roar("show", "metrics.json", "--json", cwd=root, env=env).stdout)
    return {"root": root, "metrics": shown["artifact"]["hash"]}


@pytest.fixture
def registered(server, origin, env) -> str:
    """metrics.json's lineage registered on this server; the hash to reproduce."""
    root = origin["root"]
    roar("config", "set", "glaas.url", server.base, cwd=root, env=env)
    out = roar("register", "metrics.json", "-y", cwd=root, env=env).stdout
    assert f"roar reproduce {origin['metrics']}" in out
    return str(origin["metrics"])


def second_clone(origin, tmp_path: Path, with_data: bool = True) -> Path:
    """A clone of the repo elsewhere: no .roar/, and the source data copied in by hand."""
    clone = tmp_path / "elsewhere" / "clone"
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(origin["root"]), str(clone)], check=True)
    assert not (clone / ".roar").exists()
    if with_data:
        (clone / "data").mkdir()
        (clone / "data" / "raw.csv").write_bytes((origin["root"] / "data" / "raw.csv").read_bytes())
    return clone


def test_a_second_clone_without_a_store_reproduces_from_the_registry(
    server, registered, origin, env, tmp_path
):
    clone = second_clone(origin, tmp_path)
    remote = {**env, "ROAR_GLAAS_URL": server.base}
    plan = roar("reproduce", registered[:16], "--json", cwd=clone, env=remote)
    assert "its recipe comes from " + server.base in plan.stderr
    data = json.loads(plan.stdout)
    assert [s["argv"][1] for s in data["steps"]] == ["prep.py", "train.py", "evaluate.py"]
    # Recorded paths are mapped into this clone, and the source is found here by its hash.
    assert data["target"]["path"] == str(clone / "metrics.json")
    (source,) = data["sources"]
    assert source["path"] == str(clone / "data" / "raw.csv") and source["present"] is True
    assert data["commit"] == git(clone, "rev-parse", "HEAD").strip()

    into = tmp_path / "replay"
    run = roar("reproduce", registered, "--run", "-y", "--into", str(into), cwd=clone, env=remote)
    assert "Reproduced: the target matches the recorded bytes." in run.stderr
    made = json.loads((into / "metrics.json").read_text())
    assert made == json.loads((origin["root"] / "metrics.json").read_text())
    assert not (clone / ".roar").exists()  # the clone itself got no store


def test_a_clone_with_an_empty_store_uses_glaas_url_from_its_config(
    server, registered, origin, env, tmp_path
):
    clone = second_clone(origin, tmp_path)
    roar("init", "-y", cwd=clone, env=env)
    roar("config", "set", "glaas.url", server.base, cwd=clone, env=env)
    shown = roar("reproduce", registered, cwd=clone, env=env)
    assert "Steps (3, in order):" in shown.stdout
    assert "present " in shown.stdout and "data/raw.csv" in shown.stdout
    assert f"To run it: roar reproduce {registered} --run" in shown.stderr


def test_without_glaas_url_the_seeds_error_and_hint(registered, origin, env, tmp_path):
    clone = second_clone(origin, tmp_path)
    roar("init", "-y", cwd=clone, env=env)
    proc = roar("reproduce", registered, cwd=clone, env=env, check=False)
    assert proc.returncode != 0
    assert "GLaaS server not configured" in proc.stderr
    assert "roar config set glaas.url" in proc.stderr


def test_a_hash_the_registry_does_not_know(server, registered, origin, env, tmp_path):
    clone = second_clone(origin, tmp_path)
    proc = roar(
        "reproduce", "ab" * 16, cwd=clone, env={**env, "ROAR_GLAAS_URL": server.base}, check=False
    )
    assert proc.returncode != 0
    assert "neither in the local store nor in the registry" in proc.stderr


def test_a_missing_source_is_named_and_nothing_runs(server, registered, origin, env, tmp_path):
    clone = second_clone(origin, tmp_path, with_data=False)
    into = tmp_path / "replay"
    proc = roar(
        "reproduce", registered, "--run", "-y", "--into", str(into),
        cwd=clone, env={**env, "ROAR_GLAAS_URL": server.base}, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "cannot be found on this machine" in proc.stderr and "data/raw.csv" in proc.stderr
    assert not (into / "metrics.json").exists()


@pytest.mark.parametrize("run", [False, True])
def test_without_a_store_or_glaas_url_the_seeds_error(tmp_path, run):
    """No `.roar/` at all (a fresh clone) and no URL: the seeds' message, plan or --run alike."""
    clone = make_repo(tmp_path / "fresh")
    args = ["reproduce", "0123456789abcdef0123", *(["--run", "-y"] if run else [])]
    proc = roar(*args, cwd=clone, env={"ROAR_GLAAS_URL": ""}, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: GLaaS server not configured")
    assert "roar config set glaas.url" in proc.stderr
