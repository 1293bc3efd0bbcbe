"""Fields that scripts written for the roar CLI users have today read: `roar dag --json`
artifacts carry `artifact_id`, and `roar status` prints a `DAG hash:` line."""

from __future__ import annotations

import re

from tests.conftest import commit_all


def test_dag_artifacts_carry_artifact_id_and_status_prints_dag_hash(repo, run_roar):
    (repo / ".gitignore").write_text(".roar/\nout.txt\n")
    commit_all(repo)
    run_roar("run", "sh", "-c", "echo x > out.txt", cwd=repo)
    (artifact,) = run_roar("dag", "--json", cwd=repo).json()["artifacts"]
    assert isinstance(artifact["artifact_id"], int) and artifact["artifact_id"] > 0

    status = run_roar("status", cwd=repo).stdout
    dag_hash = run_roar("status", "--json", cwd=repo).json()["dag_hash"]
    assert re.search(rf"^DAG hash:\s+{dag_hash}$", status, re.MULTILINE), status
