"""The release wheel, installed into a new virtualenv outside the repository with no Rust
toolchain on PATH: every tracer backend this host allows is ready, a three-step pipeline records
under each, the kernel installs and runs a notebook, roar-lsp answers `initialize`, and the sdist
builds into a wheel too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import blake3
import pytest

from tests.conftest import commit_all, make_repo
from tests.install.conftest import REPO, Installed, maturin

pytestmark = pytest.mark.slow

PIPELINE = REPO / "demo" / "pipeline"
STEPS = (["prepare.py"], ["train.py", "--epochs=3"], ["evaluate.py"])


def host_allows(backend: str) -> bool:
    """What this host permits, independent of roar: eBPF needs root and BTF."""
    if backend == "ebpf":
        return os.geteuid() == 0 and Path("/sys/kernel/btf/vmlinux").exists()
    return True  # preload and ptrace need no privileges here (no seccomp or Yama lock-down)


def test_no_rust_toolchain_and_no_source_tree(installed_wheel: Installed, tmp_path):
    for tool in ("cargo", "rustc", "maturin"):
        assert shutil.which(tool, path=installed_wheel.env["PATH"]) is None, tool
    where = installed_wheel.run(
        installed_wheel.bin("python"),
        "-c",
        "import roar, roar._native, roar_kernel, lsp_server, jupyter_ext; print(roar.__file__)",
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(installed_wheel.venv)), where


def test_every_backend_the_host_allows_is_ready(installed_wheel: Installed, tmp_path):
    table = json.loads(installed_wheel.run("roar", "tracer", "--json", cwd=tmp_path).stdout)
    ready = {row["backend"]: row for row in table["backends"]}
    assert set(ready) == {"ebpf", "preload", "ptrace"}
    for backend, row in ready.items():
        if host_allows(backend):
            assert row["ready"], f"{backend} is not ready from the wheel: {row}"


@pytest.mark.parametrize("backend", ["ebpf", "preload", "ptrace"])
def test_three_step_pipeline_records_under_each_backend(
    installed_wheel: Installed, tmp_path, backend
):
    if not host_allows(backend):
        pytest.skip(f"this host does not allow {backend}")
    repo = make_repo(tmp_path / "project")
    for script in PIPELINE.glob("*.py"):
        shutil.copy(script, repo / script.name)
    (repo / ".gitignore").write_text("data/\nmodels/\nmetrics.json\n")
    (repo / "data").mkdir()
    (repo / "models").mkdir()
    installed_wheel.run("roar", "init", "-y", cwd=repo)
    commit_all(repo, "pipeline")
    for step in STEPS:
        installed_wheel.run("roar", "run", "-q", "--tracer", backend, "python", *step, cwd=repo)

    jobs = json.loads(installed_wheel.run("roar", "log", "--json", cwd=repo).stdout)["jobs"]
    assert sorted(j["command"] for j in jobs) == sorted(" ".join(["python", *s]) for s in STEPS)
    assert {j["tracer"] for j in jobs} == {backend}
    assert all(j["exit_code"] == 0 for j in jobs)

    dag = json.loads(installed_wheel.run("roar", "dag", "--json", cwd=repo).stdout)
    deps = {n["step_ref"]: sorted(n["dependencies"]) for n in dag["nodes"]}
    assert deps == {"@1": [], "@2": [1], "@3": [1, 2]}
    evaluate = next(n for n in dag["nodes"] if n["step_ref"] == "@3")
    (metrics,) = evaluate["outputs"]
    assert metrics["path"] == str(repo / "metrics.json")
    assert metrics["hash"] == blake3.blake3((repo / "metrics.json").read_bytes()).hexdigest()


def test_kernel_installs_for_the_user_and_runs_a_notebook(installed_wheel: Installed, tmp_path):
    repo = make_repo(tmp_path / "project")
    installed_wheel.run("roar", "init", "-y", cwd=repo)
    commit_all(repo, "initial")
    installed_wheel.run("roar", "kernel", "install", "--user", cwd=repo)
    listed = installed_wheel.run("roar", "kernel", "list", cwd=repo).stdout
    assert "roar" in listed and str(installed_wheel.home) in listed, listed

    notebook = repo / "analysis.ipynb"
    script = f"""
