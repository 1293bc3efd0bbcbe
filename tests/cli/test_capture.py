"""What `roar run` records for the I/O patterns other tracers get wrong (real tracer, real store)."""

from __future__ import annotations

import os
from pathlib import Path

import blake3


def job(run_roar, repo: Path, ref: str = "@1") -> dict:
    return run_roar("show", ref, "--json", cwd=repo).json()


def names(files: list[dict]) -> list[str]:
    return sorted(Path(f["path"]).name for f in files)


def run_py(run_roar, repo, write_script, name, body, *args):
    write_script(name, body)
    return run_roar("run", "python", name, *args, cwd=repo)


def test_shell_redirect_output_is_recorded(repo, run_roar):
    (repo / "a.txt").write_text("hello\n")
    run_roar("run", "sh", "-c", "cat a.txt > b.txt", cwd=repo)
    j = job(run_roar, repo)
    assert names(j["inputs"]) == ["a.txt"] and names(j["outputs"]) == ["b.txt"]


def test_cp_output_is_recorded(repo, run_roar):
    (repo / "a.bin").write_bytes(b"\x00\x01" * 50_000)
    run_roar("run", "cp", "a.bin", "copy.bin", cwd=repo)
    j = job(run_roar, repo)
    assert names(j["inputs"]) == ["a.bin"] and names(j["outputs"]) == ["copy.bin"]
    assert j["inputs"][0]["hash"] == j["outputs"][0]["hash"]  # same bytes, same artifact


def test_write_via_rename_records_final_name(repo, run_roar, write_script):
    run_py(run_roar, repo, write_script, "w.py",
           "import os\nopen('out.tmp','w').write('x')\nos.rename('out.tmp','final.txt')\n")  # fmt: skip
    assert names(job(run_roar, repo)["outputs"]) == ["final.txt"]


def test_rdwr_trunc_is_output_only(repo, run_roar, write_script):
    (repo / "data.txt").write_text("old contents\n")
    run_py(run_roar, repo, write_script, "w.py",
           "import os\nfd=os.open('data.txt', os.O_RDWR|os.O_TRUNC)\nos.write(fd,b'new')\nos.close(fd)\n")  # fmt: skip
    j = job(run_roar, repo)
    assert names(j["outputs"]) == ["data.txt"] and j["inputs"] == []


def test_fd_reuse_by_pipe_is_not_a_false_output(repo, run_roar, write_script):
    (repo / "a.txt").write_text("A\n")
    (repo / "b.txt").write_text("B\n")
    body = """
import os
for name in ("a.txt", "b.txt"):
    fd = os.open(name, os.O_RDONLY); os.read(fd, 10); os.close(fd)
r, w = os.pipe()  # reuses the numbers a.txt and b.txt had
os.write(w, b"through the pipe")
os.close(w); os.read(r, 100); os.close(r)
"""
    run_py(run_roar, repo, write_script, "p.py", body)
    j = job(run_roar, repo)
    assert names(j["inputs"]) == ["a.txt", "b.txt"] and j["outputs"] == []


def test_thread_writes_file_opened_by_another_thread(repo, run_roar, write_script):
    body = """
import threading
ready = threading.Event(); fh = {}
def writer():
    ready.wait(); fh['f'].write('from the thread'); fh['f'].close()
t = threading.Thread(target=writer); t.start()
fh['f'] = open('threaded.txt', 'w'); ready.set(); t.join()
"""
    run_py(run_roar, repo, write_script, "t.py", body)
    assert names(job(run_roar, repo)["outputs"]) == ["threaded.txt"]


def test_many_threads_many_files(repo, run_roar, write_script):
    body = """
import os, threading
os.makedirs('out', exist_ok=True)
def work(t):
    for i in range(25):
        with open(f'out/t{t}_{i}.txt', 'w') as f: f.write(f'{t}-{i}')
ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
[t.start() for t in ts]; [t.join() for t in ts]
"""
    run_py(run_roar, repo, write_script, "mt.py", body)
    outputs = job(run_roar, repo)["outputs"]
    # A directory created and filled by the job is one composite artifact with 200 members.
    assert (
        len(outputs) == 1
        and outputs[0].get("composite")
        and outputs[0]["path"] == str(repo / "out")
    )
    shown = run_roar("show", "out", "--json", cwd=repo).json()
    assert len(shown["members"]) == 200


def test_dirfd_relative_open_and_chdir(repo, run_roar, write_script):
    (repo / "sub").mkdir()
    (repo / "sub" / "in.txt").write_text("in\n")
    body = """
import os
d = os.open('sub', os.O_RDONLY | os.O_DIRECTORY)
fd = os.open('in.txt', os.O_RDONLY, dir_fd=d); os.read(fd, 10); os.close(fd)
fd = os.open('viadirfd.txt', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d); os.write(fd, b'x'); os.close(fd)
os.chdir('sub')
open('afterchdir.txt', 'w').write('y')
"""
    run_py(run_roar, repo, write_script, "d.py", body)
    j = job(run_roar, repo)
    assert [f["path"] for f in j["inputs"]] == [str(repo / "sub" / "in.txt")]
    assert sorted(f["path"] for f in j["outputs"]) == [
        str(repo / "sub" / "afterchdir.txt"),
        str(repo / "sub" / "viadirfd.txt"),
    ]


