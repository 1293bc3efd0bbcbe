"""The .vsix always ships the DAG viewer: ``make editors`` on a fresh clone builds the viewer's
bundle (jupyter_ext/static/dag_view.js) before it packages the extension, and packaging without
that bundle fails with what to run, instead of making an extension whose "roar: Show lineage"
can only apologise."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

from tests.editors.code_server import REPO
from tests.editors.conftest import require

STATIC = REPO / "jupyter_ext" / "static"
NODE_MODULES = REPO / "vscode" / "node_modules"


def tracked_copy(dest: Path, *paths: str) -> Path:
    """The files under ``paths`` that git tracks or would (not ignored), copied to ``dest`` as a
    fresh clone has them (no build outputs, no node_modules): the working tree's versions,
    committed or not."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, names.split("\0")):
        if (REPO / name).is_file():  # a tracked file deleted in the working tree is gone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def extension_copy(tmp_path: Path) -> Path:
    """vscode/ as a fresh clone has it, with the installed devDependencies linked in."""
    require(NODE_MODULES.is_dir(), "the extension's npm packages", "make editors")
    root = tracked_copy(tmp_path, "vscode")
    (root / "vscode" / "node_modules").symlink_to(NODE_MODULES)
    return root / "vscode"


def package(vscode: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npm", "run", "--silent", "package"],
        cwd=vscode, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_packaging_fails_without_the_viewer_bundle(tmp_path):
    vscode = extension_copy(tmp_path)  # no jupyter_ext/static beside it

    done = package(vscode)

    assert done.returncode != 0, done.stdout
    assert "jupyter_ext/static/dag_view.js" in done.stderr
    assert "the lineage viewer's bundle is missing" in done.stderr
    assert "make widget" in done.stderr
    assert not (vscode / "roar.vsix").exists()
    assert "warning:" not in done.stderr  # the old build warned and packaged anyway


def test_packaging_ships_the_viewer_bundle(tmp_path):
    require((STATIC / "dag_view.js").exists(), "the DAG viewer's bundle", "make widget")
    vscode = extension_copy(tmp_path)
    (tmp_path / "jupyter_ext" / "static").mkdir(parents=True)
    for name in ("dag_view.js", "dag_view.css"):
        shutil.copy2(STATIC / name, tmp_path / "jupyter_ext" / "static" / name)

    done = package(vscode)

    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(vscode / "roar.vsix") as vsix:
        shipped = vsix.namelist()
        assert "extension/out/extension.js" in shipped
        assert "extension/media/dag_view.css" in shipped
        bundled = vsix.read("extension/media/dag_view.js")
    assert bundled == (STATIC / "dag_view.js").read_bytes()


def test_make_editors_builds_the_viewer_before_packaging(tmp_path):
    """In a fresh clone (no jupyter_ext/static), `make editors` runs the viewer's build, then
    the extension's packaging."""
    require(shutil.which("make") is not None, "make", "apt-get install make")
    clone = tracked_copy(tmp_path, "Makefile", "vscode", "jupyter_ext")
    assert not (clone / "jupyter_ext" / "static").exists()

    plan = subprocess.run(
        ["make", "-n", "editors"], cwd=clone, capture_output=True, text=True, timeout=60
    )

    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    viewer = [
        i
        for i, line in enumerate(lines)
        if line.startswith("cd jupyter_ext/js") and "build" in line
    ]
    packaging = [i for i, line in enumerate(lines) if "npm run --silent package" in line]
    assert viewer and packaging, plan.stdout
    assert viewer[0] < packaging[0], plan.stdout
