"""`%roar` and `%%roar`, in the roar kernel and in a plain IPython kernel."""

from __future__ import annotations

import pytest

from roar.tracing import preflight
from tests.conftest import commit_all
from tests.kernel.conftest import cell_text, jobs_in, names

WRITE_A = "open('a.csv', 'w').write('1\\n2\\n')"
COPY_A_TO_C_AND_FAIL = "%roar run sh -c 'echo copying; cat a.csv > c.csv; exit 3'"


def test_roar_run_records_a_job_with_its_output_and_exit_code(notebook, repo):
    nb = notebook()
    nb.cell(WRITE_A)
    ran = nb.cell(COPY_A_TO_C_AND_FAIL)
    text = cell_text(ran)
    assert "copying" in text  # the command's own output, in the cell
    assert "Exit code: 3" in text
    assert "3" in cell_text(nb.cell("_exit_code"))
    cell_job, run_job, _ = jobs_in(repo)
    assert run_job.kind == "run" and run_job.exit_code == 3
    assert run_job.argv == ["sh", "-c", "echo copying; cat a.csv > c.csv; exit 3"]
    assert names(run_job.inputs) == ["a.csv"] and names(run_job.outputs) == ["c.csv"]
    assert run_job.tracer == cell_job.tracer != "audit"


def test_roar_run_inside_a_cell_keeps_the_two_jobs_apart(notebook, repo):
    nb = notebook()
    nb.cell(
        "open('before.txt', 'w').write('x')\n"
        "%roar run sh -c 'echo y > during.txt'\n"
        "open('after.txt', 'w').write('z')"
    )
    jobs = jobs_in(repo)
    by_kind = {j.kind: j for j in jobs}
    assert names(by_kind["run"].outputs) == ["during.txt"]
    assert names(by_kind["cell"].outputs) == ["after.txt", "before.txt"]


def test_roar_run_refuses_a_dirty_tree_with_the_cli_message(notebook, repo):
    (repo / "README.md").write_text("edited\n")
    nb = notebook()
    refused = cell_text(nb.cell("%roar run sh -c 'echo hi > out.txt'"))
    assert "Error: Git repository has uncommitted changes" in refused
    assert "--allow-dirty" in refused
    assert jobs_in(repo) == []
    nb.cell("%roar run --allow-dirty sh -c 'echo hi > out.txt'")
    (job,) = jobs_in(repo)
    assert job.git_dirty and job.git_diff_hash and names(job.outputs) == ["out.txt"]


def test_query_magics_print_into_the_cell(notebook, repo):
    nb = notebook()
    nb.cell(WRITE_A)
    nb.cell(COPY_A_TO_C_AND_FAIL)
    assert "Job Log (2 jobs)" in cell_text(nb.cell("%roar log"))
    # plain `%roar dag` shows the viewer widget (tests/widget); text flags print the CLI view
    assert "Pipeline: 2 steps" in cell_text(nb.cell("%roar dag --show-artifacts"))
    shown = cell_text(nb.cell("%roar show c.csv"))
    assert "c.csv" in shown and "@2" in shown
    assert "steps" in cell_text(nb.cell("%roar status")).lower()
    assert "Usage" in cell_text(nb.cell("%roar"))


@pytest.mark.parametrize("backend", ["ebpf", "ptrace"])
def test_roar_cell_magic_in_a_plain_kernel_records_a_cell_job(notebook, repo, backend):
    from roar.tracing.attach import attachable_backends

    why_not = dict(attachable_backends())[backend]
    if why_not:
        pytest.skip(f"{backend} cannot attach here: {why_not}")
    nb = notebook(kernel="python3", env={"ROAR_KERNEL_TRACER": backend})
    nb.cell("%load_ext roar_kernel")
    nb.cell("n = 2")
    out = nb.cell(
        "%%roar\n"
        "import subprocess\n"
        "open('x.txt', 'w').write(str(n))\n"
        "subprocess.run(['sh', '-c', 'cp x.txt y.txt'], check=True)\n"
        "n * 21"
    )
    assert "42" in cell_text(out) and "recorded this cell as step @1" in cell_text(out)
    (job,) = jobs_in(repo)
    assert job.kind == "cell" and job.tracer == backend
    assert names(job.outputs) == ["x.txt", "y.txt"]  # the subprocess's write too
    assert job.source.startswith("import subprocess")
    assert [v.name for v in job.variables_read] == ["n"]
    nb.cell("open('z.txt', 'w').write('untraced')")  # no %%roar: not recorded
    assert len(jobs_in(repo)) == 1


def test_roar_cell_magic_in_the_roar_kernel_is_one_cell_job(notebook, repo):
    nb = notebook()
    out = nb.cell("%%roar\nopen('x.txt', 'w').write('1')\n6 * 7")
    assert "42" in cell_text(out)
    (job,) = jobs_in(repo)
    assert job.kind == "cell" and names(job.outputs) == ["x.txt"]


