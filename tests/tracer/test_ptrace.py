"""The ptrace backend on real processes, through roar._native.spawn_traced."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import roar._native as native

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


def test_python_read_write(trace):
    (trace.cwd / "in.txt").write_text("data")
    t = trace(
        py("""
        data = open('in.txt').read()
        open('out.txt', 'w').write(data.upper())
    """)
    )
    assert t.exit_code == 0
    assert t.flags("in.txt") == "r"
    assert t.flags("out.txt") == "wc"


def test_shell_redirect_dup2(trace):
    (trace.cwd / "a").write_text("hello")
    t = trace(["sh", "-c", "cat a > b"])
    assert t.flags("a") == "r"
    assert t.flags("b") == "wc"


def test_cp(trace):
    (trace.cwd / "a").write_bytes(os.urandom(100_000))
    t = trace(["cp", "a", "b"])
    assert t.exit_code == 0
    assert t.flags("a") == "r"
    assert t.flags("b") == "wc"


def test_fd_reuse_by_pipe_is_not_an_output(trace):
    (trace.cwd / "A").write_text("a")
    (trace.cwd / "B").write_text("b")
    t = trace(
        py("""
        import os
        fa = os.open('A', os.O_RDONLY); fb = os.open('B', os.O_RDONLY)
        os.read(fa, 10); os.read(fb, 10)
        os.close(fa); os.close(fb)
        r, w = os.pipe()
        assert {r, w} == {fa, fb}, (r, w, fa, fb)
        os.write(w, b'through the pipe')
    """)
    )
    assert t.exit_code == 0
    assert t.flags("A") == "r"
    assert t.flags("B") == "r"


def test_thread_writes_file_opened_by_main_thread(trace):
    t = trace(
        py("""
        import threading
        f = open('shared.txt', 'w')
        th = threading.Thread(target=lambda: (f.write('from thread'), f.flush()))
        th.start(); th.join(); f.close()
        print(open('shared.txt').read())
    """)
    )
    assert t.exit_code == 0
    assert t.flags("shared.txt") == "wc"


def test_many_threads_many_files(trace):
    t = trace(
        py("""
        import threading
        def work(i):
            for j in range(20):
                with open(f'out_{i}_{j}.txt', 'w') as f:
                    f.write('x')
        ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
    """)
    )
    assert t.exit_code == 0
    for i in range(8):
        for j in range(20):
            assert t.flags(f"out_{i}_{j}.txt") == "wc"
    assert len(t.summary["processes"]) == 1  # threads are not processes


def test_dirfd_openat_and_chdir(trace):
    (trace.cwd / "d1").mkdir()
    (trace.cwd / "d1" / "in.txt").write_text("x")
    (trace.cwd / "d2").mkdir()
    t = trace(
        py("""
        import os
        d = os.open('d1', os.O_RDONLY | os.O_DIRECTORY)
        fd = os.open('in.txt', os.O_RDONLY, dir_fd=d)
        os.read(fd, 10); os.close(fd)
        os.chdir('d2')
        open('out.txt', 'w').write('y')
        os.chdir('..')
        fd = os.open('../d1/./sub_out', os.O_WRONLY | os.O_CREAT, dir_fd=d)
        os.close(fd)
    """)
    )
    assert t.exit_code == 0
    assert t.flags("d1/in.txt") == "r"
    assert t.flags("d2/out.txt") == "wc"
    assert t.flags("d1/sub_out") == "wc"
    assert t["d1"]["is_dir"] and t["d1"]["dir_list"]


def test_rdwr_trunc_is_write_only(trace):
    (trace.cwd / "f").write_text("old")
    t = trace(
        py("""
        import os
        fd = os.open('f', os.O_RDWR | os.O_TRUNC); os.write(fd, b'new'); os.close(fd)
    """)
    )
    assert t.flags("f") == "w"
    assert t["f"]["mtime_ns_before"] is None


def test_rdwr_without_trunc_is_update(trace):
    (trace.cwd / "f").write_text("old")
    mtime = os.stat(trace.cwd / "f").st_mtime_ns
    t = trace(
        py("""
        with open('f', 'r+') as f: f.write('N')
        with open('g', 'a') as f: f.write('new file')
    """)
    )
    assert t.flags("f") == "rw"
    assert t["f"]["mtime_ns_before"] == mtime
    assert t.flags("g") == "wc"


def test_temp_file_then_rename(trace):
    t = trace(
        py("""
        import os
        with open('result.json.tmp', 'w') as f: f.write('{}')
        os.rename('result.json.tmp', 'result.json')
    """)
    )
    assert t["result.json.tmp"] is None
    assert t.flags("result.json") == "wc"
    assert t.summary["renames"] == [
        {
            "from": str(trace.cwd / "result.json.tmp"),
            "to": str(trace.cwd / "result.json"),
            "exchange": False,
        }
    ]


def test_rename_over_existing_and_of_input(trace):
    (trace.cwd / "final").write_text("old")
    (trace.cwd / "moved").write_text("m")
    t = trace(
        py("""
        import os
        open('tmp', 'w').write('new'); os.replace('tmp', 'final')
        os.rename('moved', 'moved2')
    """)
    )
    assert t.flags("final") == "w"
    assert t.flags("moved") == "d"
    assert t.flags("moved2") == "wc"


def test_unlink_and_rmdir(trace):
    (trace.cwd / "gone").write_text("x")
    (trace.cwd / "dir").mkdir()
    t = trace(
        py("""
        import os
        os.unlink('gone'); os.rmdir('dir')
        open('scratch', 'w').write('x'); os.unlink('scratch')
        os.mkdir('newdir')
    """)
    )
    assert t.flags("gone") == "d"
    assert t.flags("dir") == "d" and t["dir"]["is_dir"]
    assert t.flags("scratch") == "wcd"
    assert t.flags("newdir") == "c" and t["newdir"]["is_dir"]


def test_truncate(trace):
    (trace.cwd / "t1").write_text("abcdef")
    (trace.cwd / "t2").write_text("abcdef")
    t = trace(
        py("""
        import os
        os.truncate('t1', 2)
        fd = os.open('t2', os.O_WRONLY); os.ftruncate(fd, 1); os.close(fd)
    """)
    )
    assert "w" in t.flags("t1") and "r" not in t.flags("t1")
    assert "w" in t.flags("t2")


def test_failed_open_is_not_a_read(trace):
    t = trace(
        py("""
        for name in ('missing.txt', 'nodir/x'):
            try: open(name)
            except OSError: pass
        try: open('/proc/1/nonexistent', 'w')
        except OSError: pass
    """)
    )
    assert t.exit_code == 0
    assert t["missing.txt"] is None
    assert t["nodir/x"] is None


def test_symlink_read_records_target_and_symlink_creation(trace):
    (trace.cwd / "real.txt").write_text("x")
    os.symlink("real.txt", trace.cwd / "link.txt")
    t = trace(
        py("""
        import os
        open('link.txt').read()
        os.symlink('real.txt', 'link2.txt')
    """)
    )
    assert t.flags("real.txt") == "r"  # the kernel's view: the target
    assert t.flags("link2.txt") == "c"


def test_fork_vfork_posix_spawn_exec(trace, tracees):
    t = trace([tracees["fork_chain"]])
    assert t.exit_code == 5
    for name in ("forked.txt", "vforked.txt", "spawned.txt", "execd.txt"):
        assert t.flags(name) == "wc", name
    procs = t.summary["processes"]
    root = t.summary["root_pid"]
    assert len(procs) >= 4
    assert all(p["exit_code"] is not None for p in procs)
    assert any(p["ppid"] == root for p in procs if p["pid"] != root)
    assert t.files[str(tracees["fork_chain"])]["exec"]


def test_exec_from_non_leader_thread(trace, tracees):
    t = trace([tracees["thread_exec"]])
    assert t.exit_code == 4
    assert t.flags("thread_exec.txt") == "wc"


def test_static_binary(trace, tracees):
    (trace.cwd / "static_in.txt").write_text("in")
    t = trace([tracees["static_writer"]])
    assert t.exit_code == 0
    assert t.flags("static_out.txt") == "wc"
    assert t.flags("static_in.txt") == "r"


def test_grandchild_writes_after_parent_exit(trace, tracees):
    t = trace([tracees["grandchild"]])
    assert t.exit_code == 0
    assert t.flags("late.txt") == "wc"


def test_tmpfile_linkat(trace, tracees):
    t = trace([tracees["tmpfile_linkat"]])
    assert t.exit_code == 0
    assert t.flags("named.txt") == "wc"
    assert t.flags("named2.txt") == "wc"
    assert not any("#" in p for p in t.files)


def test_exit_codes_forwarded(trace):
    assert trace(["sh", "-c", "exit 7"]).exit_code == 7
    t = trace(["sh", "-c", "kill -9 $$"])
    assert t.exit_code == 128 + 9
    assert t.summary["exit_signal"] == 9


def test_missing_command(trace):
    t = trace(["no-such-command-roar-test"])
    assert t.exit_code == 127
    assert "no-such-command-roar-test" in t.summary["exec_error"]
    t = trace([str(trace.cwd / "missing-binary")])
    assert t.exit_code == 127
    assert t.summary["exec_error"]


def test_not_executable_is_126(trace):
    (trace.cwd / "plain").write_text("not a program")
    (trace.cwd / "plain").chmod(0o644)
    t = trace(["./plain"])
    assert t.exit_code == 126
    assert t.summary["exec_error"]


def test_sigint_terminates_with_130(tmp_path):
    proc = native.spawn_traced(["sleep", "30"], cwd=str(tmp_path))
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    out = proc.wait(10)
    assert out is not None
    s = json.loads(out)
    assert s["exit_code"] == 130
    assert s["exit_signal"] == signal.SIGINT


def test_wait_timeout_and_repeat(tmp_path):
    proc = native.spawn_traced(["sleep", "0.5"], cwd=str(tmp_path))
    t0 = time.monotonic()
    assert proc.wait(0.05) is None
    assert time.monotonic() - t0 < 0.4
    first = proc.wait()
    assert first is not None and proc.wait(0) == first
    assert proc.done()


def test_wait_returns_promptly(tmp_path):
    proc = native.spawn_traced(["true"], cwd=str(tmp_path))
    t0 = time.monotonic()
    assert proc.wait(5) is not None
    assert time.monotonic() - t0 < 0.5


def test_bytes_argv_env_and_non_utf8_path(tmp_path):
    cwd = tmp_path.resolve()
    proc = native.spawn_traced(
        [b"sh", b"-c", b'echo x > "$NAME"'],
        env={b"NAME": b"caf\xe9.txt", "PATH": os.environ["PATH"]},
        cwd=os.fsencode(cwd),
    )
    s = json.loads(proc.wait(10))
    assert s["exit_code"] == 0
    paths = [os.fsencode(f["path"]) for f in s["files"]]
    assert os.fsencode(cwd) + b"/caf\xe9.txt" in paths


def test_unknown_backend_and_bad_args():
    with pytest.raises(ValueError):
        native.spawn_traced(["true"], backend="nope")
    with pytest.raises(ValueError):
        native.spawn_traced([])
    with pytest.raises(ValueError):
        native.spawn_traced(["tr\0ue"])


def test_host_children_are_not_reaped_by_tracer(tmp_path):
    """The host's own subprocesses (git, ...) must keep their exit codes."""
    proc = native.spawn_traced(["sleep", "0.5"], cwd=str(tmp_path))
    codes = [subprocess.run(["sh", "-c", "exit 3"]).returncode for _ in range(10)]
    assert codes == [3] * 10
    assert json.loads(proc.wait(10))["exit_code"] == 0