import nbformat
from nbclient import NotebookClient
nb = nbformat.v4.new_notebook()
nb.cells = [
    nbformat.v4.new_code_cell("open('numbers.txt', 'w').write('1 2 3')"),
    nbformat.v4.new_code_cell("total = sum(map(int, open('numbers.txt').read().split()))\\nprint(total)"),
]
nbformat.write(nb, {str(notebook)!r})
client = NotebookClient(nb, kernel_name="roar", timeout=120, resources={{"metadata": {{"path": {str(repo)!r}}}}})
client.execute()
print(nb.cells[1].outputs[0]["text"].strip())
"""
    out = installed_wheel.run(installed_wheel.bin("python"), "-c", script, cwd=repo).stdout
    assert out.strip().splitlines()[-1] == "6"

    jobs = json.loads(installed_wheel.run("roar", "log", "--json", cwd=repo).stdout)["jobs"]
    cells = sorted((j for j in jobs if j["kind"] == "cell"), key=lambda j: j["step_number"])
    assert len(cells) == 2, jobs
    writer, reader = cells
    assert [o["path"] for o in writer["outputs"]] == [str(repo / "numbers.txt")]
    assert [i["path"] for i in reader["inputs"]] == [str(repo / "numbers.txt")]
    assert reader["inputs"][0]["hash"] == blake3.blake3(b"1 2 3").hexdigest()


def lsp_message(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def read_lsp_message(stream) -> dict:
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    assert length, "roar-lsp closed its output without answering"
    return json.loads(stream.read(length))


def test_roar_lsp_answers_initialize(installed_wheel: Installed, tmp_path):
    proc = subprocess.Popen(
        [installed_wheel.bin("roar-lsp")],
        cwd=tmp_path,
        env=installed_wheel.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(
            lsp_message(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}},
                }
            )
        )
        proc.stdin.flush()
        reply = read_lsp_message(proc.stdout)
        assert reply["id"] == 1
        capabilities = reply["result"]["capabilities"]
        assert capabilities["hoverProvider"]
        assert reply["result"]["serverInfo"]["name"] == "roar-lsp"
        for message in (
            {"jsonrpc": "2.0", "id": 2, "method": "shutdown"},
            {"jsonrpc": "2.0", "method": "exit"},
        ):
            proc.stdin.write(lsp_message(message))
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_sdist_builds_a_working_wheel(tmp_path):
    """The sdist carries everything a build needs: Rust crates, the eBPF sources, the viewer."""
    out = tmp_path / "sdist"
    subprocess.run([*maturin(), "sdist", "--out", str(out)], cwd=REPO, check=True, timeout=300)
    (sdist,) = out.glob("roar-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in (
        "Cargo.toml",
        "rust/roar-ebpf/bpf/roar.bpf.c",
        "rust/roar-preload/build.rs",
        "roar/cli/main.py",
        "jupyter_ext/static/dag_view.js",
    ):
        assert needed in names, f"{needed} missing from {sdist.name}"

    # Build it as pip would from PyPI, reusing the workspace's compiled dependencies.
    env = {**os.environ, "CARGO_TARGET_DIR": str(REPO / "target")}
    built = tmp_path / "from-sdist"
    subprocess.run(
        ["pip", "wheel", "-q", "--no-deps", "-w", str(built), str(sdist)],
        check=True,
        env=env,
        timeout=1800,
    )
    (wheel,) = built.glob("roar-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
    assert "roar/_native.abi3.so" in members
    assert "jupyter_ext/static/widget.js" in members
