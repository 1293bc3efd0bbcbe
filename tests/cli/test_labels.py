"""roar label (issue 16.4): set, unset, cp, show and history on a DAG, a job and an artifact of a
real recorded pipeline; typed values; every change a version; labels in show, log and --json."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import commit_all


@pytest.fixture
def pipeline(repo: Path, run_roar, copy_step) -> Path:
    """raw.txt → @1 → a.txt → @2 → b.txt, recorded."""
    copy_step()
    (repo / ".gitignore").write_text("*.txt\n")
    commit_all(repo)
    (repo / "raw.txt").write_text("raw\n")
    run_roar("run", "python", "step.py", "raw.txt", "a.txt", cwd=repo)
    run_roar("run", "python", "step.py", "a.txt", "b.txt", cwd=repo)
    return repo


def show(run_roar, repo: Path, *target: str) -> dict:
    return run_roar("label", "show", *target, "--json", cwd=repo).json()


def test_set_on_each_kind_of_entity_keeps_types_and_nests_dotted_keys(pipeline, run_roar):
    repo = pipeline
    run_roar("label", "set", "dag", "current", "owner=alice", "team=ml", cwd=repo)
    run_roar("label", "set", "job", "@2", "phase=train", "lr=0.001", "epochs=3", "lr_decay=1e-3",
             "shuffle=true", "run_id=007", "tag=v2", cwd=repo)  # fmt: skip
    out = run_roar("label", "set", "artifact", "./b.txt", "model.name=resnet50",
                   "model.layers=50", "stage=baseline", cwd=repo)  # fmt: skip
    assert out.stdout.strip() == "model.name=resnet50 model.layers=50 stage=baseline"
    assert "version 1" in out.stderr

    dag = show(run_roar, repo, "dag", "current")
    assert dag["labels"] == {"owner": "alice", "team": "ml"} and dag["version"] == 1
    session_uid = run_roar("show", "--json", cwd=repo).json()["session_uid"]
    assert dag["entity"] == {"kind": "dag", "session_uid": session_uid}

    job = show(run_roar, repo, "job", "@2")
    assert job["labels"] == {"phase": "train", "lr": 0.001, "epochs": 3, "lr_decay": 0.001,
                             "shuffle": True, "run_id": "007", "tag": "v2"}  # fmt: skip
    assert type(job["labels"]["epochs"]) is int and type(job["labels"]["lr"]) is float
    job_uid = job["entity"]["job_uid"]
    assert job["entity"]["step_ref"] == "@2"
    assert show(run_roar, repo, "job", job_uid)["labels"] == job["labels"]  # by uid too

    art = show(run_roar, repo, "artifact", "b.txt")
    assert art["labels"] == {"model": {"name": "resnet50", "layers": 50}, "stage": "baseline"}
    assert art["entity"]["path"] == str(repo / "b.txt")
    by_hash = show(run_roar, repo, "artifact", art["entity"]["hash"][:12])
    assert by_hash["labels"] == art["labels"]  # labels belong to the content

    text = run_roar("label", "show", "artifact", "b.txt", cwd=repo).stdout
    assert "  model.name = resnet50\n" in text and "  model.layers = 50\n" in text
    # Another session's entity is not this one's: a job of the first session keeps its labels.
    assert show(run_roar, repo, "job", "@1")["labels"] == {}
    assert show(run_roar, repo, "job", "@1")["version"] == 0


def test_history_lists_every_version_across_three_changes(pipeline, run_roar):
    repo = pipeline
    run_roar("label", "set", "artifact", "b.txt", "stage=baseline", "acc=0.71", cwd=repo)
    run_roar("label", "set", "artifact", "b.txt", "stage=candidate", "acc=0.78", cwd=repo)
    again = run_roar("label", "set", "artifact", "b.txt", "acc=0.78", cwd=repo)  # no change
    assert "unchanged" in again.stderr
    run_roar("label", "unset", "artifact", "b.txt", "stage", cwd=repo)

    hist = run_roar("label", "history", "artifact", "b.txt", "--json", cwd=repo).json()
    versions = hist["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["operation"] for v in versions] == ["set", "set", "unset"]
    assert [v["labels"] for v in versions] == [
        {"stage": "baseline", "acc": 0.71},
        {"stage": "candidate", "acc": 0.78},
        {"acc": 0.78},
    ]
    assert versions[1]["change"] == {"set": {"stage": "candidate", "acc": 0.78}}
    assert versions[2]["change"] == {"unset": ["stage"]}
    assert all(v["created_at"].endswith("+00:00") for v in versions)
    assert show(run_roar, repo, "artifact", "b.txt") == {
        "entity": hist["entity"], "version": 3, "labels": {"acc": 0.78}
    }  # fmt: skip

    text = run_roar("label", "history", "artifact", "b.txt", cwd=repo).stdout
    assert "(3 versions)" in text
    lines = [ln.split() for ln in text.splitlines() if ln.startswith("  v")]
    assert [(ln[0], ln[3]) for ln in lines] == [("v1", "set"), ("v2", "set"), ("v3", "unset")]


def test_cp_merges_and_unset_removes_keys_and_groups(pipeline, run_roar):
    repo = pipeline
    run_roar("label", "set", "job", "@2", "phase=train", "lr=0.001", "opt.name=adam", cwd=repo)
    run_roar("label", "set", "artifact", "b.txt", "stage=baseline", "phase=eval", cwd=repo)
    run_roar("label", "cp", "job", "@2", "artifact", "./b.txt", cwd=repo)
    art = show(run_roar, repo, "artifact", "b.txt")
    assert art["labels"] == {
        "stage": "baseline",
        "phase": "train",
        "lr": 0.001,
        "opt": {"name": "adam"},
    }  # fmt: skip: the source's values win
    change = run_roar("label", "history", "artifact", "b.txt", "--json", cwd=repo).json()
    assert change["versions"][-1]["operation"] == "cp"
    assert change["versions"][-1]["change"]["cp"]["from"]["step_ref"] == "@2"

    run_roar("label", "unset", "artifact", "b.txt", "opt", "lr", cwd=repo)  # a whole group
    assert show(run_roar, repo, "artifact", "b.txt")["labels"] == {"stage": "baseline",
                                                                   "phase": "train"}  # fmt: skip
    run_roar("label", "set", "job", "@1", "a.b.c=1", "a.b.d=2", cwd=repo)
    run_roar("label", "unset", "job", "@1", "a.b.c", cwd=repo)
    assert show(run_roar, repo, "job", "@1")["labels"] == {"a": {"b": {"d": 2}}}
    run_roar("label", "unset", "job", "@1", "a.b.d", cwd=repo)  # empty groups go too
    assert show(run_roar, repo, "job", "@1")["labels"] == {}

    missing = run_roar("label", "unset", "artifact", "b.txt", "nope", cwd=repo, check=False)
    assert missing.returncode == 1 and "No label 'nope'" in missing.stderr
    assert show(run_roar, repo, "artifact", "b.txt")["version"] == 3  # set, cp, unset: no more


def test_labels_show_in_show_log_and_every_json_job_and_artifact(pipeline, run_roar):
    repo = pipeline
    run_roar("label", "set", "job", "@1", "phase=prep", "rows=2", cwd=repo)
    run_roar("label", "set", "artifact", "a.txt", "split=train", cwd=repo)
    run_roar("label", "set", "dag", "current", "owner=alice", cwd=repo)
    job_labels, art_labels = {"phase": "prep", "rows": 2}, {"split": "train"}

    assert "Labels:      phase=prep rows=2" in run_roar("show", "@1", cwd=repo).stdout
    assert "Labels:      " not in run_roar("show", "@2", cwd=repo).stdout
    assert "Labels:   split=train" in run_roar("show", "a.txt", cwd=repo).stdout
    assert "Labels:  owner=alice" in run_roar("show", cwd=repo).stdout
    log = run_roar("log", cwd=repo).stdout.splitlines()
    at = next(i for i, ln in enumerate(log) if " @1 " in ln)
    assert log[at + 1].split() == ["labels:", "phase=prep", "rows=2"]

    def get(*args: str) -> dict:
        return run_roar(*args, "--json", cwd=repo).json()

    session = get("show")
    assert session["labels"] == {"owner": "alice"}
    jobs = {
        "log": get("log")["jobs"],
        "show": session["jobs"],
        "show @1": [get("show", "@1")],
        "lineage": get("lineage", "b.txt")["jobs"],
        "session show": get("session", "show")["nodes"],
        "dag": get("dag")["nodes"],
        "status": get("status")["nodes"],
        "show a.txt": get("show", "a.txt")["produced_by"],
    }
    for view, objects in jobs.items():
        by_step = {j["step_ref"]: j["labels"] for j in objects}
        assert by_step["@1"] == job_labels, view
        assert by_step.get("@2", {}) == {}, view
    lineage = get("lineage", "b.txt")
    artifacts = {
        "show a.txt": [get("show", "a.txt")["artifact"]],
        "lineage": lineage["artifacts"],
        "session show": get("session", "show")["artifacts"],
        "dag": get("dag", "--show-artifacts")["artifacts"],
        "status": get("status")["artifacts"],
    }
    for view, objects in artifacts.items():
        by_name = {Path(a["path"]).name: a["labels"] for a in objects}
        assert by_name["a.txt"] == art_labels, view
        assert all(v == {} for k, v in by_name.items() if k != "a.txt"), view
    assert {Path(a["path"]).name: a["labels"] for a in lineage["artifacts"]}["a.txt"] == art_labels
    assert lineage["artifact"]["labels"] == {}  # b.txt: none


def test_wrong_targets_and_items_are_errors_with_what_to_do(pipeline, run_roar):
    repo = pipeline

    def fails(*args: str) -> str:
        result = run_roar("label", *args, cwd=repo, check=False)
        assert result.returncode != 0, args
        return result.stderr

    assert "No node @9 in DAG" in fails("set", "job", "@9", "a=1")
    assert "No artifact found for path: ./nowhere.txt" in fails("show", "artifact", "./nowhere.txt")
    assert "Expected KEY=VALUE, got 'phase'" in fails("set", "job", "@1", "phase")
    assert "Invalid label key 'a..b'" in fails("set", "job", "@1", "a..b=1")
    run_roar("label", "set", "job", "@1", "model=x", cwd=repo)
    assert "holds a value, not a group" in fails("set", "job", "@1", "model.name=y")
    assert "invalid choice" in fails("show", "step", "@1")
    assert "GLaaS server not configured." in fails("sync")
    assert "has no labels to copy" in fails("cp", "job", "@2", "artifact", "a.txt")
    assert show(run_roar, repo, "job", "@1")["labels"] == {"model": "x"}  # nothing half-written


def test_a_step_names_its_latest_run_and_a_build_step_its_own(pipeline, run_roar):
    """@N labels the step's latest job (as roar show @N names it); the earlier run keeps its own
    labels under its uid; @B1 is the build step, not @1."""
    repo = pipeline
    run_roar("label", "set", "job", "@1", "run=first", cwd=repo)
    first_uid = show(run_roar, repo, "job", "@1")["entity"]["job_uid"]
    (repo / "raw.txt").write_text("raw, again\n")
    run_roar("run", "@1", cwd=repo)  # a rerun of step 1: a new job
    latest = show(run_roar, repo, "job", "@1")
    assert latest["entity"]["job_uid"] != first_uid
    assert (
        latest["entity"]["job_uid"] == run_roar("show", "@1", "--json", cwd=repo).json()["job_uid"]
    )
    assert latest["labels"] == {}
    assert show(run_roar, repo, "job", first_uid)["labels"] == {"run": "first"}

    run_roar("build", "python", "-c", "open('tool.txt', 'w').write('t')", cwd=repo)
    run_roar("label", "set", "job", "@B1", "kind=build", cwd=repo)
    build = show(run_roar, repo, "job", "@B1")
    assert build["entity"]["step_ref"] == "@B1" and build["labels"] == {"kind": "build"}
    assert show(run_roar, repo, "job", "@1")["labels"] == {}


def test_roar_run_imports_nothing_label_related(pipeline, run_roar):
    """Labels cost `roar run` nothing: with labels in the store, a run imports no label module
    (the start-up budget of tests/cli/test_startup.py)."""
    from tests.cli.test_startup import imported_modules

    repo = pipeline
    run_roar("label", "set", "job", "@1", "phase=prep", cwd=repo)
    run_roar("run", "-q", "true", cwd=repo)  # the first run after a config change parses it
    modules = imported_modules(["-m", "roar", "run", "-q", "true"], repo)
    assert {"roar.record.recorder", "roar.store.writer"} <= modules  # the run path was seen
    assert {m for m in modules if "label" in m} == set()
