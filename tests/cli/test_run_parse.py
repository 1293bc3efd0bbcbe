"""`roar run` / `roar build` options read without argparse (roar.cli.commands.run.parse_quick)
must mean exactly what argparse makes of them, and anything else must go to argparse."""

from __future__ import annotations

import contextlib
import io
import itertools

import pytest

from roar.cli.commands.run import parse_quick
from roar.cli.main import build_parser

OPTIONS = [
    [],
    ["-q"],
    ["--quiet"],
    ["-n", "step one"],
    ["--name", "x"],
    ["--name=x=y"],
    ["--name="],
    ["--hash", "sha256"],
    ["--hash=blake3"],
    ["--allow-dirty"],
    ["--tracer", "preload"],
    ["--tracer=ptrace"],
    # argparse's own business: parse_quick leaves these to it
    ["-h"],
    ["--qu"],
    ["--allow"],
    ["-qn", "x"],
    ["-nx"],
    ["-n=x"],
    ["--quiet=1"],
    ["--name", "-x"],
    ["--name", "-1"],
    ["--"],
    ["-"],
    ["--bogus"],
    ["-n"],
]
COMMANDS = [[], ["true"], ["python", "-c", "pass", "--name", "x"], ["@3", "--lr=0.1"], ["-x"]]


def argparse_reading(kind: str, argv: list[str]) -> dict | None:
    """What argparse makes of `roar KIND ARGV...` (None: it refused them, or printed help)."""
    parser = build_parser(kind, list_all=False)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return vars(parser.parse_args([kind, *argv]))
        except SystemExit:
            return None


@pytest.mark.parametrize("kind", ["run", "build"])
def test_quick_reading_is_argparses(kind):
    quick_read = 0
    for first, second, command in itertools.product(OPTIONS, OPTIONS[:12], COMMANDS):
        argv = [*first, *second, *command]
        quick = parse_quick(kind, argv)
        expected = argparse_reading(kind, argv)
        if quick is not None:
            quick_read += 1
            assert vars(quick) == expected, argv
    # the plain spellings followed by a command are read without argparse
    assert quick_read >= 12 * 12 * 3
    assert parse_quick(kind, ["-q", "--tracer", "ptrace", "true", "-q"]) is not None


def test_what_quick_leaves_to_argparse():
    for argv in (["-h", "true"], ["--qu", "true"], ["--", "true"], ["-q"], [], ["-n", "x"]):
        assert parse_quick("run", argv) is None, argv


def test_run_via_the_quick_reading_records_the_options(repo, run_roar):
    proc = run_roar("run", "-q", "--name", "first step", "--tracer=preload", "sh", "-c",
                    "exit 3", "-q", cwd=repo, check=False)  # fmt: skip
    assert proc.returncode == 3 and proc.stdout == "" and proc.stderr == ""
    job = run_roar("show", "@1", "--json", cwd=repo).json()
    assert job["command"] == "sh -c 'exit 3' -q"
    assert job["step_name"] == "first step"
    assert job["tracer"] == "preload"
