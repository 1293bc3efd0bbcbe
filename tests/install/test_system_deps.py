"""`make system-deps` on a fresh machine: the Debian packages it would ask for install together.

A machine that has every tool asks apt for nothing, so CI never exercises the apt request itself.
These tests ask `scripts/system_deps.sh` for the list a machine missing every tool would request
(`--print-all`, with the one rule that depends on the host: Node) and have apt simulate
installing exactly that list, so a conflict (Debian's npm beside NodeSource's nodejs, which broke
both README commands once) fails here instead of on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "system_deps.sh"
APT_LISTS = Path("/var/lib/apt/lists")


def requested(*flags: str, path: str | None = None) -> list[str]:
    env = {**os.environ, **({"PATH": path} if path is not None else {})}
    out = subprocess.run(
        ["/bin/bash", str(SCRIPT), *flags],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return out.split()


def node_is_usable() -> bool:
    if not (shutil.which("node") and shutil.which("npm")):
        return False
    major = subprocess.run(
        ["node", "-p", "process.versions.node.split('.')[0]"], capture_output=True, text=True
    ).stdout
    return int(major.strip() or 0) >= 18


def fake_node(bindir: Path, version: str) -> None:
    """A `node` and an `npm` on a PATH of their own, `node` answering as ``version`` would."""
    bindir.mkdir(parents=True, exist_ok=True)
    major = version.split(".")[0]
    for name, body in (("node", f"echo {major}"), ("npm", "echo 10.0.0")):
        tool = bindir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def test_makefile_targets_use_the_script():
    for target, flags in (
        ("system-deps", ""),
        ("test-system-deps", " --tests"),
        ("bench", " --tests --bench"),
    ):
        dry = subprocess.run(
            ["make", "-n", "--always-make", "-C", str(REPO), target],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"scripts/system_deps.sh{flags}" in dry, dry


def test_node_packages_requested_only_without_a_usable_node(tmp_path):
    everything = requested("--tests", "--print-all", path=str(tmp_path / "empty"))
    assert {"nodejs", "npm"} <= set(everything)
    assert {"clang", "libbpf-dev", "graphviz", "chromium", "neovim"} <= set(everything)

    fake_node(tmp_path / "node18", "18.19.0")
    with_node = requested("--tests", "--print-all", path=str(tmp_path / "node18"))
    assert "nodejs" not in with_node and "npm" not in with_node
    assert set(everything) - set(with_node) == {"nodejs", "npm"}

    fake_node(tmp_path / "node16", "16.20.0")
    old_node = requested("--print-all", path=str(tmp_path / "node16"))
    assert {"nodejs", "npm"} <= set(old_node)


def test_nothing_is_requested_for_tools_already_present():
    missing_here = set(requested("--tests", "--print"))
    everything = set(requested("--tests", "--print-all"))
    assert missing_here <= everything
    if shutil.which("git"):
        assert "git" not in missing_here
    if shutil.which("dot"):
        assert "graphviz" not in missing_here


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="not a Debian machine (no apt-get)")
def test_the_full_request_installs_together_on_this_kind_of_machine():
    if not any(APT_LISTS.glob("*_Packages")):
        if os.geteuid() != 0:
            pytest.skip("apt has no package lists and only root can fetch them")
        subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    packages = requested("--tests", "--bench", "--print-all")
    assert packages, "the script requested nothing"
    assert "wrk" in packages and "wrk" not in requested("--tests", "--print-all")
    assert ("nodejs" in packages) == (not node_is_usable())
    sim = subprocess.run(
        ["apt-get", "install", "--simulate", "-qq", *packages],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sim.returncode == 0, (
        f"apt-get install --simulate {' '.join(packages)} failed:\n{sim.stdout}\n{sim.stderr}"
    )
