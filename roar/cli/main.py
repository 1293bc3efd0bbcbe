"""`roar` entry point: parse, dispatch to one command module, map errors to exit codes."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from roar import __version__
from roar.cli import commands
from roar.cli.console import Console
from roar.errors import RoarError
from roar.telemetry import hook as telemetry_hook

TYPE_CHECKING = False  # argparse is imported when a parser is built (not for --version)
if TYPE_CHECKING:
    import argparse


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
        description="Run Observation & Artifact Registration: put `roar run` in front of a command "
        "and roar records what it read and wrote.",
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
    first = next((i for i, a in enumerate(args_list) if not a.startswith("-")), len(args_list))
    chosen = args_list[first] if first < len(args_list) else None
    if chosen in commands.COMMANDS:
        # The list of commands shows only in the top-level help, asked for before a command
        # (`roar -h run`); after it, `-h` is the command's own, so `roar run ...` skips the list.
        parser = build_parser(chosen, list_all=first > 0)
    else:
        parser = build_parser()
    # What the imports built (modules, classes, functions) lives until the process exits. Frozen,
    # the garbage collector no longer walks it, during the command nor in the interpreter's
    # final collections, which took ~25 ms of a `roar run` (benchmarks/README.md).
    gc.freeze()
    args = parser.parse_args(args_list)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    console = Console(color=False if getattr(args, "no_color", False) else None)
    code = dispatch(args, console)
    telemetry_hook.count(args, code)  # env/config check, else one line appended (<1 ms)
    if argv is None and getattr(args, "exit_at_once", False):
        _exit_at_once(code)
    return code


def _exit_at_once(code: int) -> None:
    """End the process now, skipping the interpreter's finalization.

    Tearing down every imported module took ~15 ms of a ``roar run`` (a sixth of its fixed
    cost), after the work was done. Only commands that opt in (``exit_at_once``: run, build)
    and only as the program itself (``argv`` None, not a caller's ``main(argv)``) leave this
    way: they close their files and the store before returning and leave no threads or atexit
    handlers behind; the standard streams are flushed here. The exit code is the same.
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