def test_concurrent_traces(tmp_path):
    results = []

    def one(i):
        d = tmp_path / str(i)
        d.mkdir()
        p = native.spawn_traced(["sh", "-c", f"echo {i} > out; exit {i}"], cwd=str(d))
        results.append(json.loads(p.wait(30)))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(r["exit_code"] for r in results) == list(range(6))


IO_URING_SETUP = py("""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    nr = 425  # io_uring_setup on x86_64 and aarch64 alike
    for _ in range(3):  # more than once: still one warning
        fd = libc.syscall(nr, 8, params)
        if fd < 0:
            sys.exit(100 + ctypes.get_errno())
        os.close(fd)
""")


def test_io_uring_setup_runs_and_is_reported_once(trace):
    """io_uring_setup is not denied (a program without a fallback would fail): it returns what
    it returns untraced, and a ring is reported once, in the eBPF backend's words."""
    untraced = subprocess.run(IO_URING_SETUP).returncode
    t = trace(IO_URING_SETUP)
    assert t.exit_code == untraced
    warned = [w for w in t.summary["warnings"] if "io_uring" in w]
    if untraced == 0:
        assert warned == [
            "io_uring_setup was called: file accesses made through io_uring are invisible to "
            "the ptrace tracer"
        ]
    else:  # disabled here for everyone (kernel.io_uring_disabled): nothing was set up
        assert warned == []


