"""roar diff A B: two real pipelines recorded by roar run, compared through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pydot
import pytest

from tests.conftest import commit_all

PREP = """
import os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
open(dst, "w").write(open(src).read().upper())
"""

TRAIN = """
import argparse, json, os
p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("model")
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--epochs", type=int, default=3)
a = p.parse_args()
text = open(a.data).read()
os.makedirs(os.path.dirname(a.model) or ".", exist_ok=True)
open(a.model, "w").write(f"model of {len(text)} bytes, lr={a.lr}\\n")
metrics = {"eval": {"accuracy": round(0.9 - a.lr, 4), "loss": len(text)}, "epochs": a.epochs}
with open(os.path.join(os.path.dirname(a.model) or ".", "metrics.json"), "w") as fh:
    json.dump(metrics, fh)
"""

NOISY = """
import os, sys
open(sys.argv[2], "w").write(open(sys.argv[1]).read() + os.urandom(8).hex() + "\\n")
"""


@pytest.fixture
def scripts(write_script):
    write_script("prep.py", PREP)
    write_script("train.py", TRAIN)
    write_script("noisy.py", NOISY)


def pipeline(run_roar, repo: Path, out: str, *train_args: str, raw: str = "raw.csv", env=None):
    run_roar("run", "-q", "python", "prep.py", raw, f"{out}/clean.csv", cwd=repo, env=env)
    run_roar(
        "run", "-q", "python", "train.py", f"{out}/clean.csv", f"{out}/model.bin", *train_args,
        cwd=repo, env=env,
    )  # fmt: skip


def diff_json(run_roar, repo: Path, a: str, b: str) -> dict:
    return run_roar("diff", a, b, "--json", cwd=repo).json()


def test_only_the_raw_data_changed_names_the_input_first(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1")
    (repo / "raw.csv").write_text("a,b\n1,2\n3,4\n")  # untracked data, edited in place
    pipeline(run_roar, repo, "v2")

    data = diff_json(run_roar, repo, "v1/model.bin", "v2/model.bin")
    assert data["identical"] is False
    assert data["most_likely_cause"]["category"] == "inputs"
    assert "raw.csv" in data["most_likely_cause"]["summary"]
    [changed] = data["inputs"]
    assert changed["change"] == "changed" and changed["path_a"] == str(repo / "raw.csv")
    assert changed["hash_a"] != changed["hash_b"] and (changed["step_a"], changed["step_b"]) == (
        "@1", "@3",
    )  # fmt: skip
    # Nothing else is offered as a cause: same commit, same parameters, same environment.
    assert [c["category"] for c in data["causes"]] == ["inputs"]
    assert data["parameters"] == [] and data["code"] == [] and data["environment"] == []
    # The clean data (made from it) is a consequence, and the first step to diverge is prep.
    assert data["first_divergence"]["step_a"] == "@1"
    assert any(o["path_a"].endswith("v1/clean.csv") for o in data["outputs"])

    text = run_roar("diff", "v1/model.bin", "v2/model.bin", cwd=repo).stdout
    assert text.splitlines()[3].startswith("Most likely cause: input raw.csv changed")
    assert "Inputs (source data):" in text


def test_only_the_learning_rate_changed_names_the_hyperparameter(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1", "--lr=0.1")
    pipeline(run_roar, repo, "v2", "--lr", "0.01")  # the other spelling of the same option

    data = diff_json(run_roar, repo, "v1/model.bin", "v2/model.bin")
    assert data["most_likely_cause"]["category"] == "parameters"
    # One change named --lr: not an "--lr=0.1 removed" and an "--lr added", and the output
    # paths (v1/… against v2/…) are not parameters: they name the files compared below.
    assert data["parameters"] == [
        {"name": "--lr", "a": "0.1", "b": "0.01", "change": "changed", "step_a": "@2",
         "step_b": "@4"}
    ]  # fmt: skip
    assert data["inputs"] == []
    assert data["first_divergence"] == {
        "step_a": "@2", "step_b": "@4",
        "job_uid_a": data["a"]["job_uid"], "job_uid_b": data["b"]["job_uid"],
    }  # fmt: skip
    assert data["a"]["kind"] == "artifact" and data["a"]["step_ref"] == "@2"

    text = run_roar("diff", "v1/model.bin", "v2/model.bin", cwd=repo).stdout
    assert "Most likely cause: parameter --lr of @2/@4: 0.1 → 0.01" in text
    # Jobs compare the same way.
    assert diff_json(run_roar, repo, "@2", "@4")["parameters"][0]["name"] == "--lr"


def test_metrics_are_shown_side_by_side(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1", "--lr=0.1")
    pipeline(run_roar, repo, "v2", "--lr=0.3")

    data = diff_json(run_roar, repo, "v1/model.bin", "v2/model.bin")
    [metrics] = data["metrics"]
    assert metrics["path_a"] == str(repo / "v1/metrics.json")
    assert metrics["unavailable"] == []
    # Nested keys flattened with dots; only changed values; numbers stay numbers.
    assert metrics["changes"] == [
        {"key": "eval.accuracy", "a": 0.8, "b": 0.6, "delta": pytest.approx(-0.2)}
    ]
    text = run_roar("diff", "v1/model.bin", "v2/model.bin", cwd=repo).stdout
    block = text[text.index("Metrics: v1/metrics.json → v2/metrics.json") :].splitlines()
    assert block[1].split() == ["key", "A", "B", "change"]
    assert block[2].split() == ["eval.accuracy", "0.8", "0.6", "-0.2"]

    # The metrics files themselves compare the same way (a JSON target).
    direct = diff_json(run_roar, repo, "v1/metrics.json", "v2/metrics.json")
    assert direct["metrics"][0]["changes"][0]["key"] == "eval.accuracy"


def _fake_site(root: Path, version: str) -> Path:
    """A site-packages folder holding one distribution, ``mypkg`` at ``version``."""
    site = root / f"env-{version}" / "lib" / "python3" / "site-packages"
    (site / "mypkg").mkdir(parents=True)
    (site / "mypkg" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    dist = site / f"mypkg-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mypkg\nVersion: {version}\n")
    (dist / "RECORD").write_text("mypkg/__init__.py,,\n")
    return site


def test_a_package_version_change_is_reported(repo, run_roar, write_script, tmp_path):
    write_script("use.py", "import sys, mypkg\nopen(sys.argv[2], 'w').write(mypkg.VERSION)\n")
    (repo / "in.txt").write_text("x\n")
    old, new = _fake_site(tmp_path, "1.0"), _fake_site(tmp_path, "2.0")
    run_roar(
        "run", "-q", "python", "use.py", "in.txt", "a.txt", cwd=repo, env={"PYTHONPATH": str(old)}
    )
    run_roar(
        "run", "-q", "python", "use.py", "in.txt", "b.txt", cwd=repo, env={"PYTHONPATH": str(new)}
    )

    data = diff_json(run_roar, repo, "a.txt", "b.txt")
    assert [p for p in data["packages"] if p["name"] == "mypkg"] == [
        {"name": "mypkg", "change": "changed", "a": "1.0", "b": "2.0", "steps": []}
    ]
    # The variable that switched environments is named, its value is not shown anywhere.
    assert {"name": "PYTHONPATH", "change": "changed",
            "steps": [{"step_a": "@1", "step_b": "@2"}]} in data["environment"]  # fmt: skip
    text = run_roar("diff", "a.txt", "b.txt", cwd=repo).stdout
    assert "mypkg: 1.0 → 2.0" in text and "PYTHONPATH changed" in text
    assert str(old) not in text and str(old) not in json.dumps(data)


def test_session_against_session_shows_the_added_step(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "out")
    first = run_roar("session", "list", "--json", cwd=repo).json()
    run_roar("reset", "-y", cwd=repo)
    pipeline(run_roar, repo, "out", "--epochs", "5")
    run_roar("run", "-q", "python", "noisy.py", "out/model.bin", "out/extra.txt", cwd=repo)

    old_uid = first["sessions"][0]["session_uid"]
    data = diff_json(run_roar, repo, f"session:{old_uid[:8]}", "session:current")
    assert data["a"]["kind"] == data["b"]["kind"] == "session"
    assert data["a"]["session_uid"] == old_uid and data["b"]["session_uid"] != old_uid
    assert [p["step_a"] for p in data["pairs"]] == ["@1", "@2"]
    assert data["structure"]["only_in_a"] == []
    [extra] = data["structure"]["only_in_b"]
    assert extra["step_ref"] == "@3" and "noisy.py" in extra["command"]
    assert [(p["name"], p["a"], p["b"]) for p in data["parameters"]] == [("--epochs", None, "5")]
    assert data["parameters"][0]["change"] == "added"
    cats = [c["category"] for c in data["causes"]]
    assert cats.index("parameters") < cats.index("structure")
    text = run_roar("diff", f"session:{old_uid[:8]}", "session:current", cwd=repo).stdout
    assert "only in B: @3" in text


def test_identical_lineages_say_so(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1")
    result = run_roar("diff", "v1/model.bin", "@2", "--exit-code", cwd=repo)
    assert result.returncode == 0
    assert "The two lineages are identical (2 steps compared)." in result.stdout
    data = diff_json(run_roar, repo, "v1/model.bin", "v1/model.bin")
    assert data["identical"] is True and data["causes"] == [] and data["most_likely_cause"] is None


def test_a_non_deterministic_step_is_called_so(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    run_roar("run", "-q", "python", "noisy.py", "raw.csv", "n.txt", cwd=repo)
    first = blake_of(repo / "n.txt")
    run_roar("run", "-q", "python", "noisy.py", "raw.csv", "n.txt", cwd=repo)  # a rerun of @1
    data = diff_json(run_roar, repo, first[:12], "n.txt")
    assert data["causes"][0]["category"] == "nondeterminism"
    assert data["nondeterministic"][0]["step_a"] == "@1"
    assert data["first_divergence"]["step_a"] == data["first_divergence"]["step_b"] == "@1"
    # Differences exist: --exit-code says so; without it a comparison that worked exits 0.
    assert (
        run_roar("diff", first[:12], "n.txt", "--exit-code", cwd=repo, check=False).returncode == 1
    )
    assert run_roar("diff", first[:12], "n.txt", cwd=repo).returncode == 0


def blake_of(path: Path) -> str:
    import blake3

    return blake3.blake3(path.read_bytes()).hexdigest()


def test_a_code_change_names_the_commits_and_the_script(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1")
    before = run_roar("show", "@2", "--json", cwd=repo).json()["git"]["commit"]
    train = repo / "train.py"
    train.write_text(train.read_text().replace("0.9 - a.lr", "0.95 - a.lr"))
    commit_all(repo, "better model")
    pipeline(run_roar, repo, "v2")

    # The model's bytes are the same (the change touched the metrics only): compare those.
    data = diff_json(run_roar, repo, "v1/metrics.json", "v2/metrics.json")
    assert data["most_likely_cause"]["category"] == "code"
    [code] = data["code"]
    assert code["commit_a"] == before and code["commit_b"] != before
    # Committed with the data (commit_all adds everything): the script is the code named.
    assert "train.py" in code["files"] and code["named_files"] == ["train.py"]
    assert "train.py" in data["most_likely_cause"]["summary"]


def test_format_dag_draws_both_lineages_and_marks_what_differs(repo, run_roar, scripts, tmp_path):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1", "--lr=0.1")
    pipeline(run_roar, repo, "v2", "--lr=0.2")
    dot = run_roar("diff", "v1/model.bin", "v2/model.bin", "--format", "dag", cwd=repo).stdout
    [graph] = pydot.graph_from_dot_data(dot)
    clusters = {s.get_name(): s for s in graph.get_subgraphs()}
    assert set(clusters) == {"cluster_a", "cluster_b"}

    def nodes(cluster):
        return {n.get_name().strip('"'): n for n in clusters[cluster].get_nodes()}

    a, b = nodes("cluster_a"), nodes("cluster_b")
    marked_a = {k for k, n in a.items() if (n.get("class") or "").strip('"') == "differs"}
    # The training step and what it wrote differ; the prep step and its files do not.
    train_a = [k for k in a if k.startswith("a-job-") and "train.py" in a[k].get("label")]
    prep_a = [k for k in a if k.startswith("a-job-") and "prep.py" in a[k].get("label")]
    assert train_a and train_a[0] in marked_a and prep_a and prep_a[0] not in marked_a
    assert "[differs: --lr]" in a[train_a[0]].get("label")  # what differs, in the node
    model_a = next(k for k in a if "model.bin" in (a[k].get("label") or ""))
    raw_a = next(k for k in a if "raw.csv" in (a[k].get("label") or ""))
    assert model_a in marked_a and raw_a not in marked_a
    assert any((n.get("class") or "").strip('"') == "differs" for n in b.values())

    svg = tmp_path / "diff.svg"
    run_roar("diff", "v1/model.bin", "v2/model.bin", "--format", "dag", "-o", str(svg), cwd=repo)
    assert (
        svg.read_text().lstrip().startswith("<?xml") and 'class="node differs"' in svg.read_text()
    )


def test_unknown_targets_are_errors_with_a_hint(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1")
    missing = run_roar("diff", "v1/model.bin", "nope/model.bin", cwd=repo, check=False)
    assert missing.returncode == 1
    assert "No artifact found for path: nope/model.bin" in missing.stderr
    step = run_roar("diff", "@1", "@9", cwd=repo, check=False)
    assert step.returncode == 1 and "No node @9 in DAG." in step.stderr
    both = run_roar("diff", "@1", "@2", "--json", "--format", "dag", cwd=repo, check=False)
    assert both.returncode == 1 and "choose one" in both.stderr


def test_a_step_both_lineages_share_pairs_with_itself(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    pipeline(run_roar, repo, "v1")
    # The cleaned data against the model made from it: the prep job is in both lineages.
    data = diff_json(run_roar, repo, "v1/clean.csv", "v1/model.bin")
    [shared] = data["pairs"]
    assert shared["job_uid_a"] == shared["job_uid_b"] and shared["step_a"] == "@1"
    assert [j["step_ref"] for j in data["structure"]["only_in_b"]] == ["@2"]
    assert data["most_likely_cause"] == {
        "category": "structure", "summary": "step @2 only in B: " + data["structure"]["only_in_b"][0]["command"],
    }  # fmt: skip


READ_DIR = """
import os, sys
d, out = sys.argv[1], sys.argv[2]
open(out, "w").write("".join(open(os.path.join(d, n)).read() for n in sorted(os.listdir(d))))
"""


def test_a_dataset_directory_names_the_member_that_changed(repo, run_roar, write_script):
    write_script("readdir.py", READ_DIR)
    for version in ("ds1", "ds2"):
        (repo / version).mkdir()
        for i in range(3):
            (repo / version / f"part{i}.csv").write_text(f"row {i}\n")
    (repo / "ds2" / "part1.csv").write_text("row 1, edited\n")
    (repo / "ds2" / "part3.csv").write_text("row 3\n")
    run_roar("run", "-q", "python", "readdir.py", "ds1", "c1.txt", cwd=repo)
    run_roar("run", "-q", "python", "readdir.py", "ds2", "c2.txt", cwd=repo)

    data = diff_json(run_roar, repo, "c1.txt", "c2.txt")
    [changed] = data["inputs"]  # the directory, read whole: one composite artifact per side
    assert (changed["path_a"], changed["path_b"]) == (str(repo / "ds1"), str(repo / "ds2"))
    assert changed["members"] == [
        {"relpath": "part1.csv", "change": "changed"}, {"relpath": "part3.csv", "change": "added"},
    ]  # fmt: skip
    assert "part1.csv changed, part3.csv added" in data["most_likely_cause"]["summary"]


def test_the_tracer_and_a_variable_differ_and_nothing_else(repo, run_roar, scripts):
    (repo / "raw.csv").write_text("a,b\n1,2\n")
    run_roar(
        "run", "-q", "--tracer", "ptrace", "python", "prep.py", "raw.csv", "a/clean.csv", cwd=repo
    )
    run_roar(
        "run", "-q", "--tracer", "preload", "python", "prep.py", "raw.csv", "b/clean.csv",
        cwd=repo, env={"ROAR_TEST_SEED": "s3cr3t-value"},
    )  # fmt: skip
    data = diff_json(run_roar, repo, "@1", "@2")
    assert data["tracer"] == [
        {"name": "tracer", "change": "changed", "a": "ptrace", "b": "preload",
         "steps": [{"step_a": "@1", "step_b": "@2"}]}
    ]  # fmt: skip
    assert data["environment"] == [
        {"name": "ROAR_TEST_SEED", "change": "added", "steps": [{"step_a": "@1", "step_b": "@2"}]}
    ]
    assert [c["category"] for c in data["causes"]] == ["environment", "tracer"]
    # Same bytes out: the outputs are not a difference, and the value is never shown.
    assert data["outputs"] == [] and data["nondeterministic"] == []
    text = run_roar("diff", "@1", "@2", cwd=repo).stdout
    assert "ptrace → preload (@1/@2)" in text and "s3cr3t" not in text
