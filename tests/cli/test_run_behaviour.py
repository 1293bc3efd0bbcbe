"""`roar run` as a wrapper: output, exit codes, signals, preconditions, concurrency, secrets."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import ROAR, commit_all, git, make_repo


def test_output_and_exit_code_forwarded(repo, run_roar):
    res = run_roar(
        "run", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 7", cwd=repo, check=False
    )
    assert res.returncode == 7
    assert res.stdout == "to-stdout\n"  # the report never pollutes stdout
    assert "to-stderr" in res.stderr and "Exit code: 7" in res.stderr
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    assert j["exit_code"] == 7


def test_killed_command_exit_code(repo, run_roar):
    res = run_roar("run", "sh", "-c", "kill -9 $$", cwd=repo, check=False)
    assert res.returncode == 128 + 9


def test_missing_command_is_127_and_not_recorded(repo, run_roar):
    res = run_roar("run", "definitely-not-a-command-xyz", cwd=repo, check=False)
    assert res.returncode == 127
    assert "definitely-not-a-command-xyz" in res.stderr
    assert run_roar("log", "--json", cwd=repo).json()["jobs"] == []


def test_quiet_run(repo, run_roar):
    res = run_roar("run", "-q", "true", cwd=repo)
    assert "ROAR Run Complete" not in res.stderr


def test_ctrl_c_reaches_command_and_job_is_recorded(repo, write_script):
    write_script("slow.py", "import time\nopen('started','w').close()\ntime.sleep(60)\n")
    proc = subprocess.Popen([*ROAR, "run", "python", "slow.py"], cwd=repo, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 30
    while not (repo / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)  # at roar only: roar passes it on
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "ROAR Run Interrupted" in err
    j = subprocess.run(
        [*ROAR, "show", "@1", "--json"], cwd=repo, capture_output=True, text=True, check=True
    )
    assert '"interrupted": true' in j.stdout


def test_dirty_tree_refused_untracked_allowed_and_allow_dirty(repo, run_roar, write_script):
    write_script("s.py", "open('o.txt','w').write('1')\n")
    (repo / "untracked.csv").write_text("a,b\n")  # untracked files never block
    run_roar("run", "python", "s.py", cwd=repo)
    (repo / "s.py").write_text("open('o.txt','w').write('2')\n")  # modify tracked code
    res = run_roar("run", "python", "s.py", cwd=repo, check=False)
    assert res.returncode == 1
    assert "Git repository has uncommitted changes" in res.stderr and "s.py" in res.stderr
    assert "--allow-dirty" in res.stderr
    ok = run_roar("run", "--allow-dirty", "python", "s.py", cwd=repo)
    assert ok.returncode == 0
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    assert j["git"]["dirty"] is True and len(j["git"]["diff_hash"]) == 64


def test_not_initialised_not_git_and_subdirectory(tmp_path, run_roar, repo):
    plain = make_repo(tmp_path / "plain")
    res = run_roar("run", "true", cwd=plain, check=False)
    assert res.returncode == 1
    assert "Error: roar is not initialized in this directory." in res.stderr
    assert "roar init" in res.stderr
    nogit = tmp_path / "nogit"
    nogit.mkdir()
    res = run_roar("init", cwd=nogit, check=False)
    assert res.returncode == 1 and "Not in a git repository." in res.stderr
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    (sub / "in.txt").write_text("x")
    run_roar("run", "cp", "in.txt", "out.txt", cwd=sub)
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    assert j["cwd"] == str(sub) and j["outputs"][0]["path"] == str(sub / "out.txt")


def test_init_ignores_itself_and_is_idempotent(tmp_path, run_roar):
    root = make_repo(tmp_path / "fresh")
    run_roar("init", cwd=root)
    assert not (root / ".gitignore").exists()  # the user's files are left alone
    assert (root / ".roar" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (root / ".roar" / "roar.db").exists() and (root / ".roar" / "config.toml").exists()
    assert git(root, "status", "--porcelain") == ""
    again = run_roar("init", "-y", cwd=root)
    assert "already" in again.stderr


def test_quick_start_in_a_repo_with_a_committed_gitignore(tmp_path, run_roar):
    """README's quick start in a typical repository: init -y, then run at once."""
    root = make_repo(tmp_path / "project")
    (root / ".gitignore").write_text("*.pyc\nout.txt\n")
    commit_all(root)
    run_roar("init", "-y", cwd=root)
    assert (root / ".gitignore").read_text() == "*.pyc\nout.txt\n"
    result = run_roar("run", "sh", "-c", "echo hi > out.txt", cwd=root, check=False)
    assert result.returncode == 0, result.stderr


