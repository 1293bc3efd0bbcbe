"""A virtualenv inside the project (uv, poetry and `python -m venv .venv` make them there) is
package territory, never data: only the job's real data are its inputs and outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from roar.record.filters import NoiseFilter, environment_root
from tests.conftest import commit_all

SCRIPT = """
import helper_pkg
rows = open("data.csv").read().splitlines()
open("out.csv", "w").write("\\n".join(helper_pkg.shout(r) for r in rows))
"""


@pytest.fixture
def venv_repo(repo: Path) -> Path:
    venv = repo / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = venv.glob("lib/python3*/site-packages")
    (site / "helper_pkg").mkdir()
    (site / "helper_pkg" / "__init__.py").write_text("def shout(s):\n    return s.upper()\n")
    (repo / "data.csv").write_text("a\nb\n")
    (repo / "step.py").write_text(SCRIPT)
    (repo / ".gitignore").write_text(".roar/\n.venv/\nout.csv\n")
    commit_all(repo)
    return repo


@pytest.mark.parametrize("backend", ["ebpf", "preload", "ptrace"])
def test_project_virtualenv_is_not_data(venv_repo, run_roar, backend):
    python = str(venv_repo / ".venv" / "bin" / "python")
    run_roar("run", "--tracer", backend, python, "step.py", cwd=venv_repo)
    (job,) = run_roar("log", "--json", cwd=venv_repo).json()["jobs"]
    assert [i["path"] for i in job["inputs"]] == [str(venv_repo / "data.csv")]
    assert [o["path"] for o in job["outputs"]] == [str(venv_repo / "out.csv")]


def test_environment_found_by_its_marker_not_its_name(tmp_path):
    project = tmp_path / "project"
    conda = project / "envs" / "work"  # a conda env: conda-meta/ at its top
    (conda / "conda-meta").mkdir(parents=True)
    (conda / "lib").mkdir()
    plain = project / "venv-looking-name" / "lib"  # no marker: data, whatever its name
    plain.mkdir(parents=True)
    noise = NoiseFilter(project_root=str(project), home=str(tmp_path / "home"))
    assert environment_root(str(conda / "lib")) == str(conda)
    assert noise.is_noise(str(conda / "lib" / "libpython.so"))
    assert not noise.is_noise(str(plain / "table.csv"))
    assert not noise.is_noise(str(project / "data.csv"))


def test_an_environment_holding_the_project_does_not_hide_it(tmp_path):
    env = tmp_path / "env"
    (env / "conda-meta").mkdir(parents=True)
    project = env / "work" / "project"
    project.mkdir(parents=True)
    noise = NoiseFilter(project_root=str(project), home=str(tmp_path / "home"))
    assert not noise.is_noise(str(project / "data.csv"))
