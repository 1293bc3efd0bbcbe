"""`roar reproduce --run` end to end: real repos, real `roar run`s, a real git worktree, a real
virtualenv and (for cells) a real roar kernel.

The pipelines are recorded with a bare virtualenv's Python first on PATH (no packages, no site
hooks), as a user working in a venv would: their steps use no package, so the reproduction's
virtualenv needs no network. Each test has its own venv cache (XDG_CACHE_HOME).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from blake3 import blake3

from roar.store.queries import reader
from roar.workspace import Workspace
from tests.conftest import commit_all, git
from tests.kernel.conftest import jupyter_path, notebook  # noqa: F401 - fixtures used below

BUILD = """
import os
os.makedirs("build", exist_ok=True)
open("build/const.txt", "w").write("42\\n")
"""
PREP = """
rows = open("data/raw.csv").read().splitlines()
open("data/clean.csv", "w").write("\\n".join(r.upper() for r in rows) + "\\n")
"""
TRAIN = """
import sys
lr = sys.argv[1].split("=", 1)[1]
clean = open("data/clean.csv").read()
k = open("build/const.txt").read().strip()
open("model.txt", "w").write(f"lr={lr} rows={clean.count(chr(10))} k={k}\\n")
"""
EVALUATE = """
import json
model = open("model.txt").read()
json.dump({"score": sum(map(ord, model))}, open("metrics.json", "w"))
"""
NOISY_TRAIN = """
import os, time
clean = open("data/clean.csv").read()
open("model.txt", "w").write(f"{time.time_ns()} {os.urandom(8).hex()} {len(clean)}\\n")
"""
IGNORED = "build/\ndata/clean.csv\nmodel.txt\nmetrics.json\n"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A bare venv's Python first on PATH, and a private venv cache."""
    venv = tmp_path / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }


def pipeline(repo: Path, run_roar, env: dict[str, str], train: str = TRAIN) -> None:
    """A build step and three pipeline steps over an untracked source input, data/raw.csv."""
    for name, body in (("build.py", BUILD), ("prep.py", PREP), ("train.py", train),
                       ("evaluate.py", EVALUATE), (".gitignore", IGNORED)):  # fmt: skip
        (repo / name).write_text(body)
    commit_all(repo, "pipeline")
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("a,b\nc,d\n")
    run_roar("build", "-q", "python", "build.py", cwd=repo, env=env)
    run_roar("run", "-q", "python", "prep.py", cwd=repo, env=env)
    run_roar("run", "-q", "python", "train.py", "--lr=0.1", cwd=repo, env=env)
    run_roar("run", "-q", "python", "evaluate.py", cwd=repo, env=env)


def job_count(root: Path) -> int:
    with reader(Workspace(root).db_path, readonly=True) as r:
        return r.job_count()


def worktrees(repo: Path) -> list[str]:
    out = git(repo, "worktree", "list", "--porcelain")
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def test_pipeline_with_a_build_step_matches_in_a_fresh_worktree(repo, run_roar, env, tmp_path):
    pipeline(repo, run_roar, env)
    status_before = git(repo, "status", "--porcelain")
    jobs_before = job_count(repo)
    into = tmp_path / "repro"

    result = run_roar(
        "reproduce", "metrics.json", "--run", "-y", "--into", str(into), cwd=repo, env=env
    )

    lines = result.stdout.splitlines()
    rows = {line.split()[-2 if line.endswith("(target)") else -1]: line for line in lines[1:]}
    assert set(rows) == {
        str(into / "build" / "const.txt"),
        str(into / "data" / "clean.csv"),
        str(into / "model.txt"),
        str(into / "metrics.json"),
    }
    assert all(line.startswith("match") for line in rows.values()), result.stdout
    assert rows[str(into / "metrics.json")].endswith("(target)")
    # one live progress line per step, build step first
    assert "[1/4] @B1 python build.py ... ok" in result.stderr
    assert "[4/4] @3 python evaluate.py ... ok" in result.stderr
    assert "Reproduced: the target matches" in result.stderr
    # each replayed step is recorded in the worktree's own store, the build as a build
    with reader(Workspace(into).db_path, readonly=True) as r:
        session = r.active_session()
        assert session is not None
        replayed = r.session_jobs(session.id)
    assert [(j.kind, j.command) for j in replayed] == [
        ("build", "python build.py"),
        ("run", "python prep.py"),
        ("run", "python train.py --lr=0.1"),
        ("run", "python evaluate.py"),
    ]
    assert all(j.exit_code == 0 for j in replayed)
    # the worktree is a detached checkout of the recorded commit, still clean
    assert git(into, "rev-parse", "HEAD") == git(repo, "rev-parse", "HEAD")
    assert git(into, "status", "--porcelain", "--untracked-files=no") == ""
    # the user's checkout and store are untouched
    assert git(repo, "status", "--porcelain") == status_before
    assert job_count(repo) == jobs_before
    assert str(into) in worktrees(repo)


