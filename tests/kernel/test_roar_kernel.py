"""The roar kernel records every executed cell as a job: files, variables, outcome."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import pytest
from jupyter_core.utils import run_sync

from roar.tracing import preflight
from tests.conftest import commit_all
from tests.kernel.conftest import cell_text, jobs_in, names

WRITE_A = (
    "rows = [1, 2, 3]\nwith open('a.csv', 'w') as fh:\n    fh.write('\\n'.join(map(str, rows)))"
)
READ_A_WRITE_B = (
    "import subprocess\n"
    "with open('a.csv') as fh:\n"
    "    text = fh.read()\n"
    "subprocess.run(['sh', '-c', 'cat a.csv > b.csv'], check=True)"
)
USE_ROWS = "total = sum(rows)\ntotal"


def _three_cells(nb):
    outputs = [nb.cell(WRITE_A), nb.cell(READ_A_WRITE_B), nb.cell(USE_ROWS)]
    return outputs


def test_three_cells_give_file_and_variable_edges(notebook, repo, run_roar):
    nb = notebook()
    *_, third = _three_cells(nb)
    assert "6" in cell_text(third)

    jobs = jobs_in(repo)
    assert [j.kind for j in jobs] == ["cell", "cell", "cell"]
    first, second, last = jobs
    assert names(first.outputs) == ["a.csv"] and first.inputs == []
    assert names(second.inputs) == ["a.csv"] and names(second.outputs) == ["b.csv"]
    assert first.variables_defined == ["fh", "rows"]
    assert [(v.name, v.producer_job_uid) for v in last.variables_read] == [("rows", first.uid)]
    assert last.variables_defined == ["total"]
    for job, count in zip(jobs, (1, 2, 3), strict=True):
        assert job.notebook_path == str(repo / "analysis.ipynb")
        assert job.execution_count == count
        assert job.cell_id == nb.nb.cells[count - 1].id
        assert job.source == nb.nb.cells[count - 1].source
        assert job.exit_code == 0

    dag = run_roar("dag", "--json", cwd=repo).json()
    deps = {n["step_number"]: n["dependencies"] for n in dag["nodes"]}
    assert deps == {1: [], 2: [1], 3: [1]}
    var_deps = {n["step_number"]: n["variable_dependencies"] for n in dag["nodes"]}
    assert var_deps[3] == [{"step_number": 1, "names": ["rows"]}]
    assert all(n["kind"] == "cell" for n in dag["nodes"])
    text_dag = run_roar("dag", cwd=repo).stdout
    assert text_dag.count("cell [") == 3 and "← @1 (rows)" in text_dag
    shown = run_roar("show", "@3", cwd=repo).stdout
    assert f"Reads vars:  rows (from job {first.uid})" in shown and "  | total = sum(rows)" in shown
    as_json = run_roar("show", "@3", "--json", cwd=repo).json()
    assert as_json["kind"] == "cell" and as_json["cell_id"] == last.cell_id
    assert as_json["variables"]["read"] == [{"name": "rows", "producer_job_uid": first.uid}]


def _ready_backends() -> list[str]:
    return [b for b in preflight.BACKENDS if preflight.quick(b).ready]


@pytest.mark.parametrize("backend", preflight.BACKENDS)
def test_file_edges_under_each_backend(notebook, repo, backend):
    if backend not in _ready_backends():
        pytest.skip(f"{backend} is not ready here: {preflight.quick(backend).reason}")
    nb = notebook(env={"ROAR_KERNEL_TRACER": backend})
    _three_cells(nb)
    first, second, _ = jobs_in(repo)
    assert {first.tracer, second.tracer} == {backend}
    assert names(first.outputs) == ["a.csv"]
    assert names(second.inputs) == ["a.csv"] and names(second.outputs) == ["b.csv"]


def test_audit_hook_fallback_says_so_once_and_records_python_files(notebook, repo):
    nb = notebook(env={"ROAR_KERNEL_TRACER": "audit"})
    first, second, _ = _three_cells(nb)
    assert "audit hooks" in cell_text(first)
    assert "audit hooks" not in cell_text(second)
    jobs = jobs_in(repo)
    assert [j.tracer for j in jobs] == ["audit"] * 3
    assert names(jobs[0].outputs) == ["a.csv"]
    assert names(jobs[1].inputs) == ["a.csv"]
    assert jobs[1].outputs == []  # written by a subprocess: audit hooks cannot see it
    assert "subprocess" in " ".join(jobs[1].metadata["warnings"])


def test_rerunning_a_cell_adds_a_job_of_the_same_step(notebook, repo, run_roar):
    nb = notebook()
    _three_cells(nb)
    nb.run(1)
    jobs = jobs_in(repo)
    assert len(jobs) == 4
    assert jobs[3].step_number == jobs[1].step_number
    assert jobs[3].execution_count == 4 and jobs[3].cell_id == jobs[1].cell_id
    assert len(run_roar("dag", "--json", cwd=repo).json()["nodes"]) == 3
    expanded = run_roar("dag", "--expanded", "--json", cwd=repo).json()["nodes"]
    assert len(expanded) == 4
    assert [n["state"] for n in expanded].count("superseded") == 1


def test_a_failing_cell_is_recorded_and_the_kernel_keeps_working(notebook, repo):
    nb = notebook()
    failed = nb.cell("x = 1\nraise ValueError('bad input')")
    assert "ValueError: bad input" in cell_text(failed)
    after = nb.cell("y = x + 1\ny")
    assert "2" in cell_text(after)
    bad, good = jobs_in(repo)
    assert bad.exit_code == 1
    assert bad.metadata["error"] == {"ename": "ValueError", "evalue": "bad input"}
    assert bad.variables_defined == ["x"]
    assert good.exit_code == 0
    assert [(v.name, v.producer_job_uid) for v in good.variables_read] == [("x", bad.uid)]


def test_restart_keeps_the_store_consistent(notebook, repo):
    nb = notebook()
    _three_cells(nb)
    nb.restart()
    nb.run(0)
    again = nb.cell("print(len(rows))")
    assert "3" in cell_text(again)
    jobs = jobs_in(repo)
    assert len(jobs) == 5
    assert jobs[3].step_number == jobs[0].step_number  # the same cell: a rerun
    assert jobs[3].execution_count == 1  # a fresh kernel counts from 1
    # `rows` now comes from the restarted kernel's execution, not the old one.
    assert [(v.name, v.producer_job_uid) for v in jobs[4].variables_read] == [("rows", jobs[3].uid)]
    db = sqlite3.connect(repo / ".roar" / "roar.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_housekeeping_is_never_recorded(notebook, repo):
    # IPython's profile and history, and the connection file, inside the project on purpose.
    ipython_dir, runtime_dir = repo / "ipython", repo / "runtime"
    nb = notebook(
        env={"IPYTHONDIR": str(ipython_dir), "JUPYTER_RUNTIME_DIR": str(runtime_dir)},
        connection_file=runtime_dir / "kernel-test.json",
    )
    _three_cells(nb)
    nb.cell("%roar log")  # nothing but roar magics: a query, not a job
    nb.client.kc.execute("open('silent.txt', 'w').write('x')", silent=True)  # a front end's probe
    stored = nb.cell("kept = 1\n%store kept")  # IPython writes into its profile, mid-cell
    assert "Stored 'kept'" in cell_text(stored)
    assert ipython_dir.is_dir() and any(runtime_dir.iterdir())  # the kernel did use them
    jobs = jobs_in(repo)
    assert len(jobs) == 4 and jobs[3].variables_defined == ["kept"]
    paths = [f.path for j in jobs for f in (*j.inputs, *j.outputs)]
    assert sorted(os.path.basename(p) for p in paths) == ["a.csv", "a.csv", "b.csv"]
    assert not any(p.startswith((str(ipython_dir), str(runtime_dir), "/proc")) for p in paths)


def test_cells_run_on_a_dirty_tree_record_commit_dirty_flag_and_diff(notebook, repo):
    (repo / "README.md").write_text("changed\n")
    nb = notebook()
    nb.cell(WRITE_A)
    (job,) = jobs_in(repo)
    assert job.git_commit and job.git_dirty and job.git_diff_hash


def test_cells_outside_a_roar_project_say_so_once(notebook, repo):
    import shutil

    shutil.rmtree(repo / ".roar")
    commit_all(repo)
    nb = notebook()
    first, second = nb.cell("a = 1"), nb.cell("b = 2")
    assert "not in a roar project" in cell_text(first)
    assert "not in a roar project" not in cell_text(second)
    nb.cell("import sys\n!{sys.executable} -m roar init -y")  # as the message suggests
    nb.cell("c = a + b")
    # Recording starts right away (the init cell itself ends inside a project), no restart.
    assert [j.variables_defined for j in jobs_in(repo)] == [["sys"], ["c"]]


def test_an_interrupted_cell_is_recorded_and_the_kernel_survives(notebook, repo):
    nb = notebook()
    index = nb.add("import time\nopen('started.txt', 'w').write('1')\ntime.sleep(60)")
    # What a front end's stop button does: an interrupt request while the cell runs.
    threading.Timer(2.0, run_sync(nb.client.km.interrupt_kernel)).start()
    out = nb.run(index)
    assert "KeyboardInterrupt" in cell_text(out)
    assert "ok" in cell_text(nb.cell("print('ok')"))
    stopped, after = jobs_in(repo)
    assert stopped.interrupted and stopped.exit_code == 1 and after.exit_code == 0
    assert names(stopped.outputs) == ["started.txt"]


def test_the_kernel_exits_when_its_launcher_is_killed(notebook, repo):
    # Under preload a reaper process sits between them, so the kernel is not orphaned to init.
    nb = notebook(env={"ROAR_KERNEL_TRACER": "preload"})
    kernel_pid = int(cell_text(nb.cell("import os\nprint(os.getpid())")).strip())
    launcher = nb.client.km.provisioner.process
    assert launcher.pid != kernel_pid
    os.kill(launcher.pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _alive(kernel_pid):
        time.sleep(0.1)
    assert not _alive(kernel_pid)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_tracer_that_goes_away_never_breaks_the_notebook(notebook, repo):
    nb = notebook()
    nb.cell(WRITE_A)
    # The control socket to the tracer dies mid-cell (as if the tracer had crashed).
    broken = nb.cell("get_ipython().kernel.cells.tracer._client._sock.shutdown(2)\nx = 5")
    assert "tracer failed" in cell_text(broken) and "not recorded" in cell_text(broken)
    after = nb.cell("x * 2")
    assert "10" in cell_text(after) and "tracer failed" in cell_text(after)
    assert len(jobs_in(repo)) == 1  # only the cell before the failure


def test_a_store_recreated_mid_session_gets_the_next_cells(notebook, repo, run_roar):
    import shutil

    nb = notebook()
    nb.cell("a = 1")
    shutil.rmtree(repo / ".roar")  # the kernel keeps its store open between cells
    run_roar("init", "-y", cwd=repo)
    nb.cell("b = a + 1")
    (job,) = jobs_in(repo)  # written to the new store, not the unlinked old file
    assert job.variables_defined == ["b"]


def test_cells_follow_a_session_path_a_front_end_sets(notebook, repo):
    nb = notebook()
    nb.cell("a = 1")
    (repo / "analysis.ipynb").rename(repo / "moved.ipynb")
    nb.path = repo / "moved.ipynb"  # later cells are saved there
    # A front end that tells the kernel, as ipykernel set it at start from JPY_SESSION_NAME.
    reply = run_sync(nb.client.kc.execute_interactive)(
        "__session__ = 'moved.ipynb'", silent=True, timeout=60
    )
    assert reply["content"]["status"] == "ok"
    nb.cell("b = a + 1")
    first, second = jobs_in(repo)
    assert first.notebook_path == str(repo / "analysis.ipynb")
    assert second.notebook_path == str(repo / "moved.ipynb")
    assert second.cell_id == nb.nb.cells[1].id  # looked up in the notebook where it is now
