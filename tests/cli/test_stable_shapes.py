"""Same command, same tree, same record (issue 14, item 2): a directory written again by a
rerun stays one composite artifact."""

from __future__ import annotations

from pathlib import Path

MK = """
import os
os.makedirs('ds/train', exist_ok=True)
for i in range(3):
    with open(f'ds/train/part-{i}.csv', 'w') as f:
        f.write(f'id,value\\n{i},{i * i}\\n')
"""


def outputs(run_roar, repo: Path, uid: str) -> list[dict]:
    return run_roar("show", uid, "--json", cwd=repo).json()["outputs"]


def test_rerun_into_existing_directory_records_the_same_composite(
    repo, run_roar, write_script
):
    (repo / ".gitignore").write_text("ds/\n")
    write_script("mk.py", MK)
    run_roar("run", "python", "mk.py", cwd=repo)
    run_roar(
        "run", "python", "mk.py", cwd=repo
    )  # identical bytes into the existing directory
    jobs = run_roar("log", "--json", cwd=repo).json()
    jobs = jobs["jobs"] if isinstance(jobs, dict) else jobs
    assert len(jobs) == 2
    first, second = (outputs(run_roar, repo, j["job_uid"]) for j in jobs)
    assert (
        len(first) == 1
        and first[0]["composite"]
        and first[0]["path"] == str(repo / "ds")
    )
    shape = [(o["path"], o["composite"], o["hash"], o["artifact_id"]) for o in first]
    assert [
        (o["path"], o["composite"], o["hash"], o["artifact_id"]) for o in second
    ] == shape

    dag = run_roar("dag", "--expanded", "--json", cwd=repo).json()
    ds = [a for a in dag["artifacts"] if a["path"] == str(repo / "ds")]
    assert ds and {(a["artifact_id"], a["composite"]) for a in ds} == {
        (shape[0][3], True)
    }
    assert not any("part-" in a["path"] for a in dag["artifacts"])
    text = run_roar("dag", "--expanded", "--show-artifacts", cwd=repo).stdout
    assert "(ds)" in text and "part-" not in text, text
