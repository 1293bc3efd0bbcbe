"""The server's pure pieces: finding candidate strings, settings, labels and script names."""

from __future__ import annotations

import logging

from lsp_server import references, render, settings
from lsp_server.lookup import script_of
from roar.store.provenance import JobRef


def texts(text: str, language: str) -> list[str]:
    return [r.text for r in references.scan(text, language)]


def test_candidates_per_language():
    py = 'import os\nx = open("data/a.csv")\ny = os.path.join(base, "model.pkl")\nz = df.head\n'
    assert texts(py, "python") == ["data/a.csv", "model.pkl"]  # strings only: `df.head` is code
    sh = "python train.py --in=data/a.csv https://example.org/x.csv -v\n"
    assert texts(sh, "shellscript") == ["train.py", "data/a.csv"]  # no URL, no option
    md = "See [the model](../out/model.pkl) and `data/b.csv`.\n"
    assert sorted(texts(md, "markdown")) == ["../out/model.pkl", "data/b.csv"]
    assert texts("path: out/m.pkl\nname: plain\n", "yaml") == ["out/m.pkl"]


def test_reference_under_the_cursor_paths_before_hashes():
    line = 'x = "3f2a9c1b0d"  # from 77aa88bb99'
    at_string = references.at(line, 0, 8, "python")
    assert [(r.kind, r.text) for r in at_string] == [("hash", "3f2a9c1b0d")]  # no dot: not a path
    assert [r.text for r in references.at(line, 0, 28, "python")] == ["77aa88bb99"]
    assert references.at("short abc123", 0, 8, "python") == []  # under 8 hex digits


def test_bad_settings_fall_back_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING):
        parsed = settings.parse(
            {"roar": {"pollInterval": "fast", "diagnostics": False, "store": ""}}
        )
    assert parsed == settings.Settings(diagnostics=False)
    assert len(caplog.records) == 1 and "pollInterval" in caplog.text
    assert settings.parse(None) == settings.Settings()


def test_script_and_labels():
    def job(argv: list[str], kind: str = "run", **kw) -> JobRef:
        return JobRef(1, "u", kind, 3, 1, " ".join(argv), argv, "", 0.0, 0.0, 0, None, False, **kw)

    assert script_of(job(["python3", "-u", "train.py", "--lr", "1"])) == "train.py"
    assert script_of(job(["uv", "run", "python", "-m", "pkg.train"])) == "pkg.train"
    assert script_of(job(["./prep.sh", "x"])) == "./prep.sh"
    assert script_of(job(["python", "-c", "print(1)"])) is None
    cell = job([], "cell", notebook_path="nb/analysis.ipynb", execution_count=4)
    assert render.job_label(cell) == "analysis.ipynb [4]"
    assert render.ago(1000.0, now=1000.0 + 2 * 3600 + 5) == "2 h ago"
    assert render.human_size(1536) == "1.5 KiB"  # the CLI's units


def test_console_script_and_tcp_option():
    """`roar-lsp` is installed by `pip install` (make setup) and answers --version/--help."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("roar-lsp")
    cmd = [exe] if exe else [sys.executable, "-m", "lsp_server"]
    out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("roar-lsp ")
    usage = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "--tcp" in usage and "--stdio" in usage
