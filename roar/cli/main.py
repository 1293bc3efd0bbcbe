"""`roar` entry point: parse, dispatch to one command module, map errors to exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from roar.cli.commands import COMMANDS
from roar.cli.console import Console
from roar.errors import RoarError


def build_parser() -> argparse.ArgumentParser:
    from roar import __version__

    parser = argparse.ArgumentParser(
        prog="roar",
        description="Run Observation & Artifact Registration: put `roar run` in front of a command "
        "and roar records what it read and wrote.",
    )
    parser.add_argument("--version", action="version", version=f"roar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    console = Console(color=False if getattr(args, "no_color", False) else None)
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