def test_exec_and_process_tree(trace):
    t = trace(["sh", "-c", "true; ls > /dev/null"])
    execs = [p for p, f in t.files.items() if f["exec"]]
    assert any(p.endswith("/ls") for p in execs), execs
    argvs = [p["argv"] for p in t.summary["processes"]]
    assert ["ls"] in argvs
    assert ["sh", "-c", "true; ls > /dev/null"] in argvs


def test_summary_shape(trace):
    (trace.cwd / "in").write_text("x")
    t = trace(["sh", "-c", "cat in > out"])
    s = t.summary
    top = {
        "format": str,
        "version": int,
        "backend": str,
        "root_pid": int,
        "exit_code": int,
        "start_ns": int,
        "end_ns": int,
        "files": list,
        "renames": list,
        "processes": list,
        "warnings": list,
        "stats": dict,
    }
    for k, ty in top.items():
        assert isinstance(s[k], ty), k
    assert s["format"] == "roar-access-summary" and s["version"] == 1
    assert s["backend"] == "ptrace"
    assert s["exit_signal"] is None and s["exec_error"] is None
    assert s["start_ns"] <= s["end_ns"]
    bools = ("read", "write", "create", "delete", "exec", "dir_list", "is_dir")
    for f in s["files"]:
        assert set(f) == {"path", "mtime_ns_before", *bools}
        assert os.path.isabs(f["path"]) and os.path.normpath(f["path"]) == f["path"]
        assert all(isinstance(f[b], bool) for b in bools)
    for p in s["processes"]:
        assert set(p) == {"pid", "ppid", "argv", "exe", "exit_code", "exit_signal"}
    assert set(s["stats"]) == {"stops", "events"}
    assert [f["path"] for f in s["files"]] == sorted(f["path"] for f in s["files"])


