"""roar reproduce TARGET without --run (issue 16.1): the plan — the latest successful producer of
each artifact the target needs, in dependency order with build steps first, and the source
inputs with whether their bytes are here now. Real `roar run` pipelines in real git repos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from tests.conftest import commit_all, git
from tests.kernel.conftest import jupyter_path, notebook  # noqa: F401  (fixtures)

STEP = """
import os, sys
src, dst = sys.argv[1], sys.argv[2]
open(dst, "w").write(open(src).read() + (sys.argv[3] if len(sys.argv) > 3 else "x") + "\\n")
if os.environ.get("STEP_FAILS"):
    sys.exit(3)
"""

BUILD = """
open("tool.cfg", "w").write("built\\n")
"""


def digest(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def jobs(run_roar, repo: Path) -> list[dict]:
    return run_roar("log", "--json", cwd=repo).json()["jobs"]


@pytest.fixture
def pipeline(repo: Path, run_roar, write_script) -> Path:
    """@B1 then raw.txt → @1 → a.txt → @2 → b.txt → @3 → c.txt."""
    write_script("step.py", STEP)
    write_script("build.py", BUILD)
    (repo / ".gitignore").write_text(".roar/\n*.txt\ntool.cfg\nbackup/\n")
    commit_all(repo, "ignore data")
    (repo / "raw.txt").write_text("raw data\n")
    run_roar("build", "-q", "python", "build.py", cwd=repo)
    run_roar("run", "-q", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    run_roar("run", "-q", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    run_roar("run", "-q", "python", "step.py", "b.txt", "c.txt", cwd=repo)
    return repo


def test_plan_of_a_three_step_pipeline_with_a_build_step(pipeline, run_roar):
    repo = pipeline
    plan = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()
    assert [s["step_ref"] for s in plan["steps"]] == ["@B1", "@1", "@2", "@3"]
    assert [s["command"] for s in plan["steps"]] == [
        "python build.py",
        "python step.py raw.txt a.txt",
        "python step.py a.txt b.txt",
        "python step.py b.txt c.txt",
    ]
    head = git(repo, "rev-parse", "HEAD").strip()
    assert plan["commit"] == head and all(s["git"]["commit"] == head for s in plan["steps"])
    assert all(s["cwd"] == str(repo) for s in plan["steps"])
    assert all("PATH" in s["env_names"] for s in plan["steps"])
    assert plan["target"]["path"] == str(repo / "c.txt")
    assert plan["target"]["hash"] == digest(repo / "c.txt")
    # One source input: the raw data, here now. Intermediates are made by the plan's steps.
    (source,) = plan["sources"]
    assert source == {
        "path": str(repo / "raw.txt"),
        "hash": digest(repo / "raw.txt"),
        "size": len("raw data\n"),
        "composite": False,
        "algorithm": "blake3",
        "present": True,
        "present_at": str(repo / "raw.txt"),
        "labels": {},
    }
    assert plan["session_uid"] == run_roar("status", "--json", cwd=repo).json()["session_uid"]

    text = run_roar("reproduce", "c.txt", cwd=repo)
    out = text.stdout
    assert "Reproduction plan for c.txt" in out and f"Commit: {head}" in out
    order = [out.index(f"{i}. {ref}") for i, ref in enumerate(["@B1", "@1", "@2", "@3"], 1)]
    assert order == sorted(order)
    assert "python step.py b.txt c.txt" in out
    assert "present" in out and digest(repo / "raw.txt")[:12] in out
    assert "roar reproduce c.txt --run" in text.stderr

    run_roar("label", "set", "job", "@2", "phase=train", cwd=repo)
    labelled = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()["steps"]
    assert [s["labels"] for s in labelled] == [{}, {}, {"phase": "train"}, {}]

    # A step's plan is that step and what it needs; no later step, no unrelated one.
    mid = run_roar("reproduce", "@2", "--json", cwd=repo).json()
    assert [s["step_ref"] for s in mid["steps"]] == ["@B1", "@1", "@2"]
    assert mid["target"] is None and mid["target_job"]["step_ref"] == "@2"
    # By hash prefix, the same plan as by path.
    by_hash = run_roar("reproduce", digest(repo / "c.txt")[:10], "--json", cwd=repo).json()
    assert [s["job_uid"] for s in by_hash["steps"]] == [s["job_uid"] for s in plan["steps"]]


def test_a_failed_rerun_is_never_in_the_plan(pipeline, run_roar):
    repo = pipeline
    first_b = next(j for j in jobs(run_roar, repo) if j["step_ref"] == "@2")
    # @2 runs again, writes the very same bytes, then fails: its producer stays the good run.
    failed = run_roar(
        "run", "-q", "python", "step.py", "a.txt", "b.txt",
        cwd=repo, env={"STEP_FAILS": "1"}, check=False,
    )  # fmt: skip
    assert failed.returncode == 3
    newest_b = [j for j in jobs(run_roar, repo) if j["step_ref"] == "@2"]
    assert len(newest_b) == 2 and any(j["exit_code"] == 3 for j in newest_b)
    plan = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()
    (step2,) = [s for s in plan["steps"] if s["step_ref"] == "@2"]
    assert step2["job_uid"] == first_b["job_uid"] and step2["exit_code"] == 0
    assert all(s["exit_code"] == 0 for s in plan["steps"])

    # Bytes that only a failed run made have nothing to reproduce: said so, naming the step.
    run_roar(
        "run", "-q", "python", "step.py", "c.txt", "d.txt",
        cwd=repo, env={"STEP_FAILS": "1"}, check=False,
    )  # fmt: skip
    refused = run_roar("reproduce", "d.txt", cwd=repo, check=False)
    assert refused.returncode == 1
    assert "produced only by failed runs (@4)" in refused.stderr


def test_superseded_runs_are_not_in_the_plan_and_an_old_version_needs_its_old_source(
    pipeline, run_roar
):
    repo = pipeline
    old_c = digest(repo / "c.txt")
    old_raw = digest(repo / "raw.txt")
    old_uids = {j["job_uid"] for j in jobs(run_roar, repo) if j["kind"] == "run"}
    (repo / "raw.txt").write_text("new raw data\n")
    for src, dst in (("raw.txt", "a.txt"), ("a.txt", "b.txt"), ("b.txt", "c.txt")):
        run_roar("run", "-q", "python", "step.py", src, dst, cwd=repo)

    plan = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()
    runs = [s for s in plan["steps"] if s["kind"] == "run"]
    assert [s["step_ref"] for s in runs] == ["@1", "@2", "@3"]
    assert not {s["job_uid"] for s in runs} & old_uids  # only the latest runs
    assert [s["hash"] for s in plan["sources"]] == [digest(repo / "raw.txt")]

    # The earlier c.txt, by its hash: made by the earlier runs, from raw bytes no longer here.
    old = run_roar("reproduce", old_c[:16], "--json", cwd=repo).json()
    assert {s["job_uid"] for s in old["steps"] if s["kind"] == "run"} == old_uids
    (source,) = old["sources"]
    assert source["hash"] == old_raw and source["present"] is False
    assert source["present_at"] is None and source["path"] == str(repo / "raw.txt")
    text = run_roar("reproduce", old_c[:16], cwd=repo)
    assert f"MISSING  {old_raw[:12]}" in text.stdout
    assert "1 source input(s) not found here" in text.stderr


def test_a_missing_source_is_found_where_roar_saw_the_same_bytes(pipeline, run_roar):
    repo = pipeline
    raw = digest(repo / "raw.txt")
    (repo / "backup").mkdir()
    shutil.copy(repo / "raw.txt", repo / "backup" / "raw.txt")
    run_roar("run", "-q", "python", "step.py", "backup/raw.txt", "backup/copy.txt", cwd=repo)
    (repo / "raw.txt").unlink()
    (source,) = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()["sources"]
    assert source["path"] == str(repo / "raw.txt") and source["hash"] == raw
    assert source["present_at"] == str(repo / "backup" / "raw.txt")

    # Gone there too: missing, named by path and hash.
    (repo / "backup" / "raw.txt").unlink()
    (source,) = run_roar("reproduce", "c.txt", "--json", cwd=repo).json()["sources"]
    assert source["present"] is False and source["present_at"] is None


def test_a_session_plan_and_errors_in_the_seeds_words(pipeline, run_roar):
    repo = pipeline
    whole = run_roar("reproduce", "--lineage", "current", "--json", cwd=repo).json()
    assert [s["step_ref"] for s in whole["steps"]] == ["@B1", "@1", "@2", "@3"]
    assert whole["target"] is None and whole["session_uid"]
    same = run_roar("reproduce", whole["session_uid"][:12], "--lineage", "--json", cwd=repo).json()
    assert [s["job_uid"] for s in same["steps"]] == [s["job_uid"] for s in whole["steps"]]

    def error(*args: str) -> str:
        result = run_roar("reproduce", *args, cwd=repo, check=False)
        assert result.returncode == 1 and result.stdout == ""
        return result.stderr

    assert "No artifact found for path: nowhere.txt" in error("nowhere.txt")
    assert "No node @9 in DAG." in error("@9")
    assert "it is a source input, nothing to reproduce" in error("raw.txt")
    assert "at least 8 characters" in error("abcd12")
    assert "No session found for: zzzz" in error("--lineage", "zzzz")


VENV_STEP = """
import sys, alpha_pkg, Zeta_tool
open(sys.argv[2], "w").write(open(sys.argv[1]).read() + alpha_pkg.tag + Zeta_tool.tag)
"""


def _fake_distribution(site: Path, name: str, version: str) -> None:
    (site / name).mkdir()
    (site / name / "__init__.py").write_text(f"tag = '{name}'\n")
    meta = site / f"{name}-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (meta / "RECORD").write_text(f"{name}/__init__.py,,\n")


def test_list_requirements_in_a_project_venv(repo, run_roar, write_script):
    venv = repo / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    _fake_distribution(site, "alpha_pkg", "1.2.3")
    _fake_distribution(site, "Zeta_tool", "0.10.0")
    write_script("vstep.py", VENV_STEP)
    (repo / ".gitignore").write_text(".roar/\n.venv/\n*.txt\n")
    commit_all(repo, "venv")
    (repo / "in.txt").write_text("in\n")
    python = str(venv / "bin" / "python")
    run_roar("run", "-q", python, "vstep.py", "in.txt", "mid.txt", cwd=repo)
    run_roar("run", "-q", python, "vstep.py", "mid.txt", "out.txt", cwd=repo)

    listed = run_roar("reproduce", "out.txt", "--list-requirements", cwd=repo).stdout
    assert listed.splitlines() == ["alpha_pkg==1.2.3", "Zeta_tool==0.10.0"]
    plan = run_roar("reproduce", "out.txt", "--json", cwd=repo).json()
    assert plan["requirements"] == ["alpha_pkg==1.2.3", "Zeta_tool==0.10.0"]
    assert all(
        s["packages"] == {"alpha_pkg": "1.2.3", "Zeta_tool": "0.10.0"} for s in plan["steps"]
    )
    as_json = run_roar("reproduce", "out.txt", "--list-requirements", "--json", cwd=repo).json()
    assert as_json == {"requirements": listed.split()}


def test_a_notebook_artifacts_plan_follows_file_and_variable_edges(notebook, repo, run_roar):  # noqa: F811
    from tests.kernel.conftest import jobs_in  # a real roar kernel, as in tests/kernel

    (repo / ".gitignore").write_text(".roar/\n*.csv\n.ipynb_checkpoints/\n")
    commit_all(repo, "ignore data")
    (repo / "raw.csv").write_text("1\n2\n3\n")
    nb = notebook()
    nb.cell("SCALE = 10")  # @1: a variable, no file
    nb.cell("rows = [int(x) for x in open('raw.csv')]")  # @2: reads the source
    nb.cell("unrelated = 42")  # @3: nothing the output needs
    nb.cell("open('scaled.csv', 'w').write(''.join(f'{r * SCALE}\\n' for r in rows))")  # @4
    cells = {j.step_number: j for j in jobs_in(repo)}
    assert len(cells) == 4 and all(j.kind == "cell" for j in cells.values())

    plan = run_roar("reproduce", "scaled.csv", "--json", cwd=repo).json()
    assert [s["step_ref"] for s in plan["steps"]] == ["@1", "@2", "@4"]  # recorded order
    assert [s["source"] for s in plan["steps"]][0] == "SCALE = 10"
    assert [s["hash"] for s in plan["sources"]] == [digest(repo / "raw.csv")]
    inputs = run_roar("inputs", "scaled.csv", "--json", cwd=repo).json()
    assert [j["step_ref"] for j in inputs["jobs"]] == ["@1", "@2", "@4"]
    assert [Path(i["path"]).name for i in inputs["inputs"]] == ["raw.csv"]
