"""roar init [-y|-n]: create `.roar/` (store + config) next to `.git/`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from roar import config as config_mod
from roar.cli.console import Console
from roar.errors import NotGitRepoError
from roar.store.connection import connect
from roar.workspace import ROAR_DIR, Workspace, find_git_root

GITIGNORE_LINE = ".roar/"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="Initialize roar in this git repository")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "-y", "--yes", action="store_true", help="add .roar/ to .gitignore without asking"
    )
    group.add_argument("-n", "--no", action="store_true", help="leave .gitignore alone")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, console: Console) -> int:
    repo = find_git_root()
    if repo is None:
        raise NotGitRepoError()
    ws = Workspace(repo)
    if ws.roar_dir.is_dir() and ws.db_path.exists():
        console.err(f".roar directory already exists at {ws.roar_dir}")
    else:
        ws.roar_dir.mkdir(exist_ok=True)
        if not ws.config_path.exists():
            ws.config_path.write_text(config_mod.TEMPLATE, encoding="utf-8")
        connect(ws.db_path).close()  # creates the schema
        console.err(f"Created {ws.roar_dir}")
        console.err("roar records file hashes, commands, and dependency metadata.")
        console.err("It does not upload file contents anywhere.")
    _gitignore(repo, args, console)
    return 0


def _gitignore(repo: Path, args: argparse.Namespace, console: Console) -> None:
    path = repo / ".gitignore"
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(line.strip().rstrip("/") in (ROAR_DIR, "/" + ROAR_DIR) for line in lines):
            console.err(".roar is already in .gitignore. Done.")
            return
        if args.no or not (args.yes or console.confirm("Add .roar/ to .gitignore?", default=True)):
            console.err("Left .gitignore unchanged. Done.")
            return
        with path.open("a", encoding="utf-8") as fh:
            if lines and not path.read_text(encoding="utf-8", errors="replace").endswith("\n"):
                fh.write("\n")
            fh.write(GITIGNORE_LINE + "\n")
        console.err("Added .roar/ to .gitignore. Done.")
        console.err(
            "hint: commit .gitignore before your next 'roar run' (it refuses modified tracked files)."
        )
        return
    if args.no:
        console.err("No .gitignore found; left it that way. Done.")
        return
    path.write_text(GITIGNORE_LINE + "\n", encoding="utf-8")
    console.err(f"Created {os.path.relpath(path)} with .roar/ in it. Done.")