def test_a_rerun_reuses_the_cached_virtualenv_and_says_so(repo, run_roar, env, tmp_path):
    pipeline(repo, run_roar, env)
    first = run_roar("reproduce", "model.txt", "--run", "-y", "--into", str(tmp_path / "a"),
                     cwd=repo, env=env)  # fmt: skip
    second = run_roar("reproduce", "model.txt", "--run", "-y", "--into", str(tmp_path / "b"),
                      cwd=repo, env=env)  # fmt: skip
    assert "virtualenv built" in first.stderr
    assert "virtualenv reused" in second.stderr
    venvs = [p for p in (tmp_path / "cache" / "roar" / "venvs").iterdir() if p.is_dir()]
    assert len(venvs) == 1 and (venvs[0] / ".roar-complete").is_file()


def test_a_non_deterministic_step_differs_and_is_named_first(repo, run_roar, env, tmp_path):
    pipeline(repo, run_roar, env, train=NOISY_TRAIN)
    into = tmp_path / "repro"

    result = run_roar("reproduce", "metrics.json", "--run", "-y", "--into", str(into), "--json",
                      cwd=repo, env=env, check=False)  # fmt: skip

    assert result.returncode != 0
    out = result.json()
    status = {Path(a["path"]).name: (a["step"], a["status"]) for a in out["artifacts"]}
    assert status == {  # (the build step ran too; nothing it made is needed here)
        "clean.csv": ("@1", "match"),
        "model.txt": ("@2", "differs"),
        "metrics.json": ("@3", "differs"),
    }
    assert out["first_divergence"] == "@2"
    assert out["target_matches"] is False
    assert "First divergence: @2 (python train.py --lr=0.1)" in result.stderr


def test_a_missing_source_input_is_named_with_its_hash_and_nothing_runs(
    repo, run_roar, env, tmp_path
):
    pipeline(repo, run_roar, env)
    raw = repo / "data" / "raw.csv"
    digest = blake3(raw.read_bytes()).hexdigest()
    raw.unlink()  # no other copy of these bytes anywhere
    into = tmp_path / "repro"

    result = run_roar("reproduce", "metrics.json", "--run", "-y", "--into", str(into),
                      cwd=repo, env=env, check=False)  # fmt: skip

    assert result.returncode == 1
    assert "1 source input(s) cannot be found" in result.stderr
    assert f"{raw}  blake3:{digest}" in result.stderr
    assert "nothing was run" in result.stderr
    assert not (into / ".roar").exists()  # no store, no step ran
    assert worktrees(repo) == [str(repo)]  # the worktree it made is gone again


def test_a_source_input_is_found_by_its_hash_elsewhere(repo, run_roar, env, tmp_path):
    pipeline(repo, run_roar, env)
    raw = repo / "data" / "raw.csv"
    # the same bytes at another path roar has seen (a job read it there)
    (repo / "copy.csv").write_bytes(raw.read_bytes())
    (repo / "peek.py").write_text("open('copy.csv').read()\n")
    commit_all(repo, "peek")
    run_roar("run", "-q", "python", "peek.py", cwd=repo, env=env)
    raw.unlink()
    into = tmp_path / "repro"

    result = run_roar("reproduce", "model.txt", "--run", "-y", "--into", str(into),
                      cwd=repo, env=env)  # fmt: skip

    assert "Sources: 1 placed" in result.stderr
    assert (into / "data" / "raw.csv").read_bytes() == b"a,b\nc,d\n"
    assert not raw.exists()  # the user's checkout stays as it was


def test_without_a_terminal_it_asks_for_y_and_does_nothing(repo, run_roar, env, tmp_path):
    pipeline(repo, run_roar, env)
    into = tmp_path / "repro"
    result = run_roar("reproduce", "model.txt", "--run", "--into", str(into),
                      cwd=repo, env=env, check=False, input="")  # fmt: skip
    assert result.returncode == 1
    assert "pass -y" in result.stderr
    assert worktrees(repo) == [str(repo)]
    assert not into.exists()


