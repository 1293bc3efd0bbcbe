"""How roar diff reads a command line (roar.query.diff_params) and small metric files
(roar.query.diff_metrics): pure functions, no store."""

from __future__ import annotations

from roar.query import diff_metrics
from roar.query.diff_params import ParamChange, compare, shape


def changes(a: list[str], b: list[str]) -> list[tuple[str, str | None, str | None, str]]:
    return [(c.name, c.a, c.b, c.change) for c in compare(shape(a), shape(b))]


def test_both_spellings_of_an_option_are_one_parameter():
    assert changes(
        ["python3.11", "train.py", "--lr=0.1", "--epochs", "3"],
        ["/usr/bin/python", "train.py", "--lr", "0.01", "--epochs=3"],
    ) == [("--lr", "0.1", "0.01", "changed")]


def test_the_script_is_the_program_and_interpreter_options_are_not_parameters():
    s = shape(["python", "-u", "-X", "importtime", "./src/train.py", "data.csv"])
    assert s.program == "python src/train.py" and s.params == {"#1": "data.csv"}
    assert shape(["python", "-m", "pkg.train", "--fast"]).program == "python -m pkg.train"
    assert changes(["python", "a.py"], ["python", "b.py"]) == [
        ("program", "python a.py", "python b.py", "changed")
    ]


def test_hydra_assignments_flags_negative_numbers_and_repeats():
    s = shape(["python", "t.py", "model.lr=0.1", "--verbose", "--shift", "-3", "--tag", "a",
               "--tag", "b", "--", "--not-an-option"])  # fmt: skip
    assert s.params == {
        "model.lr": "0.1", "--verbose": None, "--shift": "-3", "--tag": "a b",
        "#1": "--not-an-option",
    }  # fmt: skip
    assert changes(["python", "t.py", "--verbose"], ["python", "t.py"]) == [
        ("--verbose", None, None, "removed")
    ]


def test_positionals_naming_the_jobs_files_are_left_to_the_inputs():
    a, b = shape(["cp", "v1/x.txt", "out"]), shape(["cp", "v2/x.txt", "out"])
    assert compare(a, b) == [ParamChange("argument 1", "v1/x.txt", "v2/x.txt", "changed")]
    assert compare(a, b, lambda v: v.endswith(".txt"), lambda v: v.endswith(".txt")) == []


def test_metrics_json_csv_and_yaml_flatten_and_compare():
    j = diff_metrics.compare(
        "m.json", b'{"eval": {"acc": 0.8, "n": 10}, "name": "x"}',
        "m.json", b'{"eval": {"acc": 0.9, "n": 10}, "name": "y"}',
    )  # fmt: skip
    assert j is not None
    assert [(c.key, c.a, c.b) for c in j.changes] == [("eval.acc", 0.8, 0.9), ("name", "x", "y")]
    assert round(j.changes[0].delta or 0, 6) == 0.1 and j.changes[1].delta is None
    rows = diff_metrics.compare(
        "r.csv", b"split,acc\ntrain,0.9\ntest,0.7\n", "r.csv", b"split,acc\ntrain,0.9\ntest,0.75\n"
    )
    assert rows is not None and [(c.key, c.b) for c in rows.changes] == [("test.acc", 0.75)]
    y = diff_metrics.compare("p.yaml", b"loss: 1.5\n", "p.yaml", b"loss: 1.25\n")
    assert y is not None and y.changes[0].delta == -0.25
    # Not metrics: no numbers, or not parseable.
    assert diff_metrics.compare("a.json", b'{"a": "x"}', "b.json", b'{"a": "y"}') is None
    assert diff_metrics.compare("a.json", b"{oops", "b.json", b"{oops!") is None
    assert not diff_metrics.looks_like_metrics("big.json", diff_metrics.MAX_BYTES + 1)
