"""The DAG widget in real JupyterLab and Notebook 7, driven through headless Chromium.

The module starts one JupyterLab server itself (own process group, a free port,
``port_retries=0``, no token, private config/settings/workspace dirs); with the ``notebook``
package installed it also serves Notebook 7's ``/notebooks/`` pages. For each front end
(``browser.FRONT_ENDS``) the test opens a notebook of its own project in Debian's Chromium via
Playwright, runs a cell that records two jobs with ``%roar run`` and shows ``%roar dag``,
clicks a job node, and checks from a later cell that the selection reached the kernel. The
Refresh button is then checked against a third job. Screenshots: tests/artifacts/widget-lab.png,
tests/artifacts/widget-notebook7.png.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from roar.store.queries import reader
from roar.workspace import Workspace
from tests.conftest import ROAR, commit_all, make_repo
from tests.widget.browser import (
    ARGS,
    FRONT_ENDS,
    MAX_TEXT_PX,
    MIN_TEXT_PX,
    TEXT_SIZES,
    FrontEnd,
    chromium_path,
    missing_prerequisite,
    skip_unless_ready,
)

pytestmark = skip_unless_ready(missing_prerequisite())

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STEP = """
import sys
open(sys.argv[2], "w").write(open(sys.argv[1]).read() + "x\\n")
"""
CELLS = [
    "%load_ext roar_kernel\n"
    "%roar run -q python step.py raw.txt a.txt\n"
    "%roar run -q python step.py a.txt b.txt\n"
    "w = %roar dag\n"
    "w",
    'print("SELECTED=" + w.selected, "COMMAND=" + w.selected_node["command"])',
    "%roar run -q python step.py b.txt c.txt",
]
STARTUP_TIMEOUT = 90


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    """The server's root: one project per front end, so each starts from an empty store."""
    return tmp_path_factory.mktemp("served")


@pytest.fixture
def project(served: Path, front_end: FrontEnd) -> Path:
    root = make_repo(served / front_end.name)
    (root / "step.py").write_text(STEP)
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    commit_all(root, "step")
    (root / "raw.txt").write_text("raw\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }  # fmt: skip
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nbformat.write(nb, root / "dag.ipynb")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(served: Path, tmp_path_factory) -> Iterator[str]:
    """JupyterLab serving the projects; its whole process group is stopped afterwards."""
    private = tmp_path_factory.mktemp("lab-home")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(private / "config"),
        "JUPYTER_RUNTIME_DIR": str(private / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(private / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(private / "workspaces"),
    }
    log = (private / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
            f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
            "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", "--allow-root",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={served}",
        ],
        cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # kernels and helpers share its group: one kill stops all
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_lab(url, proc, private / "lab.log")
        yield url
    finally:
        shutdown(url)
        stop_group(proc)
        log.close()


def wait_for_lab(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def shutdown(url: str) -> None:
    """Ask the server to stop its kernels and exit: kernels run in sessions of their own."""
    try:
        request = urllib.request.Request(f"{url}/api/shutdown", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
    except OSError:
        pass  # not running, or already gone: the process group is killed next anyway


def stop_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def page(server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 900})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def run_cell(page, index: int) -> None:
    page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def step_uid(project: Path, step: int) -> str:
    with reader(Workspace(project).db_path) as r:
        session = r.active_session()
        assert session is not None
        return next(j.uid for j in r.session_jobs(session.id) if j.step_number == step)


@pytest.mark.parametrize(
    "front_end",
    [pytest.param(f, id=f.name, marks=skip_unless_ready(f.missing())) for f in FRONT_ENDS],
)
def test_click_reaches_the_kernel_and_refresh_reloads(page, server, project, front_end: FrontEnd):
    from playwright.sync_api import expect

    page.goto(front_end.notebook_url(server, f"{project.name}/dag.ipynb"))
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    front_end.wait_for_idle_kernel(page)
    run_cell(page, 0)
    nodes = page.locator("svg.roar-dag g.node")
    # Two `roar run`s first: on a loaded 2-core machine more than expect's default 5 s.
    expect(nodes).to_have_count(5, timeout=30_000)  # two jobs; raw.txt, a.txt, b.txt
    expect(page.locator("svg.roar-dag g.node.job")).to_have_count(2)
    expect(page.locator("svg.roar-dag g.edge")).to_have_count(4)

    job = page.locator("svg.roar-dag g.node.job", has_text="@2 python step.py a.txt b.txt")
    job.click()
    expect(job).to_have_class(has_class("selected"))
    expect(page.locator(".roar-dag-details")).to_contain_text("python step.py a.txt b.txt")
    expected = f"job-{step_uid(project, 2)}"
    assert job.get_attribute("data-id") == expected

    run_cell(page, 1)
    output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output")
    expect(output).to_contain_text(f"SELECTED={expected} COMMAND=python step.py a.txt b.txt")

    run_cell(page, 2)  # a third job, then the widget's Refresh button
    wait_for_steps(project, 3)
    page.locator(".roar-dag-refresh").click()
    expect(nodes).to_have_count(7)
    # A seven-node pipeline in the notebook's output area, at its default zoom: readable.
    sizes = [t["px"] for t in page.evaluate(TEXT_SIZES)]
    assert MIN_TEXT_PX - 0.01 <= min(sizes) and max(sizes) <= MAX_TEXT_PX + 0.01, sizes
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / front_end.screenshot))


def wait_for_steps(project: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with reader(Workspace(project).db_path) as r:
            session = r.active_session()
            if session and len(r.session_jobs(session.id)) >= count:
                return
        time.sleep(0.3)
    pytest.fail(f"the kernel did not record {count} jobs within {timeout} s")


def has_class(cls: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")
