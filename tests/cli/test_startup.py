"""A lean start-up: what `roar --version`, `roar --help` and `roar run -q true` import and spawn.

Real processes, nothing timed (the speed targets live in benchmarks/bench_run.py, measured
against baselines of the same run). Each check reads ``python -X importtime``'s list of the
modules a command imported, minus those the bare interpreter (``python -c pass``) already
imports in this environment, and looks for modules the command has no use for.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import roar
from roar.cli import commands
from tests.conftest import ROAR, git

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[2]

# Modules no start-up path below may import, and why they are heavy.
HEAVY = {
    "sqlalchemy": "the schema's models (~100 ms to import): only migrations and tests need them",
    "importlib.metadata": "scans every installed distribution: its cost grows with the env",
    "email": "importlib.metadata's METADATA parser",
    "tomlkit": "the comment-keeping TOML editor: only `roar config set` / `roar env set`",
    "roar.store.queries": "the history commands' reads: roar run writes, it does not query",
}

# And what `roar --version` and `roar --help` need none of (besides HEAVY).
NOT_FOR_THE_SHELL = {
    "roar.cli.commands.": "a command's module loads only when that command runs",
    "roar.record.recorder": "recording, with the store, tracers and git",
    "roar.tracing": "the tracer drivers",
    "sqlite3": "the store",
    "subprocess": "git and the tracers",
    "dataclasses": "builds classes by compiling code, and imports inspect",
    "argparse": "the help is written from the COMMANDS table (roar.cli.main.help_text)",
    "re": "argparse's and textwrap's: with enum and functools ~25 M instructions",
    "collections": "~7 M instructions: roar.cli.main takes Sequence only for type checkers",
}


# What the console script pip writes for `roar` does (less its `re` for a Windows suffix).
ENTRY_POINT = "import sys; from roar.cli.main import main; sys.exit(main())"


def imported_modules(args: list[str], cwd: Path) -> set[str]:
    """The modules ``python -X importtime ARGS`` imported that ``python -c pass`` does not."""

    def modules(argv: list[str]) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", *argv],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return {
            line.split("|")[2].strip()
            for line in proc.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2
        } - {"imported package"}

    if args[:2] == ["-m", "roar"]:
        # As the `roar` script runs: `python -m` would first import runpy (importlib.util,
        # contextlib, collections…), which the script never does, hiding roar's own imports.
        args = ["-c", ENTRY_POINT, *args[2:]]
    found = modules(args)
    assert "roar" in found or args[:2] == ["-c", "pass"], "importtime output not understood"
    return found - modules(["-c", "pass"])


def among(modules: set[str], listed: dict[str, str]) -> dict[str, str]:
    """The ``listed`` entries (with why they are listed) that ``modules`` holds: a name ending
    in "." stands for its submodules, any other for itself and its submodules."""
    return {
        name: why
        for name, why in listed.items()
        if any(
            m == name or m.startswith(name if name.endswith(".") else name + ".") for m in modules
        )
    }


def test_version_is_the_installed_distributions_and_cargos():
    # roar.__version__ is a constant so that no command asks importlib.metadata; maturin gives
    # the wheel Cargo's workspace version. An editable install's metadata is from install time:
    # after bumping the version, reinstall (pip install -e .) before running this.
    assert roar.__version__ == importlib.metadata.version("roar")
    cargo = REPO_ROOT / "Cargo.toml"
    if cargo.exists():
        workspace = tomllib.loads(cargo.read_text())["workspace"]["package"]
        assert roar.__version__ == workspace["version"]


def test_version_prints_the_installed_version_and_imports_no_command(tmp_path):
    proc = subprocess.run([*ROAR, "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout == f"roar {importlib.metadata.version('roar')}\n"
    modules = imported_modules(["-m", "roar", "--version"], tmp_path)
    assert among(modules, {**HEAVY, **NOT_FOR_THE_SHELL}) == {}


@pytest.mark.parametrize("args", [["--help"], ["-h", "run"]])
def test_top_level_help_lists_every_command(tmp_path, args):
    # `roar run ...` builds no parser for the other commands; asked before a command, -h is
    # still the top-level help with all of them.
    proc = subprocess.run([*ROAR, *args], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0
    listed = " ".join(proc.stdout.split())  # argparse wraps long help lines
    for name, (_module, _attr, help_text) in commands.COMMANDS.items():
        assert f"{name} {' '.join(help_text.split())}" in listed


def test_help_imports_no_command(tmp_path):
    modules = imported_modules(["-m", "roar", "--help"], tmp_path)
    assert among(modules, {**HEAVY, **NOT_FOR_THE_SHELL}) == {}


def test_help_without_argparse_is_argparses_help(monkeypatch):
    # `roar --help` writes argparse's layout itself; where that copy would not be exact it
    # gives None and argparse writes the help. Every width from 1 to 250 columns: the same text.
    from roar.cli.main import build_parser, help_text

    written = []
    for columns in range(1, 251):
        monkeypatch.setenv("COLUMNS", str(columns))
        text = help_text()
        if text is not None:
            assert text == build_parser().format_help(), f"COLUMNS={columns}"
            written.append(columns)
    assert written == list(range(min(written), 251)) and min(written) <= 60


def test_roar_alone_prints_the_help_to_stderr_and_exits_2(tmp_path):
    proc = subprocess.run([*ROAR], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: roar [-h] [--version] COMMAND ...\n")
    assert "positional arguments:" in proc.stderr
    narrow = subprocess.run(  # too narrow for the copy: argparse's own help, the same way
        [*ROAR, "--help"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "30"},
    )  # fmt: skip
    assert narrow.returncode == 0 and narrow.stdout.startswith("usage: roar [-h] [--version]")
    assert "COMMAND" in narrow.stdout and "telemetry" in narrow.stdout


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_command_table_help_is_the_modules_own(name):
    # `roar --help` shows the table's text without importing the modules; `roar NAME --help`
    # and the command list of a parser built for NAME show the module's. They must agree.
    sub = argparse.ArgumentParser(prog="roar").add_subparsers()
    commands.load(name).add_parser(sub)
    (action,) = [a for a in sub._choices_actions if a.dest == name]
    assert action.help == commands.COMMANDS[name][2]


def test_run_imports_only_what_recording_needs(repo, run_roar):
    run_roar("run", "-q", "true", cwd=repo)  # the first run after a config change parses it
    modules = imported_modules(["-m", "roar", "run", "-q", "true"], repo)
    assert among(modules, HEAVY) == {}
    # The parsed configuration is kept, keyed by the file's text: no TOML parser to import.
    assert among(modules, {"tomllib": "", "tomli": ""}) == {}
    # Modules whose import costs a `roar run` tens of milliseconds, with what it uses instead.
    costly = {
        "dataclasses": "roar.records builds the run path's record classes without compiling",
        "inspect": "imported by dataclasses",
        "platform": "compiles a dozen regular expressions at import: os.uname() and sys.version",
        "socket": "builds its enums at import: the eBPF service check uses _socket",
        "argparse": "`roar run [plain options] CMD` is read by run.parse_quick (with its re "
        "patterns, gettext and locale, ~18 M instructions)",
        "gettext": "argparse's",
        "typing": "~14 M instructions at import: annotations only, under TYPE_CHECKING",
        "signal": "builds its enums at import (~3 M instructions): _signal has the same calls",
        "tempfile": "with random, shutil, bz2 and lzma ~13 M instructions: roar.ray.session "
        "makes its folder with os.mkdir",
        "shutil": "imports bz2 and lzma",
    }
    # (A host's .pth start-up hooks may import some of these in `python -c pass` already;
    # imported_modules leaves those out, so there the check is weaker, not wrong.)
    assert among(modules, costly) == {}
    other_commands = {
        m for m in modules if m.startswith("roar.cli.commands.") and m != "roar.cli.commands.run"
    }
    assert other_commands == set()


def _git_logging_wrapper(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a `git` in front that logs each call's arguments and runs the real git."""
    real = shutil.which("git")
    assert real
    bin_dir, log = tmp_path / "bin", tmp_path / "git-calls.jsonl"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def _subcommand(argv: list[str]) -> str:
    """`git -C DIR status ...` → status."""
    i = 0
    while argv[i].startswith("-"):
        i += 2 if argv[i] in ("-C", "-c") else 1
    return argv[i]


