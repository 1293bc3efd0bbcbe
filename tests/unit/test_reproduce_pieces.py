"""The small pure pieces of `roar reproduce --run`: moving recorded paths and arguments into the
worktree, the requirement set and its conflicts, naming the package an installer could not get,
and the verification verdicts. (End to end: tests/cli/test_reproduce_run.py.)"""

from __future__ import annotations

from pathlib import Path

from roar.reproduce import environment, verify
from roar.reproduce.placement import PathMap
from roar.reproduce.plan import PlanStep, ReproPlan
from roar.store.views import JobView


def job(step: int, packages: dict[str, str] | None = None) -> JobView:
    return JobView(
        id=step, uid=f"u{step}", session_id=1, kind="run", step_number=step, step_name=None,
        command="python x.py", argv=["python", "x.py"], cwd="", started_at=float(step),
        ended_at=float(step), exit_code=0, interrupted=False, tracer="ebpf", git_commit="c",
        git_branch="main", git_remote=None, git_dirty=False, git_diff_hash=None,
        metadata={"packages": {"pip": packages or {}}},
    )  # fmt: skip


def test_paths_and_arguments_under_the_project_move_into_the_worktree():
    paths = PathMap(("/home/u/proj",), "/tmp/wt")
    assert paths.map("/home/u/proj/data/raw.csv") == "/tmp/wt/data/raw.csv"
    assert paths.map("/home/u/proj") == "/tmp/wt"
    assert paths.map("/data/shared/raw.csv") == "/data/shared/raw.csv"  # outside: stays
    assert paths.map("/home/u/proj2/x") == "/home/u/proj2/x"  # a sibling is not inside
    assert paths.arg("--data=/home/u/proj/data/raw.csv") == "--data=/tmp/wt/data/raw.csv"
    assert paths.arg("/home/u/proj") == "/tmp/wt"
    assert paths.arg("/home/u/project/x") == "/home/u/project/x"
    assert paths.arg("--lr=0.1") == "--lr=0.1"


def test_path_map_knows_the_root_by_its_real_path_too(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    paths = PathMap.of(link, Path("/tmp/wt"))
    assert paths.map(str(real / "a.csv")) == "/tmp/wt/a.csv"
    assert paths.map(str(link / "a.csv")) == "/tmp/wt/a.csv"


def test_requirements_are_the_union_and_a_later_step_wins_a_conflict():
    plan = ReproPlan(
        None,
        steps=[
            PlanStep(job(1), packages={"numpy": "1.26.0", "Foo_Bar": "1.0"}),
            PlanStep(job(2), packages={"numpy": "2.0.0", "pandas": "2.2.0"}),
            PlanStep(job(3), packages={"foo-bar": "1.0", "myproj": "0.1"}),
        ],
    )
    reqs = environment.requirements(plan, exclude={"MyProj"})
    assert reqs.lines() == ["foo-bar==1.0", "numpy==2.0.0", "pandas==2.2.0"]
    assert reqs.conflicts == ["numpy: 1.26.0 (@1) vs 2.0.0 (@2)"]


def test_the_venv_key_depends_on_the_requirement_set_only():
    assert environment.venv_key(["a==1", "b==2"]) == environment.venv_key(["a==1", "b==2"])
    assert environment.venv_key(["a==1"]) != environment.venv_key(["a==2"])


def test_the_package_the_installer_could_not_get_is_named():
    pip_output = (
        "ERROR: Could not find a version that satisfies the requirement torch==9.9 "
        "(from versions: none)\nERROR: No matching distribution found for torch==9.9\n"
    )
    assert environment.failing_packages(pip_output, ["numpy==1.0", "torch==9.9"]) == ["torch==9.9"]
    uv_output = (
        "  × No solution found when resolving dependencies:\n  ╰─▶ Because foo was not found"
    )
    assert environment.failing_packages(uv_output, ["Foo==1.0"]) == ["Foo==1.0"]
    assert environment.failing_packages("network is unreachable", ["a==1"]) == []


def test_verdicts_and_the_first_divergence():
    rows = [
        verify.Row("/p/a", "/w/a", "@1", "aa", "aa"),
        verify.Row("/p/b", "/w/b", "@2", "bb", "xx"),
        verify.Row("/p/c", "/w/c", "@3", "cc", None, is_target=True),
    ]
    assert [r.status for r in rows] == ["match", "differs", "missing"]
    assert verify.first_divergence(rows) == "@2"
    assert verify.first_divergence(rows[:1]) is None
    lines = verify.table(rows)
    assert lines[0].split() == ["STATUS", "STEP", "EXPECTED", "GOT", "PATH"]
    assert lines[3].startswith("missing") and lines[3].endswith("/w/c  (target)")
