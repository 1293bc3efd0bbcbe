"""Which notebook a kernel serves, and the id of a cell in it, as the front end says now.

The path can change while the kernel runs: JupyterLab and Notebook 7 rename a notebook by
moving its Jupyter Server session to the new path, and the kernel is not told (``__session__``
and ``JPY_SESSION_NAME`` keep the path it started with). So, in order:

- VS Code's ``__vsc_ipynb_file__`` (VS Code starts a new kernel when a notebook is renamed);
- ``__session__``, when a front end has set it to another path than the kernel started with;
- the Jupyter Server session this kernel belongs to: the server that started the kernel
  (``JPY_PARENT_PID``) is found in ``jpserver-<pid>.json`` and asked for the session whose
  kernel is this one (its id is in the connection file's name). It is asked again only when
  the notebook at the path it gave last is gone or was replaced (renamed, or saved by
  replacing the file), so most cells cost one ``stat``;
- ``JPY_SESSION_NAME``, the path the server gave when it started the kernel.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

SERVER_TIMEOUT = 2.0  # seconds to wait for the Jupyter Server's session list


def notebook_path(shell: Any, cwd: str) -> str | None:
    """The notebook the kernel of ``shell`` serves, where a front end says so."""
    return _LOCATOR.locate(shell, cwd)


class NotebookLocator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._server_known = False  # looked for the server already
        self._last: tuple[str, tuple[int, int] | None] | None = None  # (path, its identity)

    def locate(self, shell: Any, cwd: str) -> str | None:
        namespace = getattr(shell, "user_ns", {}) if shell is not None else {}
        vscode = namespace.get("__vsc_ipynb_file__")
        if isinstance(vscode, str) and vscode:
            return os.path.abspath(vscode)
        started_as = os.environ.get("JPY_SESSION_NAME")
        session = namespace.get("__session__")
        if isinstance(session, str) and session and session != started_as:
            return _resolve(session, cwd)
        from_server = self._from_server()
        if from_server:
            return from_server
        return _resolve(started_as, cwd) if started_as else None

    def _from_server(self) -> str | None:
        with self._lock:
            last = self._last
            if last is not None and last[1] is not None and _identity(last[0]) == last[1]:
                return last[0]  # the notebook is where the server said it was
            if not self._server_known:
                self._server, self._server_known = _Server.of_this_kernel(), True
            server = self._server
            if server is None:
                return None
            path = server.notebook_path()
            if path is None:
                return last[0] if last is not None else None  # the server cannot say now
            self._last = (path, _identity(path))
            return path


class _Server:
    """The Jupyter Server that started this kernel, and this kernel's id in it."""

    def __init__(self, url: str, token: str, root_dir: str, kernel_id: str):
        self.url, self.token, self.root_dir, self.kernel_id = url, token, root_dir, kernel_id

    @classmethod
    def of_this_kernel(cls) -> _Server | None:
        parent = os.environ.get("JPY_PARENT_PID")
        kernel_id = _kernel_id()
        if not parent or not kernel_id:
            return None
        try:
            from jupyter_core.paths import jupyter_runtime_dir

            with open(os.path.join(jupyter_runtime_dir(), f"jpserver-{parent}.json")) as fh:
                info = json.load(fh)
            url, root_dir = str(info["url"]), str(info["root_dir"])
        except (ImportError, OSError, ValueError, KeyError, TypeError):
            return None
        if info.get("sock") or not url.startswith(("http://", "https://")):
            return None  # a Unix socket: not reachable with urllib
        return cls(url, str(info.get("token") or ""), root_dir, kernel_id)

    def notebook_path(self) -> str | None:
        """Where the server's session for this kernel says its notebook is, or None."""
        import urllib.request

        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        request = urllib.request.Request(self.url.rstrip("/") + "/api/sessions", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT) as response:
                sessions = json.load(response)
        except (OSError, ValueError):
            return None
        for session in sessions if isinstance(sessions, list) else ():
            kernel = session.get("kernel") or {}
            path = session.get("path")
            if kernel.get("id") == self.kernel_id and isinstance(path, str) and path:
                if session.get("type") not in (None, "notebook"):
                    return None  # a console or a file: no notebook
                return os.path.join(self.root_dir, *path.split("/"))
        return None


def _kernel_id() -> str | None:
    """Jupyter Server names a kernel's connection file ``kernel-<kernel id>.json``."""
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return None
    if not IPKernelApp.initialized():
        return None
    name = os.path.basename(str(IPKernelApp.instance().connection_file or ""))
    match = re.fullmatch(r"kernel-(.+)\.json", name)
    return match.group(1) if match else None


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _resolve(session: str, cwd: str) -> str:
    """A session path: absolute as is; else relative to the server's root, while the kernel
    starts in the notebook's folder."""
    if os.path.isabs(session):
        return session
    for candidate in (os.path.join(cwd, os.path.basename(session)), os.path.join(cwd, session)):
        if os.path.exists(candidate):
            return os.path.abspath(candidate)
    return os.path.abspath(os.path.join(cwd, os.path.basename(session)))


_LOCATOR = NotebookLocator()

_NOTEBOOKS: dict[str, tuple[int, list[dict]]] = {}


def cell_id_in_notebook(path: str | None, code: str) -> str | None:
    """The id of the one saved cell with exactly this source, for front ends that send none."""
    if not path:
        return None
    try:
        mtime = os.stat(path).st_mtime_ns
        cached = _NOTEBOOKS.get(path)
        if cached is None or cached[0] != mtime:
            with open(path, encoding="utf-8") as fh:
                cells = json.load(fh).get("cells", [])
            _NOTEBOOKS[path] = cached = (mtime, cells)
    except (OSError, ValueError, AttributeError):
        return None
    matches = [
        c.get("id")
        for c in cached[1]
        if c.get("cell_type") == "code" and _source(c.get("source")) == code
    ]
    return matches[0] if len(matches) == 1 and isinstance(matches[0], str) else None


def _source(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")
