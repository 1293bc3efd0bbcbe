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
SELF_IGNORE = "# created by roar init: git ignores the whole folder\n*\n"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="Initialize roar in this git repository")
    group = p.add_mutually_exclusive_group()
    # -y and -n are kept for scripts written for earlier roars, which asked whether to edit
    # .gitignore: `.roar/` now ignores itself, so there is nothing left to ask.
    group.add_argument("-y", "--yes", action="store_true", help="do not ask (nothing to ask)")
    group.add_argument("-n", "--no", action="store_true", help="leave .gitignore alone (default)")
    group.add_argument(
        "--gitignore", action="store_true", help="also add .roar/ to the project's .gitignore"
    )
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
    _ignore_itself(ws.roar_dir)
    if args.gitignore:
        _add_to_gitignore(repo, console)
    else:
        console.err(".roar/ ignores itself (.roar/.gitignore); your .gitignore is unchanged. Done.")
    return 0


def _ignore_itself(roar_dir: Path) -> None:
    """`.roar/.gitignore` holding `*`, as virtualenvs and pytest's cache do: git never sees the
    store, and the user's committed .gitignore stays as it is (roar run needs a clean tree)."""
    path = roar_dir / ".gitignore"
    if not path.exists():
        path.write_text(SELF_IGNORE, encoding="utf-8")


def _add_to_gitignore(repo: Path, console: Console) -> None:
    path = repo / ".gitignore"
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    if any(line.strip().rstrip("/") in (ROAR_DIR, "/" + ROAR_DIR) for line in text.splitlines()):
        console.err(".roar is already in .gitignore. Done.")
        return
    with path.open("a", encoding="utf-8") as fh:
        if text and not text.endswith("\n"):
            fh.write("\n")
        fh.write(GITIGNORE_LINE + "\n")
    console.err(f"Added .roar/ to {os.path.relpath(path)}. Done.")
    console.err(
        "hint: commit .gitignore before your next 'roar run' (it refuses modified tracked files)."
    )
