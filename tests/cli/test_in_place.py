"""A job that reads a file and rewrites it in place consumed the file's content from *before*
the job: its input is that content (from the hash cache, matched by the mtime the tracer saw
before the first write), never the bytes it left behind; unknown when roar has no record of it.
"""

from __future__ import annotations

import blake3
import pytest

from tests.conftest import commit_all
from tests.faults.conftest import BACKENDS

REWRITE_UPPER = (
    "f = open('data.txt', 'r+'); d = f.read(); f.seek(0); f.write(d.upper()); f.truncate()"
)
MMAP_UPPER = (
    "import mmap; f = open('data.txt', 'r+b'); m = mmap.mmap(f.fileno(), 0); "
    "m[:] = m[:].upper(); m.flush(); m.close(); f.close()"
)


def digest(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


@pytest.fixture
def data_repo(repo):
    (repo / ".gitignore").write_text(".roar/\ndata.txt\n")
    commit_all(repo)
    return repo


@pytest.mark.parametrize("program", [REWRITE_UPPER, MMAP_UPPER], ids=["r+", "mmap"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_input_modified_in_place_is_its_content_before_the_job(
    data_repo, run_roar, backend, program
):
    run_roar("run", "--tracer", backend, "sh", "-c", "echo aaa > data.txt", cwd=data_repo)
    run_roar("run", "--tracer", backend, "python3", "-c", program, cwd=data_repo)
    assert (data_repo / "data.txt").read_bytes() == b"AAA\n"

    jobs = run_roar("log", "--json", cwd=data_repo).json()["jobs"]
    modify = next(j for j in jobs if j["step_ref"] == "@2")
    assert [i["hash"] for i in modify["inputs"]] == [digest(b"aaa\n")]
    assert [o["hash"] for o in modify["outputs"]] == [digest(b"AAA\n")]
    dag = run_roar("dag", "--json", cwd=data_repo).json()
    assert next(n for n in dag["nodes"] if n["step_ref"] == "@2")["dependencies"] == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_content_before_the_job_is_recorded_as_unknown(data_repo, run_roar, backend):
    run_roar("run", "--tracer", backend, "sh", "-c", "echo aaa > data.txt", cwd=data_repo)
    (data_repo / "data.txt").write_text("hand edit\n")  # roar never saw these bytes
    result = run_roar("run", "--tracer", backend, "python3", "-c", REWRITE_UPPER, cwd=data_repo)
    assert "modified in place had no content on record" in result.stderr

    jobs = run_roar("log", "--json", cwd=data_repo).json()["jobs"]
    modify = next(j for j in jobs if j["step_ref"] == "@2")
    assert modify["inputs"] == []  # no hash of other bytes: not aaa, not HAND EDIT
    assert modify["metadata"]["hashing"]["unhashed"] == [
        {
            "path": str(data_repo / "data.txt"),
            "role": "input",
            "reason": "modified in place; its content before the job is unknown",
        }
    ]
    assert [o["hash"] for o in modify["outputs"]] == [digest(b"HAND EDIT\n")]
