"""`roar` entry point: parse, dispatch to one command module, map errors to exit codes."""

from __future__ import annotations

import gc
import os
import sys

from roar import __version__
from roar.cli import commands
from roar.cli.console import Console
from roar.errors import RoarError
from roar.telemetry import hook as telemetry_hook

TYPE_CHECKING = False  # argparse is imported when a parser is built (not for --version/--help)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence  # collections itself is ~7 M instructions to import
    from typing import Any

DESCRIPTION = (
    "Run Observation & Artifact Registration: put `roar run` in front of a command "
    "and roar records what it read and wrote."
)


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    class Parser(argparse.ArgumentParser):
        """argparse's parser, with the help width found without importing shutil.

        argparse makes a help formatter for every ``add_argument`` (to check the metavar), and
        the formatter asks ``shutil.get_terminal_size``: importing shutil (with bz2, lzma and
        zlib) was ~10 % of a ``roar run``'s start-up. Sub-parsers are made of the same class."""

        def _get_formatter(self) -> argparse.HelpFormatter:
            # Every argparse formatter takes width; typeshed's protocol names only prog.
            return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]

    return Parser


def _help_width() -> int:
    """What argparse's formatter would use: ``shutil.get_terminal_size().columns - 2``."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def build_parser(only: str | None = None, *, list_all: bool = True) -> argparse.ArgumentParser:
    """The parser. Only ``only``'s module is imported and its sub-parser built; every other
    command is listed with its help text from the ``COMMANDS`` table (so ``roar --help`` and
    ``roar --version`` import no command module at all), or with ``list_all=False`` left out."""
    parser = _parser_class()(
        prog="roar",
        description=DESCRIPTION,
    )
    parser.add_argument("--version", action="version", version=f"roar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, _attr, help_text) in commands.COMMANDS.items():
        if name == only:
            commands.load(name).add_parser(sub)
        elif list_all:  # listed in --help, loaded only when used
            sub.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list == ["--version"]:  # what argparse's version action prints, without argparse
        print(f"roar {__version__}")
        return 0
    if args_list in (["--help"], ["-h"], []):
        # argparse's help, without argparse (and re, enum, gettext, textwrap) when it can be
        # written here exactly (help_text); `roar` alone prints it to stderr and exits 2.
        text = help_text()
        if text is not None:
            (sys.stdout if args_list else sys.stderr).write(text)
            return 0 if args_list else 2
    first = next((i for i, a in enumerate(args_list) if not a.startswith("-")), len(args_list))
    chosen = args_list[first] if first < len(args_list) else None
    # The imports below make long-lived objects (modules, classes, functions), no garbage: the
    # collector, run every few hundred allocations, only walked them (~9 M instructions of a
    # `roar run`). It is on again before the command runs, if it was on.
    collecting = gc.isenabled()
    gc.disable()
    try:
        args = _parse_quick(chosen, args_list) if first == 0 else None
        if args is not None and argv is None:
            _prefetch_git()
        if args is None:
            if chosen in commands.COMMANDS:
                # The list of commands shows only in the top-level help, asked for before a
                # command (`roar -h run`); after it, `-h` is the command's own, so `roar run
                # ...` skips it.
                parser = build_parser(chosen, list_all=first > 0)
            else:
                parser = build_parser()
    finally:
        # What the imports built lives until the process exits. Frozen, the garbage collector
        # no longer walks it, during the command nor in the interpreter's final collections,
        # which took ~25 ms of a `roar run` (benchmarks/README.md).
        gc.freeze()
        if collecting:
            gc.enable()
    if args is None:
        args = parser.parse_args(args_list)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    console = Console(color=False if getattr(args, "no_color", False) else None)
    if argv is None and getattr(args, "exit_at_once", False):
        from roar.store.connection import leave_open_at_exit

        leave_open_at_exit()  # the store's connection ends with the process (os._exit)
    code = dispatch(args, console)
    telemetry_hook.count(args, code)  # env/config check, else one line appended (<1 ms)
    if argv is None and getattr(args, "exit_at_once", False):
        _exit_at_once(code)
    return code


def _parse_quick(chosen: str | None, args_list: list[str]) -> Any:
    """`roar run|build [plain options] COMMAND...` parsed without argparse (see
    roar.cli.commands.run.parse_quick), or None: then argparse parses, as before."""
    if chosen not in ("run", "build"):
        return None
    from roar.cli.commands import run

    return run.parse_quick(chosen, args_list[1:])


def _prefetch_git() -> None:
    """Start `roar run`'s git processes before the recorder's modules import (see
    roar.record.gitinfo.prefetch). Only as the program: a caller's main(argv) may change
    directory before it records."""
    from roar.record import gitinfo

    try:
        cwd = os.path.abspath(os.getcwd())
    except OSError:  # the directory is gone: the command says so
        return
    try:
        gitinfo.prefetch(cwd)
    except OSError:  # no git on PATH: the recorder says so, as before
        pass


# ------------------------------------------------------------------ `roar --help` without argparse

_USAGE = "usage: roar [-h] [--version] COMMAND ..."
_OPTIONS = (
    ("-h, --help", "show this help message and exit"),
    ("--version", "show program's version number and exit"),
)


def help_text() -> str | None:
    """What ``build_parser().format_help()`` returns, or None where this copy of argparse's
    layout (Python 3.11's HelpFormatter: usage, description, the command list, options) would
    not be exact: a narrow terminal (argparse then wraps the usage line and breaks long words)
    or help text with what textwrap treats specially (an inner hyphen, ``%``, tabs, non-ASCII).
    tests/cli/test_startup.py compares the two at every width from 1 to 250 columns."""
    width = _help_width()  # the formatter's width, as Parser._get_formatter gives it
    rows = [(name, text) for name, (_m, _a, text) in commands.COMMANDS.items()]
    texts = [DESCRIPTION, *(t for _, t in rows), *(t for _, t in _OPTIONS)]
    if len(_USAGE) > width or not all(_plain(t) for t in texts):
        return None
    # argparse's column for help text: the longest invocation at the sections' indent (2;
    # it measures the indented command names at that indent too), capped.
    longest = max(len("COMMAND"), *(len(n) for n, _ in rows), *(len(o) for o, _ in _OPTIONS))
    position = min(longest + 2 + 2, min(24, max(width - 20, 4)))
    description = _wrap(DESCRIPTION, max(width, 11))
    commands_part = _actions(rows, 4, position, width)
    options_part = _actions(list(_OPTIONS), 2, position, width)
    if description is None or commands_part is None or options_part is None:
        return None
    return (
        f"{_USAGE}\n\n"
        + "".join(f"{line}\n" for line in description)
        + "\npositional arguments:\n  COMMAND\n"
        + commands_part
        + "\noptions:\n"
        + options_part
    )


def _plain(text: str) -> bool:
    """Text whose wrapping is a plain greedy fill of space-separated words in textwrap."""
    return (
        text.isascii()
        and text.isprintable()
        and "%" not in text
        and "  " not in text
        and text == text.strip()
        and not any("-" in word.lstrip("-") for word in text.split(" "))
    )


def _wrap(text: str, width: int) -> list[str] | None:
    """textwrap.wrap(text, width) for plain text (None when a word is longer than a line)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if len(word) > width:
            return None
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line]


