"""The fresh checkout a reproduction runs in: a detached ``git worktree`` of the user's repo.

The user's checkout and store are never touched: the worktree is a separate directory with
its own files and its own ``.roar/`` store (git only notes the worktree under ``.git/``).
It does not live under the project's ``.roar/``: everything under a ``.roar`` folder is noise
to the recorder, so the replayed steps would record nothing. By default it goes to the
system's temporary directory (``$TMPDIR``), named after the project; ``--into`` chooses.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from roar.errors import RoarError


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise RoarError(
            f"git {' '.join(args)} failed in {repo}: {proc.stderr.strip() or proc.returncode}"
        )
    return proc


def has_commit(repo: Path, commit: str) -> bool:
    return git(repo, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode == 0


def require_commits(repo: Path, commits: list[str], remote: str | None) -> None:
    """Every commit a step was recorded at must be in the repo: say which are not."""
    missing = [c for c in dict.fromkeys(commits) if not has_commit(repo, c)]
    if missing:
        where = f" (recorded remote: {remote})" if remote else ""
        raise RoarError(
            f"The recorded commit{'s' if len(missing) > 1 else ''} "
            f"{', '.join(c[:12] for c in missing)} {'are' if len(missing) > 1 else 'is'} not in "
            f"this repository{where}.",
            hint="Fetch them first (git fetch --all), then run roar reproduce again.",
        )


def choose_location(root: Path, into: str | None) -> Path:
    """Where the worktree goes: ``into`` (absent or an empty directory), else a new directory
    in the temporary directory."""
    if into is None:
        return Path(tempfile.mkdtemp(prefix=f"roar-reproduce-{root.name}-"))
    target = Path(os.path.abspath(os.path.expanduser(into)))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RoarError(
            f"--into {into}: the directory exists and is not empty.",
            hint="Name a new or empty directory for the reproduction.",
        )
    inside = _is_under(target, root)
    if inside:
        raise RoarError(
            f"--into {into} is inside the project ({root}); the reproduction must not touch "
            "your checkout.",
            hint="Choose a directory outside the project, e.g. ../reproduce.",
        )
    return target


def _is_under(path: Path, root: Path) -> bool:
    p, r = os.path.realpath(path), os.path.realpath(root)
    return p == r or p.startswith(r.rstrip("/") + "/")


def add(repo: Path, location: Path, commit: str) -> Path:
    """``git worktree add --detach LOCATION COMMIT``; the worktree's root."""
    if location.exists() and not any(location.iterdir()):
        location.rmdir()  # git creates it (and refuses an existing directory on older gits)
    location.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", "-q", str(location), commit)
    return location


def checkout(worktree: Path, commit: str) -> None:
    """Move the worktree to another recorded commit (a step recorded later in the history)."""
    git(worktree, "checkout", "-q", "--detach", commit)


def head(worktree: Path) -> str:
    return git(worktree, "rev-parse", "HEAD").stdout.strip()


def is_tracked(worktree: Path, rel: str) -> bool:
    return bool(git(worktree, "ls-files", "--", f":(literal){rel}").stdout.strip())
