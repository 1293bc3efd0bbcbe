"""Small pure pieces: masking, overrides, noise filtering, package mapping, staleness."""

from __future__ import annotations

import os

import pytest

from roar.cli.commands.run import apply_overrides
from roar.query.lineage import build_dag
from roar.record.envinfo import MASK, looks_secret, mask_argv, recorded_environment
from roar.record.filters import NoiseFilter, is_code
from roar.record.packages import packages_used
from roar.store.queries import FileView, JobView


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("GITHUB_TOKEN", "x", True),
        ("AWS_SECRET_ACCESS_KEY", "abc", True),
        ("DB_PASSWORD", "pw", True),
        ("WANDB_API_KEY", "0123", True),
        ("SOMETHING", "ghp_" + "a1B" * 10, True),
        ("SOMETHING", "sk-proj-abcdefghijklmnopqrstuv", True),
        ("SOMETHING", "AKIAABCDEFGHIJKLMNOP", True),
        ("HOME", "/root", False),
        ("PATH", "/usr/bin:/bin", False),
        ("EPOCHS", "10", False),
        ("PWD", "/work/project", False),
        ("CUDA_VISIBLE_DEVICES", "0,1", False),
    ],
)
def test_secret_detection(name, value, secret):
    assert looks_secret(name, value) is secret


def test_recorded_environment_masks_and_drops_noise():
    env = recorded_environment(
        {"API_TOKEN": "t0k", "LS_COLORS": "x", "URL": "https://u:pw@host/x", "A": "1"}
    )
    assert env == {"A": "1", "API_TOKEN": MASK, "URL": f"https://u:{MASK}@host/x"}


def test_mask_argv():
    assert mask_argv(["train", "--token", "abc", "--lr=0.1", "--api-key=zzz"]) == [
        "train",
        "--token",
        MASK,
        "--lr=0.1",
        f"--api-key={MASK}",
    ]


def test_apply_overrides():
    argv = ["python", "t.py", "--epochs=1", "--lr", "0.1"]
    assert apply_overrides(list(argv), ["--epochs=5", "--lr=0.2", "--new=x"]) == [
        "python", "t.py", "--epochs=5", "--lr", "0.2", "--new=x"
    ]  # fmt: skip


def test_noise_filter(tmp_path):
    project = str(tmp_path / "proj")
    f = NoiseFilter(project_root=project, home="/home/u")
    assert (
        f.is_noise("/etc/passwd") and f.is_noise("/usr/lib/x.so") and f.is_noise("/proc/self/maps")
    )
    assert f.is_noise(project + "/.git/HEAD") and f.is_noise(project + "/.roar/roar.db")
    assert f.is_noise(project + "/pkg/__pycache__/m.cpython-311.pyc")
    assert f.is_noise("/home/u/.gitconfig") and f.is_noise("/home/u/.cache/torch/x")
    assert f.is_noise("/usr/lib/python3/dist-packages/numpy/__init__.py")
    assert not f.is_noise(project + "/data/train.csv")
    assert not f.is_noise("/home/u/datasets/big.parquet")
    assert not f.is_noise("/mnt/data/shard0.bin")
    # The project itself may live under /tmp or /opt: its files are never noise.
    assert not NoiseFilter(project_root="/tmp/p", home="/h").is_noise("/tmp/p/a.csv")
    assert NoiseFilter(project_root="/tmp/p", home="/h").is_noise("/tmp/other.csv")
    assert not NoiseFilter(project_root="/tmp/p", home="/h", ignore_tmp=False).is_noise(
        "/tmp/other.csv"
    )


def test_is_code():
    assert is_code("/p/train.py") and is_code("/p/run.sh") and is_code("/p/Makefile")
    assert not is_code("/p/data.csv") and not is_code("/p/params.yaml")


def test_packages_used_maps_site_packages_reads(tmp_path):
    site = tmp_path / "lib" / "site-packages"
    (site / "foo").mkdir(parents=True)
    (site / "foo-1.2.3.dist-info").mkdir()
    (site / "foo-1.2.3.dist-info" / "RECORD").write_text(
        "foo/__init__.py,,\nfoo-1.2.3.dist-info/METADATA,,\n"
    )
    (site / "bar-0.1.dist-info").mkdir()
    (site / "bar-0.1.dist-info" / "RECORD").write_text("bar.py,,\n")
    paths = [str(site / "foo" / "__init__.py"), str(site / "bar.py"), "/elsewhere/x.py"]
    assert packages_used(paths, tmp_path / "cache") == {"bar": "0.1", "foo": "1.2.3"}
    assert list((tmp_path / "cache").iterdir()), "the index is cached"
    assert packages_used(paths, tmp_path / "cache") == {"bar": "0.1", "foo": "1.2.3"}


def job(i: int, step: int, t: float, inputs=(), outputs=()) -> JobView:
    return JobView(
        id=i, uid=f"j{i}", session_id=1, kind="run", step_number=step, step_name=None, command=f"c{step}",
        argv=[], cwd="", started_at=t, ended_at=t + 0.5, exit_code=0, interrupted=False, tracer="ptrace",
        git_commit=None, git_branch=None, git_remote=None, git_dirty=False, git_diff_hash=None, metadata={},
        inputs=[FileView(p, d, 1) for p, d in inputs], outputs=[FileView(p, d, 1) for p, d in outputs],
    )  # fmt: skip


def test_dag_dependencies_and_staleness_are_by_content_and_time():
    jobs = [
        job(1, 1, 1.0, [("/raw", "r")], [("/a", "a1")]),
        job(2, 2, 2.0, [("/a", "a1")], [("/b", "b1")]),
        job(3, 3, 3.0, [("/b", "b1")], [("/c", "c1")]),
        job(4, 1, 4.0, [("/raw", "r2")], [("/a", "a2")]),  # step 1 rerun with new bytes
    ]
    dag = build_dag(1, jobs)
    assert {n.job.step_number: n.state for n in dag.nodes} == {1: "active", 2: "stale", 3: "stale"}
    assert {n.job.step_number: n.dependencies for n in dag.nodes} == {1: [], 2: [1], 3: [2]}
    expanded = build_dag(1, jobs, expanded=True)
    # The runs downstream of the replaced /a consumed a superseded input: superseded in the
    # expanded view (as the CLI scripts were written for reports), their steps still stale.
    assert [n.state for n in expanded.nodes] == ["superseded", "superseded", "superseded", "active"]
    assert [n.stale for n in expanded.nodes] == [False, True, True, False]
    assert expanded.stale_steps == [2, 3]
    arts = {a.path: a for a in dag.artifacts}
    assert arts["/c"].is_terminal and arts["/c"].state == "stale"


def test_dag_rerun_with_same_bytes_is_not_stale():
    jobs = [
        job(1, 1, 1.0, [], [("/a", "a1")]),
        job(2, 2, 2.0, [("/a", "a1")], [("/b", "b1")]),
        job(3, 1, 3.0, [], [("/a", "a1")]),
    ]
    assert {n.job.step_number: n.state for n in build_dag(1, jobs).nodes} == {
        1: "active",
        2: "active",
    }


def test_workspace_found_from_subdirectory(tmp_path):
    from roar.workspace import find_workspace

    (tmp_path / ".roar").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_workspace(deep).root == tmp_path
    assert (
        find_workspace(os.path.dirname(tmp_path)) is None
        or find_workspace(os.path.dirname(tmp_path)).root != tmp_path
    )
