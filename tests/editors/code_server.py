"""code-server (VS Code 1.100's workbench served to a browser) with the built roar extension,
started in its own process group on a free port, and stopped with everything it forked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VERSION = "4.100.3"  # the last code-server for Node 20; keep the extension's engines ≤ ^1.100
BINARY = Path(
    os.environ.get("ROAR_CODE_SERVER")
    or REPO / ".ci" / "tools" / f"code-server-{VERSION}" / "node_modules" / ".bin" / "code-server"
)
VSIX = REPO / "vscode" / "roar.vsix"

USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "security.workspace.trust.enabled": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "editor.hover.delay": 100,
    "roar.interpreter": sys.executable,  # the server runs as `<python> -m lsp_server`
    "roar.pollInterval": 0.5,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install_extension(data: Path, extensions: Path, vsix: Path = VSIX) -> None:
    subprocess.run(
        [str(BINARY), "--user-data-dir", str(data), "--extensions-dir", str(extensions),
         "--install-extension", str(vsix), "--force"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


@contextmanager
def running(
    home: Path,
    settings: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    also: Sequence[Path] = (),
) -> Iterator[str]:
    """A code-server with the roar extension installed; yields its URL. ``settings`` change the
    user settings (None removes one), ``env`` the environment it and its extension host get;
    ``also``: more extensions (.vsix) to install."""
    data, extensions = home / "data", home / "extensions"
    (data / "User").mkdir(parents=True)
    user = {**USER_SETTINGS, **(settings or {})}
    user = {key: value for key, value in user.items() if value is not None}
    (data / "User" / "settings.json").write_text(json.dumps(user, indent=1))
    for vsix in (VSIX, *also):
        install_extension(data, extensions, vsix)
    url = f"http://127.0.0.1:{free_port()}"
    log = (home / "code-server.log").open("w")
    proc = subprocess.Popen(
        [str(BINARY), "--auth", "none", "--bind-addr", url.removeprefix("http://"),
         "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
         "--disable-getting-started-override", "--user-data-dir", str(data),
         "--extensions-dir", str(extensions)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # own process group
        env={**os.environ, **(env or {}), "HOME": str(home)},  # config.yaml here, not ~/.config
    )  # fmt: skip
    try:
        _wait_healthy(url, proc, home / "code-server.log")
        yield url
    finally:
        # The extension host, file watchers and roar-lsp outlive a killed parent: end the group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)
        log.close()


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"code-server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"code-server did not answer /healthz within {timeout}s")
