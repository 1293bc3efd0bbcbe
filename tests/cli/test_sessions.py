"""After `roar reset`, earlier sessions stay reachable: `roar session list|show|use`."""

from __future__ import annotations

from tests.conftest import commit_all


def test_earlier_sessions_can_be_listed_shown_and_reopened(repo, run_roar):
    (repo / ".gitignore").write_text(".roar/\na.txt\nb.txt\n")
    commit_all(repo)
    run_roar("run", "-q", "sh", "-c", "echo a > a.txt", cwd=repo)
    run_roar("reset", "-y", cwd=repo)
    run_roar("run", "-q", "sh", "-c", "echo b > b.txt", cwd=repo)

    sessions = run_roar("session", "list", "--json", cwd=repo).json()["sessions"]
    assert [(s["jobs"], s["active"]) for s in sessions] == [(1, False), (1, True)]
    first, second = sessions
    assert "*" in run_roar("session", "list", cwd=repo).stdout

    shown = run_roar("session", "show", str(first["number"]), cwd=repo).stdout
    assert "echo a > a.txt" in shown and "echo b" not in shown
    by_hash = run_roar("session", "show", first["session_uid"][:8], "--json", cwd=repo).json()
    assert [n["command"] for n in by_hash["nodes"]] == ["sh -c 'echo a > a.txt'"]

    run_roar("session", "use", first["session_uid"][:8], cwd=repo)
    assert [n["command"] for n in run_roar("dag", "--json", cwd=repo).json()["nodes"]] == [
        "sh -c 'echo a > a.txt'"
    ]
    after = run_roar("session", "list", "--json", cwd=repo).json()["sessions"]
    assert [s["active"] for s in after] == [True, False]
    assert after[1]["session_uid"] == second["session_uid"]  # nothing was lost


def test_unknown_session_is_a_clear_error(repo, run_roar):
    bad = run_roar("session", "show", "ffff0000", cwd=repo, check=False)
    assert bad.returncode == 1 and "No session found for: ffff0000" in bad.stderr
