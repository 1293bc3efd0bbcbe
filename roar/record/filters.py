"""Which of the paths a job touched are lineage, and which are noise.

Noise never becomes an input or output: the system, installed packages, caches, /tmp (unless
the project lives there), home dotfiles, `.git/` and `.roar/`. Paths inside the project are
never treated as system or package noise, whatever their prefix.
"""

from __future__ import annotations

import functools
import os
import sys
from functools import cached_property

from roar.records import record

SYSTEM_PREFIXES = (
    "/etc/", "/usr/", "/lib/", "/lib32/", "/lib64/", "/libx32/", "/bin/", "/sbin/", "/opt/",
    "/var/lib/", "/var/cache/", "/var/run/", "/snap/", "/boot/", "/nix/", "/srv/", "/var/log/",
)  # fmt: skip
ALWAYS_NOISE_PREFIXES = ("/proc/", "/sys/", "/dev/", "/run/")
TMP_PREFIXES = ("/tmp/", "/var/tmp/", "/dev/shm/")
NOISE_COMPONENTS = frozenset(
    {
        ".git",
        ".roar",
        "__pycache__",
        ".ipynb_checkpoints",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
CODE_SUFFIXES = frozenset(
    ".py .pyx .pxd .pyi .so .c .cc .cpp .cxx .h .hh .hpp .rs .go .sh .bash .zsh .r .jl .js .mjs "
    ".ts .java .scala .kt .rb .pl .lua .ipynb".split()
)
CODE_NAMES = frozenset({"Makefile", "Dockerfile", "Snakefile", "Justfile", "CMakeLists.txt"})


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@record(frozen=True)
class NoiseFilter:
    project_root: str
    home: str
    ignore_system: bool = True
    ignore_packages: bool = True
    ignore_torch_cache: bool = True
    ignore_tmp: bool = True

    @classmethod
    def from_config(cls, project_root: str, values: dict) -> NoiseFilter:
        return cls(
            project_root=os.path.realpath(project_root),
            home=os.path.realpath(os.path.expanduser("~")),
            ignore_system=values["filters.ignore_system_reads"],
            ignore_packages=values["filters.ignore_package_reads"],
            ignore_torch_cache=values["filters.ignore_torch_cache"],
            ignore_tmp=values["filters.ignore_tmp_files"],
        )

    def is_noise(self, path: str) -> bool:
        parts = path.split("/")
        if NOISE_COMPONENTS.intersection(parts) or path.endswith((".pyc", ".pyo")):
            return True
        if path.startswith(ALWAYS_NOISE_PREFIXES) and not path.startswith("/dev/shm/"):
            return True
        # Before the project check: a virtualenv inside the project is packages, not data.
        if self.ignore_packages and self.in_python_environment(path):
            return True
        if _under(path, self.project_root):
            return False
        if self.ignore_torch_cache and self._is_torch_cache(path):
            return True
        if self.ignore_tmp and path.startswith(TMP_PREFIXES):
            return True
        if self.ignore_system and path.startswith(SYSTEM_PREFIXES):
            return True
        # Dotfiles and dot-directories in $HOME: tool configuration and caches, not data.
        return _under(path, self.home) and path[len(self.home) + 1 :].startswith(".")

    @cached_property
    def _torch_prefixes(self) -> tuple[str, ...]:
        homes = (
            os.path.join(self.home, p) + "/" for p in (".cache/torch", ".triton", ".cache/triton")
        )
        return ("/tmp/torchinductor_", "/tmp/torch_", "/tmp/triton", *homes)

    def _is_torch_cache(self, path: str) -> bool:
        return path.startswith(self._torch_prefixes)

    @staticmethod
    def is_package(path: str) -> bool:
        if "/site-packages/" in path or "/dist-packages/" in path:
            return True
        return any(_under(path, p) for p in _python_prefixes())

    def in_python_environment(self, path: str) -> bool:
        """Inside an interpreter prefix, a virtualenv or a conda env, wherever it lives (uv,
        poetry and `python -m venv` put them in the project): known by the environment's own
        marker (`pyvenv.cfg`, `conda-meta/`), not by its folder's name. An environment that
        holds the project itself does not count: the project is data."""
        if self.is_package(path) and not any(
            _under(self.project_root, p) for p in _python_prefixes()
        ):
            return True
        if "/site-packages/" in path or "/dist-packages/" in path:
            return True
        env = environment_root(os.path.dirname(path))
        return env is not None and not _under(self.project_root, env)


def is_code(path: str) -> bool:
    name = os.path.basename(path)
    return name in CODE_NAMES or os.path.splitext(name)[1].lower() in CODE_SUFFIXES


def _is_torch_cache(path: str, home: str) -> bool:
    name = path.split("/")[2] if path.startswith("/tmp/") and path.count("/") >= 2 else ""
    if name.startswith(("torchinductor_", "torch_", "triton")):
        return True
    return any(
        _under(path, os.path.join(home, p)) for p in (".cache/torch", ".triton", ".cache/triton")
    )


@functools.lru_cache(maxsize=8192)
def environment_root(directory: str) -> str | None:
    """The Python environment (`pyvenv.cfg` or `conda-meta/` at its top) holding
    ``directory``, or None. Cached per directory: a job's files share their folders."""
    if not directory.startswith("/") or directory == "/":
        return None
    if os.path.isfile(os.path.join(directory, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(directory, "conda-meta")
    ):
        return directory
    return environment_root(os.path.dirname(directory))


_PREFIXES: tuple[str, ...] | None = None


def _python_prefixes() -> tuple[str, ...]:
    global _PREFIXES
    if _PREFIXES is None:
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        _PREFIXES = tuple(sorted({os.path.realpath(p) for p in roots if p and p != "/"}))
    return _PREFIXES