# Read-only opens and unlink/rmdir stop only at syscall entry (the tracer
# probes the path itself); these pin down that the answers are unchanged.


def test_enoent_probe_then_create_is_create_only(trace):
    t = trace(
        py("""
        import os
        try: open('later.txt')
        except FileNotFoundError: pass
        assert not os.path.exists('later.txt')
        open('later.txt', 'w').write('x')
        open('later.txt').read()
    """)
    )
    assert t.exit_code == 0
    assert t.flags("later.txt") == "wc"


def test_failed_removals_leave_no_delete(trace):
    (trace.cwd / "full").mkdir()
    (trace.cwd / "full" / "inner").write_text("x")
    (trace.cwd / "adir").mkdir()
    (trace.cwd / "afile").write_text("x")
    t = trace(
        py("""
        import os
        for f, name in [(os.unlink, 'missing'), (os.rmdir, 'full'),
                        (os.unlink, 'adir'), (os.rmdir, 'afile'),
                        (os.unlink, 'afile/'), (os.rmdir, 'nodir/x'),
                        (os.unlink, '')]:
            try: f(name)
            except OSError: pass
            else: raise SystemExit(f'{name} removed')
    """)
    )
    assert t.exit_code == 0
    for name in ("missing", "full", "full/inner", "adir", "afile", "nodir/x"):
        assert t[name] is None, (name, t[name])
    assert all(not f["delete"] for f in t.summary["files"]), t.summary["files"]