def test_init_gitignore_flag_adds_the_line_when_asked(tmp_path, run_roar):
    root = make_repo(tmp_path / "project")
    (root / ".gitignore").write_text("*.pyc")
    run_roar("init", "--gitignore", cwd=root)
    assert (root / ".gitignore").read_text() == "*.pyc\n.roar/\n"
    assert "already" in run_roar("init", "--gitignore", cwd=root).stderr


def test_eight_parallel_runs_all_recorded(repo, run_roar, write_script):
    write_script(
        "p.py",
        "import sys, time\ntime.sleep(0.2)\nopen(f'out{sys.argv[1]}.txt','w').write(sys.argv[1])\n",
    )
    with ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda i: run_roar("run", "-q", "python", "p.py", str(i), cwd=repo, check=False),
                range(8),
            )
        )
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results]
    jobs = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert len(jobs) == 8
    assert sorted(j["step_number"] for j in jobs) == list(
        range(1, 9)
    )  # 8 distinct commands, 8 steps


def test_secret_in_environment_never_stored_in_clear(repo, run_roar):
    secret = "ghp_" + "Ab3" * 12
    run_roar("run", "sh", "-c", "echo $API_TOKEN > /dev/null", cwd=repo,
             env={"API_TOKEN": secret, "HARMLESS": "visible", "DB_URL": "postgres://u:hunter2pass@db/x"})  # fmt: skip
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    env = j["metadata"]["env"]
    assert env["API_TOKEN"] == "***" and env["HARMLESS"] == "visible"
    assert "hunter2pass" not in env["DB_URL"]
    raw = (repo / ".roar" / "roar.db").read_bytes()
    wal = repo / ".roar" / "roar.db-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert secret.encode() not in raw and b"hunter2pass" not in raw


def test_secret_in_argv_masked(repo, run_roar):
    run_roar("run", "sh", "-c", "true", "--api-key=sk-abcdefghijklmnopqrstuvwx", cwd=repo)
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    assert "sk-abcdefghijklmnopqrstuvwx" not in j["command"]


def test_roar_env_injected_and_config(repo, run_roar, write_script):
    run_roar("env", "set", "SEED", "42", cwd=repo)
    assert run_roar("env", "get", "SEED", cwd=repo).stdout == "42\n"
    write_script("e.py", "import os\nopen('seed.txt','w').write(os.environ['SEED'])\n")
    run_roar("run", "python", "e.py", cwd=repo)
    assert (repo / "seed.txt").read_text() == "42"
    assert run_roar("env", "list", "--json", cwd=repo).json() == {"SEED": "42"}
    run_roar("env", "unset", "SEED", cwd=repo)
    assert run_roar("env", "get", "SEED", cwd=repo, check=False).returncode == 1

    run_roar("config", "set", "output.quiet", "yes", cwd=repo)
    assert run_roar("config", "get", "output.quiet", "--json", cwd=repo).json() == {
        "output.quiet": True
    }
    assert (
        "# roar project configuration" in (repo / ".roar" / "config.toml").read_text()
    )  # comments kept
    bad = run_roar("config", "set", "output.nope", "1", cwd=repo, check=False)
    assert (
        bad.returncode == 1
        and "Unknown config key: output.nope" in bad.stderr
        and "hash.primary" in bad.stderr
    )
    bad = run_roar("config", "set", "hash.primary", "md5", cwd=repo, check=False)
    assert bad.returncode == 1 and "blake3" in bad.stderr


def test_corrupt_config_reported_not_crashed(repo, run_roar):
    (repo / ".roar" / "config.toml").write_text("[output\nquiet = ")
    res = run_roar("run", "true", cwd=repo, check=False)
    assert res.returncode == 1 and "Cannot read" in res.stderr and "Traceback" not in res.stderr


def test_store_from_newer_roar_refused(repo, run_roar):
    conn = sqlite3.connect(repo / ".roar" / "roar.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    res = run_roar("log", cwd=repo, check=False)
    assert res.returncode == 1 and "newer roar" in res.stderr and "Traceback" not in res.stderr


def test_python_dash_m_roar_works():
    out = subprocess.run(
        [sys.executable, "-m", "roar", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("roar ")


def test_allow_dirty_diff_hash_is_the_tree_the_job_started_from(repo, run_roar, write_script):
    import hashlib

    write_script("edit.py", "open('notes.txt', 'a').write('edited by the job\\n')\n")
    (repo / "notes.txt").write_text("v1\n")
    subprocess.run(["git", "add", "notes.txt"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "notes"], cwd=repo, check=True)
    (repo / "notes.txt").write_text("v2, uncommitted\n")
    before = subprocess.run(["git", "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff"],
                            cwd=repo, capture_output=True, check=True).stdout  # fmt: skip
    run_roar("run", "--allow-dirty", "python", "edit.py", cwd=repo)
    j = run_roar("show", "@1", "--json", cwd=repo).json()
    assert j["git"]["diff_hash"] == hashlib.sha256(before).hexdigest()