def test_a_failing_step_stops_the_replay_with_its_exit_code(repo, run_roar, env, tmp_path):
    flag = tmp_path / "allowed"
    flag.write_text("")
    (repo / "gate.py").write_text(
        "import os, sys\n"
        f"if not os.path.exists({str(flag)!r}):\n    sys.exit(3)\n"
        "open('gate.txt', 'w').write(open('data/raw.csv').read())\n"
    )
    (repo / "after.py").write_text("open('after.txt', 'w').write(open('gate.txt').read())\n")
    (repo / ".gitignore").write_text("gate.txt\nafter.txt\n")
    commit_all(repo, "gate")
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("x\n")
    run_roar("run", "-q", "python", "gate.py", cwd=repo, env=env)
    run_roar("run", "-q", "python", "after.py", cwd=repo, env=env)
    flag.unlink()
    into = tmp_path / "repro"

    result = run_roar("reproduce", "after.txt", "--run", "-y", "--into", str(into),
                      cwd=repo, env=env, check=False)  # fmt: skip

    assert result.returncode == 3
    assert "[1/2] @1 python gate.py ... FAILED (exit 3)" in result.stderr
    assert "Step @1 failed (exit 3): partial replay" in result.stderr
    assert "[2/2]" not in result.stderr
    assert not (into / "after.txt").exists()


def test_roar_env_variables_are_injected_into_the_replay(repo, run_roar, env, tmp_path):
    (repo / "greet.py").write_text(
        "import os\nopen('greeting.txt', 'w').write(os.environ['GREETING'] + '\\n')\n"
    )
    (repo / ".gitignore").write_text("greeting.txt\n")
    commit_all(repo, "greet")
    run_roar("env", "set", "GREETING", "hello", cwd=repo)
    run_roar("run", "-q", "python", "greet.py", cwd=repo, env=env)
    run_roar("env", "unset", "GREETING", cwd=repo)  # the recorded value is what counts
    into = tmp_path / "repro"

    result = run_roar("reproduce", "greeting.txt", "--run", "-y", "--into", str(into),
                      cwd=repo, env=env)  # fmt: skip

    assert result.stdout.splitlines()[1].startswith("match")
    assert (into / "greeting.txt").read_text() == "hello\n"


def test_a_notebook_artifact_is_reproduced_from_its_cells(
    notebook,  # noqa: F811 - the kernel fixture imported above
    repo,
    run_roar,
    env,
    tmp_path,
):
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("3\n4\n")
    nb = notebook()
    nb.cell("SCALE = 10")  # defines a variable the writing cell reads
    nb.cell("print('unrelated')")
    nb.cell(
        "vals = [int(v) for v in open('data/raw.csv').read().split()]\n"
        "open('scaled.txt', 'w').write(' '.join(str(v * SCALE) for v in vals))"
    )
    expected = (repo / "scaled.txt").read_text()
    assert expected == "30 40"
    into = tmp_path / "repro"

    result = run_roar("reproduce", "scaled.txt", "--run", "-y", "--into", str(into), "--json",
                      cwd=repo, env=env, timeout=300)  # fmt: skip

    out = result.json()
    assert [(Path(a["path"]).name, a["status"], a["is_target"]) for a in out["artifacts"]] == [
        ("scaled.txt", "match", True)
    ]
    assert (into / "scaled.txt").read_text() == expected
    # the replay ran, in a fresh roar kernel, the cell that defined SCALE and then the writer
    # (not the unrelated cell), each recorded as a cell job of the worktree's store
    with reader(Workspace(into).db_path, readonly=True) as r:
        session = r.active_session()
        assert session is not None
        cells = r.session_jobs(session.id)
    assert [c.source for c in cells] == [
        "SCALE = 10",
        "vals = [int(v) for v in open('data/raw.csv').read().split()]\n"
        "open('scaled.txt', 'w').write(' '.join(str(v * SCALE) for v in vals))",
    ]
    assert all(c.kind == "cell" for c in cells)
    assert json.loads((into / "analysis.ipynb").read_text())["cells"][0]["source"] == "SCALE = 10"