def test_run_asks_git_once_and_records_every_git_fact(repo, run_roar, tmp_path):
    url = "https://example.invalid/project.git"
    git(repo, "remote", "add", "origin", url)
    env, log = _git_logging_wrapper(tmp_path)
    run_roar("run", "-q", "true", cwd=repo, env=env)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # One `git status` (the clean-tree check, also giving commit and branch) and the origin
    # URL looked up beside it; nothing per file, nothing after the command.
    assert sorted(_subcommand(c) for c in calls) == ["config", "status"]

    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["git"] == {
        "commit": git(repo, "rev-parse", "HEAD").strip(),
        "branch": git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip(),
        "remote": url,
        "dirty": False,
        "diff_hash": None,
    }
    assert {"env", "env_injected", "host", "packages", "hashing"} <= set(job["metadata"])
    assert job["metadata"]["host"]["python"] and job["metadata"]["host"]["os"]["system"]


def test_run_leaves_the_git_index_alone(repo, run_roar):
    # A tracked file touched (same bytes, new mtime) makes a plain `git status` refresh the
    # index and rewrite it under .git/index.lock, where a user's git command at that moment
    # would fail. roar's git calls take no optional lock, so the index stays as it was.
    readme = repo / "README.md"
    os.utime(readme, ns=(readme.stat().st_atime_ns, readme.stat().st_mtime_ns + 5_000_000_000))
    index = repo / ".git" / "index"
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    run_roar("run", "-q", "true", cwd=repo)
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    git(repo, "status")  # and a plain git status would have rewritten it: the test can fail
    assert index.stat().st_mtime_ns != before[1]


