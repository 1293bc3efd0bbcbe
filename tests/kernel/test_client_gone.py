"""When the process holding the kernel manager dies, even by SIGKILL, the roar kernel and its
launcher exit as a plain ipykernel does, and the cells run before are in the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from roar.tracing import preflight
from tests.kernel.conftest import jobs_in

# A client in a process of its own: it starts the kernel with jupyter_client (which sets
# JPY_PARENT_PID), runs cells without waiting for them to be recorded, says which processes
# hold the kernel, and waits to be killed.
CLIENT = r"""
import json, os, sys, time
from jupyter_client import KernelManager

repo, report = sys.argv[1], sys.argv[2]
km = KernelManager(kernel_name=sys.argv[3])
km.start_kernel(cwd=repo, env={**os.environ, "JPY_SESSION_NAME": "client.ipynb"})
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=120)
printed = []
def run(code):
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda m: printed.append(
        m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", reply["content"]
for i in range(3):
    run(f"v{i} = {i}\nwith open('f{i}.txt', 'w') as fh:\n    fh.write('{i}' * 100_000)")
run("import os\nprint(os.getpid())")
info = {"launcher": km.provisioner.process.pid, "kernel": int(printed[-1])}
with open(report + ".tmp", "w") as fh:
    json.dump(info, fh)
os.replace(report + ".tmp", report)
time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("kernel", "backend"),
    [("python3", None), *(("roar", b) for b in (*preflight.BACKENDS, "audit"))],
)
def test_kernel_and_launcher_exit_when_the_client_is_killed(
    jupyter_path, repo, tmp_path, kernel, backend
):
    if backend not in (None, "audit") and not preflight.quick(backend).ready:
        pytest.skip(f"{backend} is not ready here: {preflight.quick(backend).reason}")
    report = tmp_path / "pids.json"
    log = open(tmp_path / "client.log", "w")  # noqa: SIM115 (closed below)
    env = {**os.environ, "ROAR_KERNEL_TRACER": backend} if backend else None
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(repo), str(report), kernel],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while not report.exists():
            assert client.poll() is None, (tmp_path / "client.log").read_text()
            assert time.monotonic() < deadline, "the client did not start the kernel"
            time.sleep(0.2)
        info = json.loads(report.read_text())
        pids = [info["launcher"], info["kernel"]]
        if kernel == "roar":
            assert pids[0] != pids[1]
        os.kill(client.pid, signal.SIGKILL)  # no shutdown request, no signal to the kernel
        client.wait()
        # ipykernel polls once a second; the launcher stops the kernel at once (SIGTERM, and
        # SIGKILL 10 s later if need be), then writes the queued cells.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        assert not [p for p in pids if _alive(p)], "still running after the client was killed"
    finally:
        for pid in pids:  # what this test started, if it failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if client.poll() is None:
            os.kill(client.pid, signal.SIGKILL)
            client.wait()
        log.close()
    if kernel == "roar":  # every cell that ran before is in the store
        assert [j.execution_count for j in jobs_in(repo)] == [1, 2, 3, 4]
