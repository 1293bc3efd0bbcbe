"""A prefix `roar get --hash` stages its objects in a hidden folder beside DEST; when roar is
killed (SIGKILL) mid-transfer, the folder stays, and the next roar command that opens the store
removes it. The slow prefix is real: moto (an S3 emulator on 127.0.0.1) behind a loopback TCP
relay of this test that holds back object downloads until the test lets them go."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from roar.transfer import staging
from tests.conftest import ROAR
from tests.transfer.conftest import Project


class HoldingRelay:
    """Forwards 127.0.0.1:port to the emulator; a request for a key under ``hold`` waits until
    ``release`` is set (``held`` is set when one arrives)."""

    def __init__(self, upstream: str, hold: bytes) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.hold = hold
        self.held = threading.Event()
        self.release = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        try:
            while data := src.recv(65536):
                if requests and data.startswith(b"GET ") and self.hold in data.split(b"\r\n")[0]:
                    self.held.set()
                    self.release.wait(60)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.release.set()
        self.server.close()


@pytest.fixture
def relay(project: Project) -> Iterator[HoldingRelay]:
    r = HoldingRelay(project.s3.endpoint, b"/slow/")
    try:
        yield r
    finally:
        r.close()


def test_staging_folder_of_a_killed_get_is_removed_by_the_next_command(
    project: Project, relay: HoldingRelay
) -> None:
    s3, bucket = project.s3, project.s3.bucket()
    for i in range(5):
        s3.client.put_object(Bucket=bucket, Key=f"slow/{i}.bin", Body=os.urandom(4096))
    env = {**os.environ, **s3.env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"}
    proc = subprocess.Popen(
        [*ROAR, "get", f"s3://{bucket}/slow/", "data/", "--hash", "ab" * 32],
        cwd=project.root, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert relay.held.wait(120), "roar get never asked for an object"
        markers = list(staging.tmp_dir(project.root / ".roar" / "roar.db").iterdir())
        assert [m.name.split("-")[:2] for m in markers] == [["get", str(proc.pid)]]
        folder = Path(markers[0].read_text().strip())
        assert folder.parent == project.root and folder.is_dir()  # staged beside data/
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert folder.is_dir() and markers[0].exists()  # what SIGKILL leaves
    assert not (project.root / "data").exists()
    project.roar("log")  # any command that opens the store for writing
    assert not folder.exists()
    assert not (project.root / ".roar" / "tmp").exists()


def test_a_live_roars_staging_folder_is_left_alone(project: Project, tmp_path: Path) -> None:
    db = project.root / ".roar" / "roar.db"
    with staging.staging_folder(db, str(tmp_path)) as folder:
        (Path(folder) / "part").write_bytes(b"x")
        assert staging.sweep(db) == 0 and os.path.isdir(folder)
    assert not os.path.exists(folder) and not staging.tmp_dir(db).exists()
    # A marker of a process that is gone, naming a folder that is not its own: only the
    # marker goes.
    staging.tmp_dir(db).mkdir()
    other = tmp_path / "keep"
    other.mkdir()
    (staging.tmp_dir(db) / "get-999999999-1-abcd").write_text(str(other))
    assert staging.sweep(db) == 1 and other.is_dir()
