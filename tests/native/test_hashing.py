"""Tests for roar._native hashing (rust/roar-hash + rust/roar-native/src/hash.rs).

Build the module first: ``pip install -e . --no-build-isolation``.
The PyPI ``blake3`` package is used as an independent reference when present.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

# A broken build must fail these tests, not skip them; the reference is a test dependency.
import blake3 as blake3_ref
import pytest

import roar._native as native

EMPTY_BLAKE3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MiB = 1 << 20


def ref_digest(data: bytes, algo: str = "blake3") -> str:
    if algo == "sha256":
        return hashlib.sha256(data).hexdigest()
    return blake3_ref.blake3(data).hexdigest()


def pattern(n: int, seed: int = 0) -> bytes:
    block = bytes((i * 7 + seed) % 256 for i in range(4096))
    return (block * (n // len(block) + 1))[:n]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 64 MiB file of random bytes (well above the 1 MiB threshold for parallel hashing)."""
    data = os.urandom(64 * MiB)
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(data)
    return path, data


# --- algorithms and constants -------------------------------------------------


def test_hash_algorithms_constant():
    assert native.HASH_ALGORITHMS == ("blake3", "sha256")


def test_empty_input_official_vector(tmp_path):
    assert native.hash_bytes(b"") == EMPTY_BLAKE3
    assert native.hash_bytes(b"", "sha256") == EMPTY_SHA256
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert native.hash_file(str(empty)) == EMPTY_BLAKE3
    assert native.hash_file(str(empty), "sha256") == EMPTY_SHA256
    [(hexd, size, _dev, _ino, _mtime)] = native.hash_files([str(empty)])
    assert (hexd, size) == (EMPTY_BLAKE3, 0)


