"""Where a document lives: its folder (a notebook cell's is its notebook's), its project, and the
folders a relative path in it may be relative to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsp_server.project import Project
from lsp_server.settings import Settings
from roar.workspace import DB_NAME, ROAR_DIR, find_workspace


@dataclass(frozen=True)
class DocContext:
    path: str | None  # the file (for a cell: the notebook file), when it has one
    project: Project
    base_dirs: tuple[str, ...]  # tried in order for a relative path


def fs_path(uri: str) -> str | None:
    """A file path for ``file:`` URIs and for notebook cells (VS Code's cell URIs carry the
    notebook's path, with the cell in the fragment)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", "vscode-notebook-cell") or not parsed.path:
        return None
    return unquote(parsed.path)


class Projects:
    """The projects documents belong to, opened once each."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.workspace_root: str | None = None
        self._by_root: dict[Path, Project] = {}

    def all(self) -> list[Project]:
        return list(self._by_root.values())

    def context(self, file_path: str | None) -> DocContext:
        folder = os.path.dirname(file_path) if file_path else self.workspace_root
        project = self._project_for(folder)
        bases = [b for b in (folder, self.workspace_root, str(project.root)) if b]
        return DocContext(file_path, project, tuple(dict.fromkeys(bases)))

    def _project_for(self, folder: str | None) -> Project:
        root, db = self._locate(folder)
        if root not in self._by_root:
            self._by_root[root] = Project(root, db)
        return self._by_root[root]

    def _locate(self, folder: str | None) -> tuple[Path, Path]:
        """The configured store, else the nearest ``.roar/`` above the document, else above
        the workspace root; else where ``roar init`` would put it (reported as missing)."""
        if self.settings.store:
            given = Path(os.path.expanduser(self.settings.store))
            if given.name == DB_NAME or given.suffix == ".db":
                return given.parent.parent, given
            return given, given / ROAR_DIR / DB_NAME
        for start in (folder, self.workspace_root):
            ws = find_workspace(start) if start else None
            if ws is not None:
                return ws.root, ws.db_path
        root = Path(self.workspace_root or folder or os.getcwd())
        return root, root / ROAR_DIR / DB_NAME

    def reset(self) -> None:
        for project in self._by_root.values():
            project.close()
        self._by_root.clear()
