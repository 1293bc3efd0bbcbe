"""A throw-away two-node Ray cluster on this machine (tests/ray and benchmarks/bench_ray.py).

`ray start --head` and a second `ray start --address` (each with its own temp dir, one CPU, a
small object store, no dashboard), each in a session of its own so that ``stop`` ends exactly
their process groups (never `ray stop`, which stops every Ray on the machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

START_TIMEOUT_S = 240
ATTEMPTS = 5
WORKER_PORTS = 30000  # the first worker port range's start (see _worker_ports)


@dataclass
class LocalCluster:
    address: str
    groups: list[int] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    def stop(self) -> None:
        _stop(self.groups)
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


def start(nodes: int = 2, object_store_bytes: int = 100_000_000) -> LocalCluster:
    # A loaded machine starts the node's agent slowly: the raylet waits for it longer.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_agent_register_timeout_ms": "180000"}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    cluster = LocalCluster(f"127.0.0.1:{port}")
    ports = _worker_ports(nodes)
    try:
        for n in range(nodes):
            # Short paths: Ray's Unix sockets live under the temp dir (108-byte limit).
            temp_dir = tempfile.mkdtemp(prefix=f"rr{n}", dir="/tmp")
            cluster.dirs.append(temp_dir)
            if n == 0:
                role = ["--head", "--port", str(port), "--include-dashboard=false",
                        "--ray-client-server-port", str(_free_port())]  # fmt: skip
            else:
                role = ["--address", cluster.address]
            args = [*role, "--temp-dir", temp_dir, "--num-cpus", "1",
                    "--object-store-memory", str(object_store_bytes), "--disable-usage-stats",
                    "--node-ip-address", "127.0.0.1",
                    # workers' ports: a range per node, clear of Ray's default 10002-19999
                    "--min-worker-port", str(ports + 1000 * n),
                    "--max-worker-port", str(ports + 1000 * n + 999)]  # fmt: skip
            cluster.groups.append(_start_retrying(args, temp_dir, env))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _worker_ports(nodes: int) -> int:
    """The first port of ``nodes`` ranges of 1,000 for the workers, clear of another cluster
    this module started on the machine (another test session's): the first base from
    WORKER_PORTS on, in steps of the ranges, whose first ports are free."""
    for base in range(WORKER_PORTS, 60000 - 1000 * nodes, 1000 * nodes):
        if all(_is_free(base + 1000 * n + k) for n in range(nodes) for k in range(3)):
            return base
    return WORKER_PORTS


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_retrying(args: list[str], temp_dir: str, env: dict[str, str]) -> int:
    """`ray start` gives a node 30 s (hard-coded in ray/_private/node.py) to register, and the
    raylet gives up (and dies) when its dashboard agent, a Python process, has not written its
    port file within ~17 s: at a load average of 6-10 on 2 cores both are missed now and then,
    so a start that timed out is tried again."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _start(args, temp_dir, env)
        except RuntimeError as exc:
            if attempt == ATTEMPTS or "timed out during startup" not in str(exc):
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def _start(args: list[str], temp_dir: str, env: dict[str, str]) -> int:
    log_path = os.path.join(temp_dir, "start.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            ["ray", "start", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its daemons keep this process group: stop() ends it
        )
    try:
        code = proc.wait(timeout=START_TIMEOUT_S)
    except BaseException:  # too slow, or the caller interrupted (a test's timeout): no leak
        _stop([proc.pid])
        raise
    if code != 0:
        _stop([proc.pid])
        with open(log_path) as f:
            text = f.read()
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
    except PermissionError:
        return True
