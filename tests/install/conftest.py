"""roar as a user installs it: a wheel built once by maturin, installed into a new virtualenv
outside the repository, run with no Rust toolchain on PATH and no source tree to fall back on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# What a user's shell has: the system's directories, no ~/.cargo/bin.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def maturin() -> list[str]:
    found = shutil.which("maturin")
    return [found] if found else [sys.executable, "-m", "maturin"]


@pytest.fixture(scope="session")
def dist_dir(tmp_path_factory) -> Path:
    """The release wheel, built once (it reuses the workspace's target/ cache)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [*maturin(), "build", "--release", "--quiet", "--out", str(out)],
        cwd=REPO,
        check=True,
        timeout=1800,
    )
    return out


@pytest.fixture(scope="session")
def wheel(dist_dir: Path) -> Path:
    (found,) = dist_dir.glob("roar-*.whl")
    return found


@dataclass
class Installed:
    """A virtualenv holding the wheel, and the environment a user's shell would give it."""

    venv: Path
    home: Path
    env: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, *argv: str, cwd: Path, check: bool = True, timeout: float = 180, **kw):
        # Resolved on the user's PATH (the venv first), never on the test runner's.
        program = shutil.which(argv[0], path=self.env["PATH"])
        assert program, f"{argv[0]} is not on the user's PATH"
        proc = subprocess.run(
            [program, *argv[1:]],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


@pytest.fixture(scope="session")
def installed_wheel(wheel: Path, tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel-user")
    venv, home = root / "venv", root / "home"
    home.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[jupyter,lsp]", "nbclient"],
        check=True,
        timeout=900,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "JUPYTER_DATA_DIR")
        and not k.startswith(("CARGO", "RUSTUP"))
    }
    env.update(
        PATH=f"{venv / 'bin'}:{SYSTEM_PATH}",
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        # A service of this build, not the development install's.
        ROAR_EBPF_SOCKET=str(root / "ebpf.sock"),
    )
    installed = Installed(venv, home, env)
    yield installed
    installed.run(
        installed.bin("python"),
        "-c",
        "from roar.tracing import ebpf_service; ebpf_service.stop()",
        cwd=root,
        check=False,
    )
