"""One set of workloads, every backend, the same story.

Each workload states what happened to each file it touches, as flag letters (see
``Traced.flags``) for paths relative to its working directory, and every backend must report
exactly that — no more, no fewer paths under the working directory — plus the same renames.
The only differences allowed are the documented ones, listed in ``EXPECTED_DIFFERENCES``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", textwrap.dedent(code)]


@dataclass
class Workload:
    argv: Callable[[dict[str, Path]], list[str]]
    expect: dict[str, str]
    setup: Callable[[Path], None] = lambda cwd: None
    renames: list[tuple[str, str]] = field(default_factory=list)
    exit_code: int = 0


def files(contents: dict[str, str]) -> Callable[[Path], None]:
    def make(cwd: Path) -> None:
        for name, text in contents.items():
            path = cwd / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return make


def _symlinked(cwd: Path) -> None:
    (cwd / "real.txt").write_text("x")
    os.symlink("real.txt", cwd / "link.txt")


WORKLOADS: dict[str, Workload] = {
    "python_io": Workload(
        lambda t: py("open('out.txt', 'w').write(open('in.txt').read().upper())"),
        {"in.txt": "r", "out.txt": "wc"},
        files({"in.txt": "data"}),
    ),
    "c_fork_vfork_posix_spawn_exec": Workload(
        lambda t: [t["fork_chain"]],
        {"forked.txt": "wc", "vforked.txt": "wc", "spawned.txt": "wc", "execd.txt": "wc"},
        exit_code=5,
    ),
    "c_stdio_fopen_freopen": Workload(
        lambda t: [t["stdio_copy"]],
        {"in.txt": "r", "out.txt": "wc", "log.txt": "wc"},
        files({"in.txt": "line\n"}),
    ),
    "rdwr_trunc": Workload(
        lambda t: py("import os; fd = os.open('f', os.O_RDWR | os.O_TRUNC); os.write(fd, b'n')"),
        {"f": "w"},
        files({"f": "old"}),
    ),
    "rdwr_update": Workload(
        lambda t: py("import os; fd = os.open('f', os.O_RDWR); os.read(fd, 1); os.write(fd, b'n')"),
        {"f": "rw"},
        files({"f": "old"}),
    ),
    "temp_rename": Workload(
        lambda t: py("import os; open('r.tmp', 'w').write('{}'); os.rename('r.tmp', 'r.json')"),
        {"r.json": "wc"},
        renames=[("r.tmp", "r.json")],
    ),
    "dirfd_and_chdir": Workload(
        lambda t: py("""
            import os
            d = os.open('d1', os.O_RDONLY | os.O_DIRECTORY)
            os.read(os.open('in.txt', os.O_RDONLY, dir_fd=d), 9)
            os.chdir('d2'); open('out.txt', 'w').write('y'); os.chdir('..')
            os.close(os.open('../d1/./sub_out', os.O_WRONLY | os.O_CREAT, dir_fd=d))
        """),
        {"d1": "l", "d1/in.txt": "r", "d2/out.txt": "wc", "d1/sub_out": "wc"},
        files({"d1/in.txt": "x", "d2/keep": "k"}),
    ),
    "threads": Workload(
        lambda t: py("""
            import threading
            f = open('shared.txt', 'w')
            def work(i):
                f.write('x'); open(f'out_{i}.txt', 'w').write(str(i))
            ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            [t.start() for t in ts]; [t.join() for t in ts]
        """),
        {"shared.txt": "wc", **{f"out_{i}.txt": "wc" for i in range(4)}},
    ),
    "exec_chain": Workload(
        lambda t: ["sh", "-c", "exec sh -c 'exec cat in.txt > chained.txt'"],
        {"in.txt": "r", "chained.txt": "wc"},
        files({"in.txt": "data"}),
    ),
    "redirect_and_pipeline": Workload(
        lambda t: ["sh", "-c", "cat a | tr a-z A-Z > b; cat a >> log"],
        {"a": "r", "b": "wc", "log": "rw"},
        files({"a": "hello", "log": "old\n"}),
    ),
    "cp": Workload(lambda t: ["cp", "a", "b"], {"a": "r", "b": "wc"}, files({"a": "x" * 100_000})),
    "truncate": Workload(
        lambda t: ["truncate", "-s", "0", "t1"], {"t1": "w"}, files({"t1": "abcdef"})
    ),
    "unlink_rmdir_mkdir": Workload(
        lambda t: ["sh", "-c", "rm gone && rmdir dir && mkdir newdir && touch s && rm s"],
        {"gone": "d", "dir": "d", "newdir": "c", "s": "wcd"},
        lambda cwd: (files({"gone": "x"})(cwd), (cwd / "dir").mkdir()),
    ),
    "grandchild_after_parent_exit": Workload(lambda t: [t["grandchild"]], {"late.txt": "wc"}),
    "failed_opens": Workload(
        lambda t: py("""
            for name in ('missing.txt', 'nodir/x'):
                try: open(name)
                except OSError: pass
        """),
        {},
    ),
    "symlink_read": Workload(
        lambda t: py("open('link.txt').read()"),
        {"real.txt": "r"},
        _symlinked,
    ),
    "tmpfile_linkat": Workload(
        lambda t: [t["tmpfile_linkat"]], {"named.txt": "wc", "named2.txt": "wc"}
    ),
    "static_writer": Workload(
        lambda t: [t["static_writer"]],
        {"static_in.txt": "r", "static_out.txt": "wc"},
        files({"static_in.txt": "in"}),
    ),
}

# The documented differences (rust/roar-preload/README.md): preload cannot see inside a
# statically linked binary, and says so.
EXPECTED_DIFFERENCES = {("preload", "static_writer"): {}}


def _under(cwd: Path, traced) -> dict[str, str]:
    prefix = str(cwd) + os.sep
    return {
        p[len(prefix) :]: traced.flags(p[len(prefix) :])
        for p in traced.files
        if p.startswith(prefix)
    }


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_same_summary_under_every_backend(name, backend, backend_trace, tracees):
    work = WORKLOADS[name]
    cwd = backend_trace.cwd
    work.setup(cwd)
    t = backend_trace(work.argv(tracees))
    assert t.summary["backend"] == backend
    assert t.exit_code == work.exit_code, t.summary
    expected = EXPECTED_DIFFERENCES.get((backend, name), work.expect)
    seen = {path: flags for path, flags in _under(cwd, t).items() if flags}
    assert seen == expected, f"{backend} on {name}"
    renames = [(Path(r["from"]).name, Path(r["to"]).name) for r in t.summary["renames"]]
    assert renames == work.renames


def test_preload_says_a_static_binary_was_not_seen(tracees, backend_trace, backend):
    (backend_trace.cwd / "static_in.txt").write_text("in")
    t = backend_trace([tracees["static_writer"]])
    blind = [w for w in t.summary["warnings"] if "static_writer" in w]
    if backend == "preload":
        assert blind and "statically linked" in blind[0]
        assert "ptrace" in blind[0] or "ebpf" in blind[0]  # and names a backend that would see it
    else:
        assert not blind


def test_io_uring_program_runs_as_untraced_and_is_reported(
    tracees, backend_trace, backend, tmp_path_factory
):
    """Tracing never changes what a program does: one that needs io_uring (no fallback: it exits
    3 if io_uring_setup fails, ptrace used to deny it) behaves exactly as it does untraced, and a
    ring it set up is reported once, since its I/O is not seen. Compared with an untraced run,
    not assumed: the kernel or the container may disable io_uring for everyone."""
    argv = ["sh", "-c", f"{tracees['uring_writer']} > said.txt"]
    alone = tmp_path_factory.mktemp("untraced")
    untraced = subprocess.run(argv, cwd=alone).returncode
    t = backend_trace(argv)
    cwd = backend_trace.cwd
    assert t.exit_code == untraced, (backend, (cwd / "said.txt").read_text())
    assert (cwd / "said.txt").read_text() == (alone / "said.txt").read_text()
    made = (alone / "uring.txt").exists()
    assert (cwd / "uring.txt").exists() == made
    warned = [w for w in t.summary["warnings"] if "io_uring" in w]
    if made:
        assert untraced == 0
        assert (cwd / "uring.txt").read_text() == "written through io_uring\n"
        assert t.flags("uring.txt") == "wc"  # opened with a plain open: seen
        assert len(warned) == 1, t.summary["warnings"]
        assert "file accesses made through" in warned[0] and backend in warned[0].lower()
    else:
        assert warned == [], t.summary["warnings"]  # no ring, nothing unseen