def test_run_on_a_detached_head_records_branch_head(repo, run_roar):
    git(repo, "checkout", "-q", "--detach")
    run_roar("run", "-q", "true", cwd=repo)
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["git"]["branch"] == "HEAD"
    assert job["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert job["git"]["remote"] is None


def test_the_kept_configuration_follows_the_files_text(repo, run_roar):
    config = repo / ".roar" / "config.toml"
    config.write_text('[hash]\nprimary = "sha256"\n')
    assert run_roar("config", "get", "hash.primary", cwd=repo).stdout.split()[-1] == "sha256"
    # Same size, same modification time, other text: only the text can tell them apart.
    before = config.stat()
    config.write_text('[hash]\nprimary = "blake3"\n')
    os.utime(config, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert config.stat().st_size == before.st_size
    assert run_roar("config", "get", "hash.primary", cwd=repo).stdout.split()[-1] == "blake3"
    config.write_text("[hash\n")
    res = run_roar("config", "get", "hash.primary", cwd=repo, check=False)
    assert res.returncode == 1 and "Cannot read" in res.stderr


def test_run_exits_at_once_only_as_the_program(repo, run_roar):
    # As the program, `roar run` ends without the interpreter's finalization (os._exit after
    # flushing its streams): same exit code, nothing it printed lost. A caller's main(argv)
    # gets the code back and goes on.
    proc = run_roar("run", "sh", "-c", "exit 3", cwd=repo, check=False)
    assert proc.returncode == 3
    assert "Exit code: 3" in proc.stdout + proc.stderr
    code = (
        "import sys; from roar.cli.main import main;"
        "rc = main(['run', '-q', 'sh', '-c', 'exit 4']); print('returned', rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert out.stdout.strip() == "returned 4", out.stderr