def test_each_step_runs_at_the_commit_it_was_recorded_at(repo, run_roar, env, tmp_path):
    (repo / "one.py").write_text("open('one.txt', 'w').write('v1\\n')\n")
    (repo / ".gitignore").write_text("one.txt\ntwo.txt\n")
    commit_all(repo, "one")
    run_roar("run", "-q", "python", "one.py", cwd=repo, env=env)
    first = git(repo, "rev-parse", "HEAD").strip()
    # later commit: one.py changes (its recorded run used the first version) and two.py appears
    (repo / "one.py").write_text("open('one.txt', 'w').write('v2\\n')\n")
    (repo / "two.py").write_text("open('two.txt', 'w').write(open('one.txt').read() * 2)\n")
    commit_all(repo, "two")
    run_roar("run", "-q", "python", "two.py", cwd=repo, env=env)
    into = tmp_path / "repro"

    result = run_roar("reproduce", "two.txt", "--run", "-y", "--package-sync", "--into",
                      str(into), cwd=repo, env=env)  # fmt: skip

    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["match", "match"]
    assert (into / "one.txt").read_text() == "v1\n"  # @1 ran with the code it was recorded with
    second = git(repo, "rev-parse", "HEAD").strip()
    assert f"(at {first[:12]}; your checkout is not touched)" in result.stderr
    assert f"[2/2] @2 python two.py (at {second[:12]}) ... ok" in result.stderr
    assert git(into, "rev-parse", "HEAD").strip() == second
    assert "No system packages recorded" in result.stderr


def test_a_directory_read_as_a_whole_is_placed_file_by_file(repo, run_roar, env, tmp_path):
    (repo / "count.py").write_text(
        "import os\n"
        "sizes = [len(open(os.path.join('ds', n)).read()) for n in sorted(os.listdir('ds'))]\n"
        "open('count.txt', 'w').write(str(sum(sizes)))\n"
    )
    (repo / ".gitignore").write_text("count.txt\n")
    commit_all(repo, "count")
    (repo / "ds").mkdir()
    for i in range(3):
        (repo / "ds" / f"f{i}.txt").write_text(f"row {i}\n")
    run_roar("run", "-q", "python", "count.py", cwd=repo, env=env)
    lost = repo / "ds" / "f1.txt"
    lost_digest = blake3(lost.read_bytes()).hexdigest()
    lost.unlink()

    missing = run_roar("reproduce", "count.txt", "--run", "-y", "--into", str(tmp_path / "a"),
                       cwd=repo, env=env, check=False)  # fmt: skip
    assert missing.returncode == 1
    assert f"{lost}  blake3:{lost_digest}" in missing.stderr  # the member, by path and hash
    assert "ds/f0.txt" not in missing.stderr  # the members that are here are not named

    lost.write_text("row 1\n")
    into = tmp_path / "b"
    result = run_roar("reproduce", "count.txt", "--run", "-y", "--into", str(into),
                      cwd=repo, env=env)  # fmt: skip
    assert "Sources: 3 placed" in result.stderr
    assert sorted(p.name for p in (into / "ds").iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]
    assert result.stdout.splitlines()[1].startswith("match")


def test_a_package_that_cannot_be_installed_is_named(repo, run_roar, env, tmp_path):
    # a distribution only the recording venv has (no index will ever serve it)
    site = next((tmp_path / "user-venv" / "lib").glob("python*/site-packages"))
    (site / "roar_only_here").mkdir()
    (site / "roar_only_here" / "__init__.py").write_text("FACTOR = 2\n")
    meta = site / "roar_only_here-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: roar_only_here\nVersion: 1.0\n")
    (meta / "RECORD").write_text("roar_only_here/__init__.py,,\n")
    (repo / "use.py").write_text(
        "import roar_only_here\nopen('used.txt', 'w').write(str(roar_only_here.FACTOR))\n"
    )
    (repo / ".gitignore").write_text("used.txt\n")
    commit_all(repo, "use")
    run_roar("run", "-q", "python", "use.py", cwd=repo, env=env)
    into = tmp_path / "repro"

    result = run_roar("reproduce", "used.txt", "--run", "-y", "--into", str(into),
                      cwd=repo, env={**env, "PIP_NO_INDEX": "1"}, check=False)  # fmt: skip

    assert result.returncode == 1
    assert "could not install roar_only_here==1.0" in result.stderr
    assert not (into / "used.txt").exists()  # no step ran