def _actions(rows: list[tuple[str, str]], indent: int, position: int, width: int) -> str | None:
    """argparse's HelpFormatter._format_action for each (invocation, help) row."""
    out = []
    room = position - indent - 2
    for header, text in rows:
        lines = _wrap(text, max(width - position, 11))
        if lines is None:
            return None
        if len(header) <= room:
            out.append(" " * indent + header.ljust(room) + "  " + lines[0] + "\n")
        else:
            out.append(" " * indent + header + "\n" + " " * position + lines[0] + "\n")
        out += [" " * position + line + "\n" for line in lines[1:]]
    return "".join(out)


def _exit_at_once(code: int) -> None:
    """End the process now, skipping the interpreter's finalization.

    Tearing down every imported module took ~15 ms of a ``roar run`` (a sixth of its fixed
    cost), after the work was done. Only commands that opt in (``exit_at_once``: run, build)
    and only as the program itself (``argv`` None, not a caller's ``main(argv)``) leave this
    way: they close their files before returning and leave no threads or atexit handlers
    behind; the store's connection, committed with synchronous=FULL, is left to end with the
    process (roar.store.connection.leave_open_at_exit); the standard streams are flushed here.
    The exit code is the same.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`roar run ... | head`): nothing to add
            pass
    os._exit(code)


def dispatch(args: argparse.Namespace, console: Console) -> int:
    """Run a parsed command, turning roar's errors into a message and an exit code."""
    try:
        return int(args.handler(args, console) or 0)
    except RoarError as exc:
        console.error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        console.err("Aborted.")
        return 130
    except BrokenPipeError:  # `roar log | head`
        return 0
    except FileNotFoundError:
        if _cwd_exists():
            raise
        console.error(
            "The current directory no longer exists (it was deleted or moved away).",
            "cd into the project again (for example `cd $PWD`, or `cd ..`), then run the "
            "command again.",
        )
        return 1


def _cwd_exists() -> bool:
    try:
        os.getcwd()
    except FileNotFoundError:
        return False
    return True
