"""What the run report and the log header say match what happened."""

from __future__ import annotations


def test_failed_run_is_not_called_complete(repo, run_roar):
    failed = run_roar("run", "sh", "-c", "exit 4", cwd=repo, check=False)
    assert failed.returncode == 4
    assert "ROAR Run Failed (exit 4)" in failed.stderr
    assert "Complete" not in failed.stderr
    ok = run_roar("run", "true", cwd=repo)
    assert "ROAR Run Complete" in ok.stderr


def test_log_header_counts_what_it_shows_and_what_there_is(repo, run_roar):
    for i in range(3):
        run_roar("run", "-q", "sh", "-c", f"exit 0 # {i}", cwd=repo)
    assert "Job Log (the last 2 of 3 jobs" in run_roar("log", "-n", "2", cwd=repo).stdout
    assert "Job Log (3 jobs)" in run_roar("log", cwd=repo).stdout
    assert len(run_roar("log", "-n", "0", "--json", cwd=repo).json()["jobs"]) == 3


def test_an_unknown_exit_code_is_said_in_words():
    from roar.cli.console import exit_text

    assert exit_text(None) == "exit code unknown" and exit_text(3) == "exit 3"
