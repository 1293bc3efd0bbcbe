"""A bare relative name finds a tracked file as `./name` does, also once the file is gone; a
name that was never tracked gets the seeds' message with what to try."""

from __future__ import annotations

from tests.conftest import commit_all


def test_bare_name_of_a_deleted_tracked_file(repo, run_roar):
    (repo / ".gitignore").write_text(".roar/\nmodel.json\n")
    commit_all(repo)
    run_roar("run", "sh", "-c", "echo weights > model.json", cwd=repo)
    (repo / "model.json").unlink()
    for ref in ("model.json", "./model.json"):
        shown = run_roar("show", ref, cwd=repo)
        assert "(missing)" in shown.stdout and "@1" in shown.stdout
        lineage = run_roar("lineage", ref, cwd=repo).json()
        assert [j["step_number"] for j in lineage["jobs"]] == [1]


def test_never_tracked_name_is_the_seeds_message(repo, run_roar):
    for command in ("show", "lineage"):
        result = run_roar(command, "nothere.json", cwd=repo, check=False)
        assert result.returncode == 1
        assert "No artifact found for path: nothere.json" in result.stderr
        assert "roar dag --show-artifacts" in result.stderr
