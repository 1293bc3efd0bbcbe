"""The eBPF loader service's life cycle, as roar drives it (real service, real BPF)."""

from __future__ import annotations

import pytest

from roar.tracing import ebpf_service


@pytest.fixture
def own_socket(tmp_path, monkeypatch):
    sock = tmp_path / "svc" / "ebpf.sock"
    monkeypatch.setenv(ebpf_service.SOCKET_ENV, str(sock))
    yield sock
    ebpf_service.stop(sock)


def _pid(sock) -> int:
    return int(sock.with_suffix(".pid").read_text())


def test_started_on_demand_once_and_reused(own_socket):
    assert not ebpf_service.is_running()
    assert ebpf_service.ensure_running() == own_socket
    first = _pid(own_socket)
    assert ebpf_service.ensure_running() == own_socket
    assert _pid(own_socket) == first  # reused, not restarted
    assert own_socket.with_suffix(".version").read_text() == ebpf_service._our_version()


def test_a_service_of_another_build_is_replaced(own_socket):
    ebpf_service.ensure_running()
    old = _pid(own_socket)
    own_socket.with_suffix(".version").write_text("0.0.0-some-other-build")
    ebpf_service.ensure_running()
    assert _pid(own_socket) != old
    assert ebpf_service.is_running()


def test_a_stale_pid_file_never_kills_a_stranger(own_socket):
    own_socket.parent.mkdir(parents=True)
    own_socket.with_suffix(".pid").write_text("1")  # pid 1 is not the service
    assert ebpf_service.stop(own_socket) is False
