"""The Python environment a reproduction runs in, and the system packages it may need.

The recorded packages (the union over the plan's steps, ``name==version``) are installed into
a virtualenv cached by requirement set under ``$XDG_CACHE_HOME/roar/venvs/`` (``~/.cache``):
a second reproduction of the same recipe reuses it and installs nothing. uv builds it when it
is on PATH, else ``python -m venv`` and pip; an empty set needs neither pip nor a network.

Build steps may install into the environment (``pip install -e .``), which must not change a
cached one: a plan with build steps gets a private virtualenv inside the worktree, which sees
the cached packages through a ``.pth`` file and takes the build's installs itself.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from roar.errors import RoarError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from roar.reproduce.plan import ReproPlan

COMPLETE = ".roar-complete"  # written last: a venv without it was interrupted and is rebuilt
PRIVATE_VENV = ".roar-venv"
_FAILED = (
    re.compile(r"No matching distribution found for ([^\s;]+)"),
    re.compile(r"Could not find a version that satisfies the requirement ([^\s;]+)"),
    re.compile(r"Because ([^\s]+) was not found"),
)


@dataclass
class Requirements:
    pip: dict[str, str] = field(default_factory=dict)  # name -> version
    system: dict[str, str] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)  # "name: 1.0 (@1) vs 2.0 (@3)"

    def lines(self) -> list[str]:
        return [f"{name}=={version}" for name, version in sorted(self.pip.items(), key=_key)]


def _key(item: tuple[str, str]) -> str:
    return normalize(item[0])


def normalize(name: str) -> str:
    """PEP 503: ``Foo_Bar`` and ``foo-bar`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(plan: ReproPlan, exclude: set[str] | None = None) -> Requirements:
    """The packages the plan's steps used; on a version conflict the later step's wins (the
    plan's order), and the conflict is reported."""
    reqs = Requirements()
    seen: dict[str, tuple[str, str, str]] = {}  # normalized -> (name, version, step)
    skip = {normalize(n) for n in exclude or ()}
    for step in plan.steps:
        for name, version in step.packages.items():
            key = normalize(name)
            if key in skip:
                continue
            before = seen.get(key)
            if before is not None:  # one distribution, maybe spelt otherwise (Foo_Bar, foo-bar)
                if before[1] != version:
                    reqs.conflicts.append(
                        f"{name}: {before[1]} ({before[2]}) vs {version} ({step.job.ref})"
                    )
                reqs.pip.pop(before[0], None)
            seen[key] = (name, version, step.job.ref)
            reqs.pip[name] = version
        reqs.system.update(step.system_packages)
    return reqs


def project_name(worktree: Path) -> str | None:
    """The distribution the project itself builds (pyproject.toml's [project] name): a build
    step installs it from the checkout, the index does not have it."""
    path = worktree / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("project", {}).get("name")
    return name if isinstance(name, str) else None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "roar" / "venvs"


def venv_key(lines: list[str]) -> str:
    """One cached venv per interpreter and requirement set."""
    text = "\n".join([sys.executable, sys.version, *lines])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Venv:
    path: Path
    cached: bool  # reused from the cache, nothing installed
    base: Venv | None = None  # the cached venv a private one sees through its .pth

    def sites(self) -> list[Path]:
        """Its site-packages, then its base's: what a Python outside it needs on its path."""
        own = sorted((self.path / "lib").glob("python*/site-packages"))
        return own[:1] + (self.base.sites() if self.base else [])

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this venv active: its bin first on PATH, as ``activate`` does."""
        env = dict(base)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', os.defpath)}"
        env["VIRTUAL_ENV"] = str(self.path)
        env.pop("PYTHONHOME", None)
        return env


def cached_venv(reqs: Requirements, log: Path) -> Venv:
    """The cached venv for this requirement set, built on first use."""
    import fcntl

    lines = reqs.lines()
    path = cache_dir() / venv_key(lines)
    if (path / COMPLETE).is_file():
        return Venv(path, cached=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Two reproductions of one recipe at once: the second waits for the first's venv.
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / COMPLETE).is_file():
            return Venv(path, cached=True)
        if path.exists():
            shutil.rmtree(path)  # an interrupted build
        try:
            _build(path, lines, log)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        (path / COMPLETE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Venv(path, cached=False)


def private_venv(base: Venv, worktree: Path, log: Path) -> Venv:
    """A venv in the worktree for build steps to install into, layered on ``base``."""
    path = worktree / PRIVATE_VENV
    _bare_venv(path)
    site = _site_packages(path)
    base_site = _site_packages(base.path)
    (site / "_roar_reproduce_base.pth").write_text(f"{base_site}\n", encoding="utf-8")
    return Venv(path, cached=False, base=base)


def _bare_venv(path: Path) -> None:
    """A virtualenv without pip, made in this process: ~10 ms, where ``python -m venv`` in a
    new interpreter takes a quarter of a second."""
    import venv

    try:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    except OSError as exc:
        raise RoarError(f"Could not create a virtualenv at {path}: {exc}") from exc


def _site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python*/site-packages"))
    if not found:
        raise RoarError(f"No site-packages in the virtualenv {venv}.")
    return found[0]


def _build(path: Path, lines: list[str], log: Path) -> None:
    uv = shutil.which("uv")
    if uv:
        _run([uv, "venv", "-q", "--python", sys.executable, str(path)], log, "create a virtualenv")
        if lines:
            _install(
                [uv, "pip", "install", "-q", "--python", str(path / "bin" / "python"), *lines],
                lines,
                log,
            )
        return
    if not lines:  # nothing to install: no pip needed (and no network)
        _bare_venv(path)
        return
    _run([sys.executable, "-m", "venv", str(path)], log, "create a virtualenv")
    python = str(path / "bin" / "python")
    _install(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *lines], lines, log
    )


def _install(cmd: list[str], lines: list[str], log: Path) -> None:
    proc = _capture(cmd, log)
    if proc.returncode == 0:
        return
    failed = failing_packages(proc.stdout, lines)
    named = ", ".join(failed) if failed else ", ".join(lines)
    tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
    raise RoarError(
        f"Installing the recorded packages failed: could not install {named}.\n{tail}",
        hint=f"Check the network or a package index that has {named} (pip's output is in "
        f"{log}); `roar reproduce TARGET --list-requirements` lists what the steps used.",
    )


def failing_packages(output: str, lines: list[str]) -> list[str]:
    """The requirements the installer's output names as the ones it could not get."""
    found: list[str] = []
    for pattern in _FAILED:
        for m in pattern.finditer(output):
            name = m.group(1).strip(".,'\"")
            if name not in found:
                found.append(name)
    by_name = {normalize(line.split("==")[0]): line for line in lines}
    return [by_name.get(normalize(re.split(r"[=<>!~ ]", f)[0]), f) for f in found]


def _capture(cmd: list[str], log: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False
    )
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n{proc.stdout}\n")
    return proc


def _run(cmd: list[str], log: Path, what: str) -> None:
    proc = _capture(cmd, log)
    if proc.returncode != 0:
        raise RoarError(
            f"Could not {what}: {shlex.join(cmd)} exited {proc.returncode}.",
            hint=f"Its output is in {log}.",
        )


def apt_command(system: dict[str, str]) -> list[str]:
    pins = [f"{name}={version}" if version else name for name, version in sorted(system.items())]
    return ["apt-get", "install", "-y", *pins]


def sync_system_packages(system: dict[str, str], log: Path) -> str:
    """Install the recorded system packages with apt when root; else only say how. What was
    done, in a sentence."""
    if not system:
        return "No system packages recorded: nothing to install."
    cmd = apt_command(system)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"Not root: install the recorded system packages with\n  sudo {shlex.join(cmd)}"
    _run(cmd, log, "install the recorded system packages")
    return f"Installed {len(system)} system package(s) with apt-get."