def test_identical_content_identical_hash_is_blake3_of_bytes(repo, run_roar, write_script):
    payload = b"same bytes\n" * 1000
    body = f"open('one.bin','wb').write({payload!r}); open('two.bin','wb').write({payload!r})\n"
    run_py(run_roar, repo, write_script, "same.py", body)
    outs = job(run_roar, repo)["outputs"]
    assert {o["hash"] for o in outs} == {blake3.blake3(payload).hexdigest()}
    assert names(outs) == ["one.bin", "two.bin"]


def test_noise_and_git_never_inputs(repo, run_roar, write_script):
    body = """
import os, json, subprocess, tempfile
subprocess.run(['git', 'log', '-1', '--oneline'], check=True, capture_output=True)
open(os.path.expanduser('~/.roar-test-dotfile'), 'a').close()
open('/etc/os-release').read()  # a system read
json.load(open('params.json'))
with tempfile.NamedTemporaryFile('w', delete=False) as t: t.write('scratch')
open(t.name).read()
import email.mime.text  # stdlib reads
open('result.txt', 'w').write('ok')
"""
    (repo / "params.json").write_text('{"lr": 0.1}')
    home = repo.parent / "home"
    home.mkdir()
    write_script("n.py", body)
    run_roar("run", "python", "n.py", cwd=repo, env={"HOME": str(home)})
    j = job(run_roar, repo)
    assert names(j["inputs"]) == ["params.json"]
    assert names(j["outputs"]) == ["result.txt"]
    for f in (*j["inputs"], *j["outputs"]):
        assert (
            "/.git/" not in f["path"]
            and "/.roar/" not in f["path"]
            and "__pycache__" not in f["path"]
        )


def test_untracked_script_is_an_input_and_packages_are_recorded(repo, run_roar):
    (repo / "scratch.py").write_text("import json, sqlalchemy\nopen('o.txt','w').write('1')\n")
    run_roar("run", "python", "scratch.py", cwd=repo)
    j = job(run_roar, repo)
    assert names(j["inputs"]) == ["scratch.py"]
    pip = j["metadata"]["packages"].get("pip", {})
    assert any(name.lower() == "sqlalchemy" for name in pip), pip


def test_sha256_selectable(repo, run_roar):
    import hashlib

    (repo / "a.txt").write_text("sha me\n")
    run_roar("run", "--hash", "sha256", "cp", "a.txt", "b.txt", cwd=repo)
    j = job(run_roar, repo)
    assert j["outputs"][0]["hash"] == hashlib.sha256(b"sha me\n").hexdigest()
    bad = run_roar("run", "--hash", "md4", "true", cwd=repo, check=False)
    assert bad.returncode == 1 and "Unknown hash algorithm: md4" in bad.stderr


def test_non_utf8_file_name_recorded(repo, run_roar, write_script):
    run_py(
        run_roar,
        repo,
        write_script,
        "nb.py",
        "import os\nopen(os.fsencode('caf') + b'\\xe9.csv', 'wb').write(b'x')\n",
    )
    outs = job(run_roar, repo)["outputs"]
    # JSON carries the byte as the escape \udce9 (os.fsdecode), never as the text "\xe9"
    assert [os.fsencode(o["path"]) for o in outs] == [os.fsencode(repo) + b"/caf\xe9.csv"]


def test_directory_read_as_a_whole_is_a_composite_input(repo, run_roar, write_script):
    shards = repo / "shards"
    shards.mkdir()
    for i in range(5):
        (shards / f"part{i}.csv").write_text(f"{i}\n")
    body = "import os\nprint(sum(int(open(os.path.join('shards', n)).read()) for n in sorted(os.listdir('shards'))))\n"
    run_py(run_roar, repo, write_script, "agg.py", body)
    inputs = job(run_roar, repo)["inputs"]
    assert len(inputs) == 1 and inputs[0]["composite"] and inputs[0]["path"] == str(shards)
    members = run_roar("show", "shards", "--json", cwd=repo).json()["members"]
    assert sorted(m["relpath"] for m in members) == [f"part{i}.csv" for i in range(5)]
    assert members[0]["hash"] == blake3.blake3(b"0\n").hexdigest()


def test_unchanged_file_is_not_hashed_twice(repo, run_roar, write_script):
    write_script("r.py", "import sys\nopen(sys.argv[1], 'rb').read()\n")
    (repo / "big.bin").write_bytes(b"\x07" * 3_000_000)  # untracked data
    run_roar("run", "python", "r.py", "big.bin", cwd=repo)
    run_roar("run", "python", "r.py", "big.bin", cwd=repo)
    first, second = (
        j["metadata"]["hashing"] for j in run_roar("log", "--json", cwd=repo).json()["jobs"]
    )
    assert first == {"algorithm": "blake3", "cache_hits": 0, "hashed": 1}
    assert second == {"algorithm": "blake3", "cache_hits": 1, "hashed": 0}
    (repo / "big.bin").write_bytes(b"\x08" * 3_000_000)  # changed content: hashed again
    run_roar("run", "python", "r.py", "big.bin", cwd=repo)
    third = run_roar("log", "--json", cwd=repo).json()["jobs"][-1]
    assert third["metadata"]["hashing"]["hashed"] == 1
    assert third["inputs"][0]["hash"] == blake3.blake3(b"\x08" * 3_000_000).hexdigest()