@pytest.mark.parametrize("fn", ["hash_file", "hash_bytes", "hash_files", "composite_digest"])
def test_unknown_algo_raises_value_error(fn, tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    args = {
        "hash_file": (str(f),),
        "hash_bytes": (b"x",),
        "hash_files": ([str(f)],),
        "composite_digest": ([("a", EMPTY_BLAKE3)],),
    }[fn]
    with pytest.raises(ValueError) as ei:
        getattr(native, fn)(*args, "md5")
    assert "blake3" in str(ei.value) and "sha256" in str(ei.value)
    with pytest.raises(ValueError):
        getattr(native, fn)(*args, algo="BLAKE3")


# --- bytes --------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1023, 1024, 1025, 4096, 100_000, MiB + 1, 3 * MiB])
@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_hash_bytes_matches_reference(n, algo):
    data = pattern(n, seed=n)
    assert native.hash_bytes(data, algo) == ref_digest(data, algo)
    assert native.hash_bytes(data, algo=algo) == ref_digest(data, algo)


def test_hash_bytes_accepts_bytes_like():
    data = b"hello world"
    expect = native.hash_bytes(data)
    assert native.hash_bytes(bytearray(data)) == expect
    assert native.hash_bytes(memoryview(data)) == expect
    with pytest.raises(TypeError):
        native.hash_bytes("not bytes")


# --- single files -------------------------------------------------------------


@pytest.mark.parametrize(
    "n", [1, 1023, 1024, 1025, 65536, MiB - 1, MiB, MiB + 1, 2 * MiB + 12345, 4 * MiB, 8 * MiB + 1]
)
@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_hash_file_matches_reference_around_parallel_threshold(tmp_path, n, algo):
    data = pattern(n, seed=3)
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    assert native.hash_file(str(f), algo) == ref_digest(data, algo)


@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_large_file_chunked_path(big_file, algo):
    path, data = big_file
    assert native.hash_file(str(path), algo) == ref_digest(data, algo)
    [(hexd, size, *_)] = native.hash_files([str(path)], algo)
    assert hexd == ref_digest(data, algo)
    assert size == len(data)


def test_hash_file_accepts_str_bytes_and_pathlike(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    expect = ref_digest(b"abc")
    assert native.hash_file(str(f)) == expect
    assert native.hash_file(os.fsencode(f)) == expect
    assert native.hash_file(f) == expect
    with pytest.raises(TypeError):
        native.hash_file(123)
    with pytest.raises(ValueError):
        native.hash_file("a\0b")


def test_hash_file_errors_are_oserror_subclasses(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as ei:
        native.hash_file(str(missing))
    assert ei.value.filename == str(missing)
    with pytest.raises(IsADirectoryError):
        native.hash_file(str(tmp_path))
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        native.hash_file(str(f / "child"))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):  # and does not block
        native.hash_file(str(fifo))


# --- permission helpers -------------------------------------------------------


@contextlib.contextmanager
def unprivileged():
    """Run the body without the power to bypass file permissions.

    As root, temporarily switch the effective uid to nobody (glibc applies
    seteuid to every thread, including rayon's workers); otherwise no-op.
    """
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def world_dir():
    """A directory every user can traverse (pytest's tmp_path is 0700 for root)."""
    d = tempfile.mkdtemp(prefix="roar-hash-perm-", dir="/tmp")
    os.chmod(d, 0o755)
    try:
        yield pathlib.Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_hash_file_permission_error(world_dir):
    secret = world_dir / "secret"
    secret.write_bytes(b"s")
    os.chmod(secret, 0)
    with unprivileged(), pytest.raises(PermissionError):
        native.hash_file(str(secret))


# --- many files ---------------------------------------------------------------


@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_hash_files_parallel_matches_one_by_one(tmp_path, algo):
    paths = []
    for i in range(2000):
        p = tmp_path / f"f{i:05d}"
        p.write_bytes(pattern(i * 13 % 9000, seed=i))
        paths.append(str(p))
    big = tmp_path / "big"
    big.write_bytes(pattern(3 * MiB, seed=1))
    paths.insert(1000, str(big))
    batch = native.hash_files(paths, algo)
    assert len(batch) == len(paths)
    for p, r in zip(paths, batch, strict=True):
        assert isinstance(r, tuple), (p, r)
        assert r[0] == native.hash_file(p, algo) == ref_digest(pathlib.Path(p).read_bytes(), algo)


def test_hash_files_metadata_from_stat(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    os.utime(f, ns=(1_600_000_000_123_456_789, 1_700_000_000_987_654_321))
    [(hexd, size, dev, ino, mtime_ns)] = native.hash_files([str(f)])
    st = os.stat(f)
    assert hexd == ref_digest(b"hello")
    assert (size, dev, ino, mtime_ns) == (st.st_size, st.st_dev, st.st_ino, st.st_mtime_ns)
    assert mtime_ns == 1_700_000_000_987_654_321
    assert all(isinstance(x, int) for x in (size, dev, ino, mtime_ns))


def test_hash_files_errors_per_entry(tmp_path):
    ok = tmp_path / "ok"
    ok.write_bytes(b"ok")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    paths = [str(ok), str(tmp_path / "missing"), str(tmp_path), str(ok / "x"), str(fifo), str(ok)]
    res = native.hash_files(paths)
    assert len(res) == 6
    assert res[0][0] == ref_digest(b"ok")
    assert res[1] == "missing"
    assert res[2] == "directory"
    assert isinstance(res[3], str) and res[3].startswith("error: ")
    assert isinstance(res[4], str) and res[4].startswith("error: ") and "regular" in res[4]
    assert res[5] == res[0]
    assert native.hash_files([]) == []


def test_hash_files_permission_per_entry(world_dir):
    readable = world_dir / "readable"
    readable.write_bytes(b"r")
    os.chmod(readable, 0o644)
    secret = world_dir / "secret"
    secret.write_bytes(b"s")
    os.chmod(secret, 0)
    with unprivileged():
        res = native.hash_files([str(secret), str(readable), str(world_dir / "nope")])
    assert res[0] == "permission"
    assert res[1][0] == ref_digest(b"r")
    assert res[2] == "missing"


def test_hash_files_rejects_single_string():
    with pytest.raises(TypeError):
        native.hash_files("/etc/passwd")


# --- non-UTF-8 names ----------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux", reason="arbitrary name bytes need Linux")
def test_non_utf8_file_names(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff\xfe.bin"
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 name")
    expect = ref_digest(b"latin-1 name")
    as_str = os.fsdecode(raw)  # surrogateescape'd str
    assert native.hash_file(raw) == expect
    assert native.hash_file(as_str) == expect
    res = native.hash_files([raw, as_str, raw + b"-missing"])
    assert res[0][0] == expect and res[1][0] == expect
    assert res[2] == "missing"
    # composite: the str (surrogateescape) and bytes spellings are the same member
    name_b = b"d/caf\xe9"
    assert native.composite_digest([(name_b, expect)]) == native.composite_digest(
        [(os.fsdecode(name_b), expect)]
    )


# --- composite digest ---------------------------------------------------------


def _members():
    return [
        ("data/train.csv", native.hash_bytes(b"train")),
        ("data/test.csv", native.hash_bytes(b"test")),
        ("README", native.hash_bytes(b"readme")),
        ("a/b/c", native.hash_bytes(b"")),
    ]


@pytest.mark.parametrize("algo", ["blake3", "sha256"])
def test_composite_matches_documented_format(algo):
    members = [(p, native.hash_bytes(p.encode(), algo)) for p, _ in _members()]
    lines = b"".join(
        p.encode() + b"\0" + d.encode() + b"\n"
        for p, d in sorted(members, key=lambda m: m[0].encode())
    )
    assert native.composite_digest(members, algo) == ref_digest(lines, algo)


def test_composite_order_independent():
    m = _members()
    d = native.composite_digest(m)
    assert native.composite_digest(list(reversed(m))) == d
    assert native.composite_digest(sorted(m, key=lambda x: x[1])) == d
    assert native.composite_digest(tuple(m)) == d


def test_composite_changes_with_member_content_and_name():
    m = _members()
    d = native.composite_digest(m)
    changed = [m[0], (m[1][0], native.hash_bytes(b"test2")), *m[2:]]
    assert native.composite_digest(changed) != d
    renamed = [m[0], ("data/test2.csv", m[1][1]), *m[2:]]
    assert native.composite_digest(renamed) != d
    assert native.composite_digest(m[:-1]) != d
    assert native.composite_digest(m, "sha256") != d


def test_composite_edge_cases():
    assert native.composite_digest([]) == EMPTY_BLAKE3
    assert native.composite_digest([("a", "ab")]) == native.composite_digest([(b"a", "ab")])
    with pytest.raises(ValueError):
        native.composite_digest([("a", "NOT-HEX")])
    with pytest.raises(ValueError):
        native.composite_digest([("a", "")])
    with pytest.raises(ValueError):
        native.composite_digest([("a\0b", "ab")])
    with pytest.raises(TypeError):
        native.composite_digest([("only-path",)])


# --- GIL ----------------------------------------------------------------------


def test_hashing_releases_the_gil(big_file):
    """While a thread hashes a big file, the main thread keeps running Python."""
    path, _ = big_file
    t0 = time.perf_counter()
    native.hash_file(str(path), "sha256")  # single-threaded: the slowest call
    single = time.perf_counter() - t0

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        done = threading.Event()

        def work():
            native.hash_file(str(path), "sha256")
            done.set()

        th = threading.Thread(target=work)
        last = time.perf_counter()
        max_gap = 0.0
        th.start()
        while not done.is_set():
            now = time.perf_counter()
            max_gap = max(max_gap, now - last)
            last = now
        th.join()
    finally:
        sys.setswitchinterval(old)
    # With the GIL held for the whole call, the main thread would stall ~`single`.
    assert max_gap < max(single / 2, 0.005), (max_gap, single)


# --- a file another process keeps changing ----------------------------------------------------

# Truncates the file and appends it again, 1 MiB at a time, until killed: at every moment its
# content is a prefix of BLOCK * PIECES.
WRITER = """
import os, sys
path, pieces = sys.argv[1], int(sys.argv[2])
block = bytes(i * 7 % 251 for i in range(1 << 20))
fd = os.open(path, os.O_WRONLY)
print("writing", flush=True)
while True:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    for _ in range(pieces):
        os.write(fd, block)
"""

# Hashes the file for `seconds` with every entry point; checks each digest against the
# prefix of the size it reports, and prints the counts as JSON. Run apart from pytest: the old
# memory-mapped hasher died of SIGBUS here, which must fail the test, not end the session.
HASHER = """
import hashlib, json, sys, time
import blake3
import roar._native as native
from roar.record import hashing
path, pieces, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = bytes(i * 7 % 251 for i in range(1 << 20)) * pieces
def ref(size, algo):
    chunk = data[:size]
    if algo == "blake3":
        return blake3.blake3(chunk).hexdigest()
    return hashlib.sha256(chunk).hexdigest()
counts = {"digests": 0, "changed": 0, "bad": []}
def check(algo, digest, size):
    if size > len(data) or digest != ref(size, algo):
        counts["bad"].append([algo, size])
    else:
        counts["digests"] += 1
end = time.monotonic() + seconds
while time.monotonic() < end:
    for algo in ("blake3", "sha256"):
        try:
            digest = native.hash_file(path, algo)
        except OSError as e:
            assert "changed while hashing" in str(e), e
            counts["changed"] += 1
        else:
            counts["digests"] += 1  # no size to check it against; hash_files checks below
        [outcome] = native.hash_files([path], algo)
        if outcome == "changed":
            counts["changed"] += 1
        else:
            assert isinstance(outcome, tuple), outcome
            check(algo, outcome[0], outcome[1])
    got = hashing.hash_paths(None, [path], "blake3")
    if path in got.failed:
        assert got.failed[path] == hashing.CHANGING, got.failed
        counts["changed"] += 1
    else:
        check("blake3", *got.found[path])
print(json.dumps(counts))
"""


def test_a_file_truncated_and_rewritten_while_hashed(tmp_path):
    """Another process truncates and rewrites the file in a loop while it is hashed over and
    over: the hasher never crashes (the memory-mapped one got SIGBUS), and every result is the
    digest of a content the file really had, or "changed"."""
    pieces = 48
    path = tmp_path / "moving.bin"
    path.write_bytes(bytes(i * 7 % 251 for i in range(MiB)) * pieces)  # the writer's content
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(pieces)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        hasher = subprocess.run(
            [sys.executable, "-c", HASHER, str(path), str(pieces), "4"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert writer.poll() is None, "the writer stopped early"
    finally:
        writer.kill()
        writer.wait()
    assert hasher.returncode == 0, (hasher.returncode, hasher.stderr[-3000:])
    counts = json.loads(hasher.stdout)
    assert counts["bad"] == [], counts
    assert counts["changed"] > 0, counts  # the race did happen
    # Left alone, the file hashes normally again.
    data = path.read_bytes()
    assert native.hash_files([str(path)])[0][:2] == (ref_digest(data), len(data))