def test_removal_through_symlinked_dir_names_the_real_parent(trace):
    (trace.cwd / "real").mkdir()
    (trace.cwd / "real" / "f").write_text("x")
    (trace.cwd / "real" / "sub").mkdir()
    os.symlink("real", trace.cwd / "alias")
    t = trace(py("import os; os.unlink('alias/f'); os.rmdir('alias/./sub')"))
    assert t.exit_code == 0
    assert t.flags("real/f") == "d"
    assert t.flags("real/sub") == "d" and t["real/sub"]["is_dir"]
    assert t["alias/f"] is None


def test_read_through_symlinks_records_target(trace):
    (trace.cwd / "data").mkdir()
    (trace.cwd / "data" / "real.txt").write_text("x")
    os.symlink("data", trace.cwd / "dlink")
    os.symlink(trace.cwd / "data" / "real.txt", trace.cwd / "abs_link")
    os.symlink("dlink/real.txt", trace.cwd / "chain")
    t = trace(
        py("""
        import os
        for p in ('abs_link', 'chain', os.path.abspath('dlink/real.txt')):
            open(p).read()
        try: os.open('chain', os.O_RDONLY | os.O_NOFOLLOW)
        except OSError: pass
        else: raise SystemExit('O_NOFOLLOW opened a symlink')
    """)
    )
    assert t.exit_code == 0
    assert t.flags("data/real.txt") == "r"
    for name in ("abs_link", "chain", "dlink", "dlink/real.txt"):
        assert t[name] is None, name


def test_nofollow_on_regular_file_is_a_read(trace):
    (trace.cwd / "plain").write_text("x")
    t = trace(py("import os; os.close(os.open('plain', os.O_RDONLY | os.O_NOFOLLOW))"))
    assert t.flags("plain") == "r"


def test_relative_read_after_chdir_in_other_thread(trace):
    (trace.cwd / "sub").mkdir()
    (trace.cwd / "x.txt").write_text("top")
    (trace.cwd / "sub" / "x.txt").write_text("sub")
    t = trace(
        py("""
        import os, threading
        moved = threading.Event(); done = threading.Event()
        def mover():
            os.chdir('sub'); moved.set(); done.wait()
        th = threading.Thread(target=mover); th.start()
        moved.wait()
        assert open('x.txt').read() == 'sub'  # the cwd is shared by threads
        done.set(); th.join()
    """)
    )
    assert t.exit_code == 0
    assert t.flags("sub/x.txt") == "r"
    assert t["x.txt"] is None


