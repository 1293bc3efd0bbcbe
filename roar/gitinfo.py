"""Git state for a job, from a handful of git calls (never one per file)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_PATHSPEC_CHUNK = 2000  # keep argv far below the kernel's limit


@dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    remote: str | None


def _git(repo: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=check,
    )


def modified_tracked_files(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes (untracked files do not count)."""
    return _status(repo)[2]


def snapshot(repo: Path) -> tuple[GitState, list[str]]:
    """Commit, branch, origin URL and the modified tracked files (as ``modified_tracked_files``).

    One ``git status`` answers all but the URL, which a second git process looks up side by
    side with it: `roar run` pays for one git call before its command starts and none after.
    """
    remote = subprocess.Popen(
        ["git", "-C", str(repo), "config", "--get", "remote.origin.url"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    commit, branch, modified = _status(repo)
    url, _ = remote.communicate()
    return GitState(commit, branch, url.decode().strip() or None), modified


def _status(repo: Path) -> tuple[str | None, str | None, list[str]]:
    """(commit, branch, modified tracked files) from ``git status --porcelain=v2 --branch``.

    Commit and branch are what ``git rev-parse HEAD --abbrev-ref HEAD`` gives: both None before
    the first commit, branch "HEAD" when detached. Each modified file is "XY path" with the
    status letters of ``git status --short`` (v2 writes "." where --short writes a space).
    """
    out = _git(
        repo, "status", "--porcelain=v2", "--branch", "--no-ahead-behind", "-z",
        "--untracked-files=no",
    ).stdout  # fmt: skip
    commit = branch = None
    files: list[str] = []
    entries = iter(out.decode("utf-8", "backslashreplace").split("\0"))
    for entry in entries:
        kind = entry[:2]
        if entry.startswith("# branch.oid "):
            commit = entry[13:]
        elif entry.startswith("# branch.head "):
            branch = entry[14:]
        elif kind in _FIELDS_BEFORE_PATH:
            fields = entry.split(" ", _FIELDS_BEFORE_PATH[kind])
            if len(fields) > _FIELDS_BEFORE_PATH[kind]:
                files.append(f"{fields[1].replace('.', ' ').strip() or '?'} {fields[-1]}")
            if kind == "2 ":
                next(entries, None)  # the source name of a rename/copy record
    if commit == "(initial)":  # no commit yet: rev-parse HEAD fails, so neither is known
        return None, None, files
    return commit, "HEAD" if branch == "(detached)" else branch, files


# Space-separated fields before the path in each kind of ``--porcelain=v2`` record:
# changed, renamed or copied (followed by the source name), unmerged.
_FIELDS_BEFORE_PATH = {"1 ": 8, "2 ": 9, "u ": 10}


def capture_state(repo: Path) -> GitState:
    """Commit, branch and origin URL, with two git processes running side by side."""
    head = subprocess.Popen(
        ["git", "-C", str(repo), "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    remote = _git(repo, "config", "--get", "remote.origin.url").stdout.decode().strip() or None
    out, _ = head.communicate()
    lines = out.decode().split()
    commit = lines[0] if head.returncode == 0 and lines else None
    branch = lines[1] if head.returncode == 0 and len(lines) > 1 else None
    return GitState(commit=commit, branch=branch, remote=remote)


def tracked_among(repo: Path, paths: Iterable[str]) -> set[str]:
    """Which of the absolute ``paths`` (inside ``repo``) git tracks — one call per 2,000 paths."""
    rel = {os.path.relpath(p, repo): p for p in paths}
    tracked: set[str] = set()
    names = sorted(rel)
    for start in range(0, len(names), _PATHSPEC_CHUNK):
        chunk = names[start : start + _PATHSPEC_CHUNK]
        out = _git(
            repo, "ls-files", "-z", "--full-name", "--", *[f":(literal){n}" for n in chunk]
        ).stdout
        for name in out.decode("utf-8", "surrogateescape").split("\0"):
            if name in rel:
                tracked.add(rel[name])
    return tracked


def diff_hash(repo: Path) -> str:
    """SHA-256 of the uncommitted changes: what a job records for a dirty tree."""
    import hashlib  # only a dirty tree needs it: a clean `roar run` need not load OpenSSL

    return hashlib.sha256(diff_bytes(repo)).hexdigest()


def diff_bytes(repo: Path) -> bytes:
    """The uncommitted changes to tracked files, as one binary diff (hashed for --allow-dirty)."""
    return _git(repo, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff").stdout
