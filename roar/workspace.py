"""Where a roar project lives: the `.roar/` directory found by walking up from a start dir."""

from __future__ import annotations

import os
from pathlib import Path

from roar.errors import NotInitializedError
from roar.records import record

ROAR_DIR = ".roar"
DB_NAME = "roar.db"
CONFIG_NAME = "config.toml"


@record(frozen=True)
class Workspace:
    """A roar project: ``root`` holds ``.roar/`` (normally also the git top level)."""

    root: Path

    @property
    def roar_dir(self) -> Path:
        return self.root / ROAR_DIR

    @property
    def db_path(self) -> Path:
        return self.roar_dir / DB_NAME

    @property
    def config_path(self) -> Path:
        return self.roar_dir / CONFIG_NAME


def find_workspace(start: str | os.PathLike[str] | None = None) -> Workspace | None:
    """The nearest enclosing directory with a `.roar/` store, or None."""
    here = Path(os.path.abspath(start if start is not None else os.getcwd()))
    for candidate in (here, *here.parents):
        if (candidate / ROAR_DIR).is_dir():
            return Workspace(candidate)
    return None


def require_workspace(start: str | os.PathLike[str] | None = None) -> Workspace:
    ws = find_workspace(start)
    if ws is None:
        raise NotInitializedError()
    return ws


def find_git_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest enclosing directory containing `.git` (dir or file), without running git."""
    here = Path(os.path.abspath(start if start is not None else os.getcwd()))
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
