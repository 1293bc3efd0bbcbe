"""`roar run` starts its two git processes before the recorder's modules import
(roar.record.gitinfo.prefetch), from the directory it runs in: still two git calls, the same
facts recorded, the same clean-tree check."""

from __future__ import annotations

import json

from tests.cli.test_startup import _git_logging_wrapper, _subcommand
from tests.conftest import commit_all, git


def _calls(log):
    return [json.loads(line) for line in log.read_text().splitlines()]


def _dir_of(call: list[str]) -> str:
    return call[call.index("-C") + 1]


def test_run_from_a_subdirectory_asks_git_there_once(repo, run_roar, tmp_path):
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    (sub / "keep.txt").write_text("tracked\n")
    commit_all(repo, "a subdirectory")
    env, log = _git_logging_wrapper(tmp_path)
    run_roar("run", "-q", "true", cwd=sub, env=env)
    calls = _calls(log)
    assert sorted(_subcommand(c) for c in calls) == ["config", "status"]
    assert {_dir_of(c) for c in calls} == {str(sub)}  # started before the recorder knew the root
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert job["git"]["branch"] == git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    assert job["git"]["dirty"] is False


def test_a_change_outside_the_subdirectory_still_stops_the_run(repo, run_roar):
    sub = repo / "src"
    sub.mkdir()
    (sub / "a.txt").write_text("a\n")
    commit_all(repo, "src")
    (repo / "README.md").write_text("changed at the root\n")
    res = run_roar("run", "true", cwd=sub, check=False)
    assert res.returncode != 0
    assert "uncommitted changes" in res.stderr and "README.md" in res.stderr
    res = run_roar("run", "-q", "--allow-dirty", "true", cwd=sub)
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["git"]["dirty"] is True and job["git"]["diff_hash"]


def test_no_prefetch_when_git_dir_is_set(repo, run_roar, tmp_path):
    # GIT_DIR (here absolute, but it may be relative to where git starts): git runs from the
    # repository's root, as the recorder always ran it.
    env, log = _git_logging_wrapper(tmp_path)
    env["GIT_DIR"] = str(repo / ".git")
    sub = repo / "sub"
    sub.mkdir()
    run_roar("run", "-q", "true", cwd=sub, env=env)
    calls = _calls(log)
    assert sorted(_subcommand(c) for c in calls) == ["config", "status"]
    assert {_dir_of(c) for c in calls} == {str(repo)}
