"""Git state for a job, from a handful of git calls (never one per file)."""

from __future__ import annotations

import hashlib
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
    out = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=no").stdout
    entries = [e for e in out.decode("utf-8", "backslashreplace").split("\0") if e]
    files: list[str] = []
    skip_next = False
    for entry in entries:
        if skip_next:  # the source name of a rename/copy record
            skip_next = False
            continue
        status, name = entry[:2], entry[3:]
        files.append(f"{status.strip() or '?'} {name}")
        skip_next = status[0] in "RC"
    return files


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
    return hashlib.sha256(diff_bytes(repo)).hexdigest()


def diff_bytes(repo: Path) -> bytes:
    """The uncommitted changes to tracked files, as one binary diff (hashed for --allow-dirty)."""
    return _git(repo, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff").stdout
