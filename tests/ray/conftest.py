"""A real two-node Ray cluster on this machine, started once per test session.

`ray start --head` and a second `ray start --address` (each with its own temp dir, one CPU, a
small object store, no dashboard), each in a session of its own so that teardown stops exactly
their process groups (never `ray stop`, which stops every Ray on the machine). Set
ROAR_TEST_RAY_ADDRESS to use a cluster already running instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

START_TIMEOUT_S = 240


@dataclass
class Cluster:
    address: str
    groups: list[int] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], temp_dir: str, env: dict[str, str]) -> int:
    log = open(os.path.join(temp_dir, "start.log"), "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            "ray",
            "start",
            *args,
            "--temp-dir",
            temp_dir,
            "--num-cpus",
            "1",
            "--object-store-memory",
            "100000000",
            "--disable-usage-stats",
            "--node-ip-address",
            "127.0.0.1",
            "--dashboard-agent-listen-port",
            str(_free_port()),
            "--metrics-export-port",
            str(_free_port()),
        ],  # fmt: skip
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its daemons keep this process group: teardown kills it
    )
    try:
        code = proc.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _stop([proc.pid])
        raise
    if code != 0:
        _stop([proc.pid])
        text = open(os.path.join(temp_dir, "start.log")).read()
        raise RuntimeError(f"ray start {' '.join(args)} failed ({code}):\n{text[-3000:]}")
    return proc.pid


def _stop(groups: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(g) for g in groups):
            time.sleep(0.2)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Cluster]:
    pytest.importorskip("ray")
    existing = os.environ.get("ROAR_TEST_RAY_ADDRESS")
    if existing:
        yield Cluster(existing)
        return
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    # Short paths: Ray's Unix sockets live under the temp dir (108-byte limit).
    head_dir = tempfile.mkdtemp(prefix="rr1", dir="/tmp")
    node_dir = tempfile.mkdtemp(prefix="rr2", dir="/tmp")
    port = _free_port()
    groups: list[int] = []
    try:
        groups.append(
            _start(
                [
                    "--head",
                    "--port",
                    str(port),
                    "--include-dashboard=false",
                    "--ray-client-server-port",
                    str(_free_port()),
                    "--min-worker-port",
                    "0",
                    "--max-worker-port",
                    "0",
                ],  # fmt: skip
                head_dir,
                env,
            )
        )
        groups.append(
            _start(
                [
                    "--address",
                    f"127.0.0.1:{port}",
                    "--min-worker-port",
                    "0",
                    "--max-worker-port",
                    "0",
                ],  # fmt: skip
                node_dir,
                env,
            )
        )
        yield Cluster(f"127.0.0.1:{port}", groups)
    finally:
        _stop(groups)
        shutil.rmtree(head_dir, ignore_errors=True)
        shutil.rmtree(node_dir, ignore_errors=True)