def test_roar_cell_magic_falls_back_to_audit_hooks_and_says_so(notebook, repo):
    nb = notebook(kernel="python3", env={"ROAR_KERNEL_TRACER": "audit"})
    nb.cell("%load_ext roar_kernel")
    first = nb.cell("%%roar\nopen('x.txt', 'w').write('1')")
    second = nb.cell("%%roar\nopen('w.txt', 'w').write('2')")
    assert "audit hooks" in cell_text(first) and "audit hooks" not in cell_text(second)
    jobs = jobs_in(repo)
    assert [j.tracer for j in jobs] == ["audit", "audit"]
    assert [names(j.outputs) for j in jobs] == [["x.txt"], ["w.txt"]]


def test_roar_cell_magic_error_fails_the_cell_and_is_recorded(notebook, repo):
    nb = notebook(kernel="python3", env={"ROAR_KERNEL_TRACER": "audit"})
    nb.cell("%load_ext roar_kernel")
    out = nb.cell("%%roar\nraise KeyError('gone')")
    assert "KeyError" in cell_text(out)
    (job,) = jobs_in(repo)
    assert job.exit_code == 1 and job.metadata["error"]["ename"] == "KeyError"


def test_roar_run_in_a_plain_kernel_traces_the_command(notebook, repo):
    commit_all(repo)
    nb = notebook(kernel="python3")
    nb.cell("%load_ext roar_kernel")
    nb.cell(WRITE_A)
    text = cell_text(nb.cell("%roar run sh -c 'cat a.csv > c.csv'"))
    assert "Exit code: 0" in text
    (job,) = jobs_in(repo)
    assert job.kind == "run" and names(job.outputs) == ["c.csv"]


def test_kernel_install_list_uninstall(run_roar, tmp_path, monkeypatch):
    prefix = tmp_path / "prefix"
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    installed = run_roar(
        "kernel", "install", "--prefix", str(prefix), "--name", "roar-t", cwd=tmp_path
    )
    assert "Installed kernelspec roar-t" in installed.stdout
    spec = prefix / "share" / "jupyter" / "kernels" / "roar-t" / "kernel.json"
    assert '"roar_kernel"' in spec.read_text()
    listed = run_roar("kernel", "list", "--json", cwd=tmp_path).json()["kernels"]
    assert "roar-t" in [k["name"] for k in listed]
    run_roar("kernel", "uninstall", "--name", "roar-t", cwd=tmp_path)
    assert not spec.exists()
    missing = run_roar("kernel", "uninstall", "--name", "roar-t", cwd=tmp_path, check=False)
    assert missing.returncode != 0 and "No roar kernelspec named roar-t" in missing.stderr


def test_roar_run_started_from_a_cell_picks_a_backend_that_can_nest(notebook, repo):
    if not preflight.quick("ebpf").ready:
        pytest.skip(f"ebpf is not ready here: {preflight.quick('ebpf').reason}")
    commit_all(repo)
    nb = notebook(env={"ROAR_KERNEL_TRACER": "ebpf"})
    nb.cell("import sys\n" + WRITE_A)
    out = cell_text(nb.cell("!{sys.executable} -m roar run sh -c 'cat a.csv > n.csv'"))
    assert "Exit code: 0" in out
    nested = [j for j in jobs_in(repo) if j.kind == "run"]
    assert len(nested) == 1 and nested[0].tracer != "ebpf" and names(nested[0].outputs) == ["n.csv"]
    refused = cell_text(nb.cell("!{sys.executable} -m roar run --tracer ebpf true"))
    assert "already runs under roar's ebpf tracer" in refused and "%roar run" in refused


def _streams(cell) -> dict[str, str]:
    text: dict[str, str] = {}
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            text[out["name"]] = text.get(out["name"], "") + out["text"]
    return text


@pytest.mark.parametrize("kernel", ["roar", "python3"])
def test_roar_run_report_is_output_on_success_and_an_error_on_failure(notebook, repo, kernel):
    nb = notebook(kernel=kernel)
    if kernel == "python3":
        nb.cell("%load_ext roar_kernel")
    ok = _streams(nb.cell("%roar run sh -c 'echo made > out.txt'"))
    assert "Exit code: 0" in ok.get("stdout", "") and "Step: @" in ok["stdout"]
    assert "stderr" not in ok, ok["stderr"]  # JupyterLab would draw it in a pink box
    failed = _streams(nb.cell("%roar run sh -c 'exit 3'"))
    assert "Exit code: 3" in failed.get("stderr", "") and "Exit code" not in failed.get(
        "stdout", ""
    )