def test_dirfd_relative_read_resolves(trace):
    (trace.cwd / "d1" / "deep").mkdir(parents=True)
    (trace.cwd / "d1" / "deep" / "in.txt").write_text("x")
    (trace.cwd / "d1" / "other.txt").write_text("x")
    t = trace(
        py("""
        import os
        d = os.open('d1/deep', os.O_RDONLY | os.O_DIRECTORY)
        os.chdir('/')
        os.close(os.open('in.txt', os.O_RDONLY, dir_fd=d))
        os.close(os.open('../other.txt', os.O_RDONLY, dir_fd=d))
        try: os.open('nothere', os.O_RDONLY, dir_fd=d)
        except FileNotFoundError: pass
    """)
    )
    assert t.exit_code == 0
    assert t.flags("d1/deep/in.txt") == "r"
    assert t.flags("d1/other.txt") == "r"
    assert t.flags("d1/deep") == "l" and t["d1/deep"]["is_dir"]
    assert t["d1/deep/nothere"] is None


def test_magic_links_resolve_in_the_tracee(trace):
    """/dev/stdin is /proc/self/fd/0: it must name the tracee's stdin (a
    file here), not the tracer's."""
    (trace.cwd / "in.txt").write_text("x")
    t = trace(["sh", "-c", "cat /dev/stdin < in.txt > /dev/null; cat /proc/self/status > out"])
    assert t.exit_code == 0
    assert t.flags("in.txt") == "r"
    me = str(os.getpid())
    for f in t.summary["files"]:
        assert not f["path"].startswith(f"/proc/{me}/"), f["path"]


def test_unix_socket_open_is_not_a_read(trace):
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(trace.cwd / "sock"))
    try:
        t = trace(
            py("""
            try: open('sock')
            except OSError: pass
            else: raise SystemExit('opened a socket')
        """)
        )
    finally:
        s.close()
    assert t.exit_code == 0
    assert t["sock"] is None


# Writes the host's current PM QoS CPU latency bound (µs) to lat.txt.
WRITE_CPU_LATENCY = (
    "import struct; v = struct.unpack('i', open('/dev/cpu_dma_latency', 'rb').read(4))[0]; "
    "open('lat.txt', 'w').write(str(v))"
)


def test_idle_cpus_poll_while_a_job_is_traced(trace, monkeypatch):
    """The PM QoS request of roar-ptrace/src/latency.rs holds during the job, ends with it,
    and can be turned off."""
    lat = trace.cwd / "lat.txt"
    subprocess.run([PY, "-c", WRITE_CPU_LATENCY], cwd=trace.cwd, check=True)
    default = int(lat.read_text())
    assert default > 0
    assert trace([PY, "-c", WRITE_CPU_LATENCY]).exit_code == 0
    assert int(lat.read_text()) == 0  # idle CPUs poll while the job runs
    subprocess.run([PY, "-c", WRITE_CPU_LATENCY], cwd=trace.cwd, check=True)
    assert int(lat.read_text()) == default  # and the request ended with the job
    monkeypatch.setenv("ROAR_PTRACE_LOW_LATENCY", "0")
    assert trace([PY, "-c", WRITE_CPU_LATENCY]).exit_code == 0
    assert int(lat.read_text()) == default


def test_a_long_lived_trace_holds_the_latency_request_only_during_intervals(tmp_path):
    """A notebook kernel is idle most of its life: idle CPUs must not spin all that time."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import struct\n"
        "from roar.tracing.intervals import IntervalClient\n"
        "def bound():\n"
        "    return struct.unpack('i', open('/dev/cpu_dma_latency', 'rb').read(4))[0]\n"
        "client = IntervalClient.from_environment()\n"
        "seen = [bound()]\n"
        "client.begin('cell')\n"
        "seen.append(bound())\n"
        "client.end()\n"
        "seen.append(bound())\n"
        "open('seen.txt', 'w').write(' '.join(map(str, seen)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).parents[2])}
    proc = native.spawn_traced(
        [PY, str(script)], env=env, cwd=str(tmp_path), backend="ptrace", intervals=True
    )
    assert proc.wait(60) is not None
    before, during, after = map(int, (tmp_path / "seen.txt").read_text().split())
    assert before > 0 and during == 0 and after == before
