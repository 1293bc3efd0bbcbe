"""`roar register` against a real GLaaS server on loopback (SQLite and PostgreSQL): the lineage
it sends for each kind of target, idempotence, --dry-run, the anonymous confirmation, secrets
masked again, labels, the git tag, and a server that is not there."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROAR, commit_all, git, make_repo
from tests.registry.conftest import STEP, free_port
from tests.registry.test_register import counts

SECRET = "sk_live_4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"


def roar(*args: str, cwd: Path, input: str = "", check: bool = True, **env: str):
    proc = subprocess.run(
        [*ROAR, *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        input=input,  # a pipe, not a terminal
    )
    if check:
        assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """raw.csv -> clean.csv -> model.bin -> metrics.json (the last step reads clean.csv too),
    recorded by `roar run`; the third step also got an API key on its command line, recorded
    with secret filtering off."""
    root = make_repo(tmp_path_factory.mktemp("register") / "project")
    (root / "step.py").write_text(STEP)
    (root / "raw.csv").write_text("a,b\n1,2\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "pipeline")
    roar("run", "python3", "step.py", "raw.csv", "clean.csv", "cleaned", cwd=root)
    roar("run", "python3", "step.py", "clean.csv", "model.bin", "trained", cwd=root)
    roar("config", "set", "registration.omit.enabled", "false", cwd=root)
    roar(
        "run", "python3", "step.py", "model.bin", "clean.csv", "metrics.json",
        f"--api-key={SECRET}", cwd=root,
    )  # fmt: skip
    roar("config", "set", "registration.omit.enabled", "true", cwd=root)
    roar("label", "set", "artifact", "metrics.json", "accuracy=0.93", cwd=root)
    return root


def use(server, root: Path) -> None:
    roar("config", "set", "glaas.url", server.base, cwd=root)


def digest(root: Path, path: str) -> str:
    return json.loads(roar("show", path, "--json", cwd=root).stdout)["artifact"]["hash"]


def dry_bundle(root: Path, target: str) -> dict:
    out = json.loads(roar("register", target, "--dry-run", "--json", cwd=root).stdout)
    assert out["dry_run"] is True
    return out["bundle"]


def test_register_sends_the_whole_upstream_lineage_and_prints_reproduce(server, project):
    use(server, project)
    metrics = digest(project, "metrics.json")
    proc = roar("register", "metrics.json", "-y", cwd=project)
    assert f"roar reproduce {metrics}" in proc.stdout
    session_hash = proc.stdout.split("session ")[1].split()[0]
    status, art = server.get(f"/api/v1/artifacts/{metrics}")
    assert status == 200 and art["labels"]["current"] == {"accuracy": "0.93"}
    assert len(art["produced_by"]) == 1
    status, session = server.get(f"/api/v1/sessions/{session_hash}")
    assert status == 200
    assert [j["argv"][2] for j in session["jobs"]] == ["raw.csv", "clean.csv", "model.bin"]
    # The git commit the lineage ran at is tagged with the session's hash prefix.
    tags = git(project, "tag", "-l", "roar/*").split()
    assert f"roar/{session_hash[:12]}" in tags


def test_registering_twice_adds_nothing(server, engine, project):
    use(server, project)
    first = json.loads(roar("register", "metrics.json", "-y", "--json", cwd=project).stdout)
    before = counts(engine)
    again = json.loads(roar("register", "metrics.json", "-y", "--json", cwd=project).stdout)
    assert again["created"] is False and again["session_hash"] == first["session_hash"]
    assert counts(engine) == before
    # Through the API: one producer, one session of three jobs, each once.
    status, session = server.get(f"/api/v1/sessions/{first['session_hash']}")
    assert status == 200 and len(session["jobs"]) == 3
    assert len({j["uid"] for j in session["jobs"]}) == 3


def test_every_kind_of_target(project):
    metrics = digest(project, "metrics.json")
    uid = json.loads(roar("show", "@2", "--json", cwd=project).stdout)["job_uid"]
    jobs = {
        "path": dry_bundle(project, "metrics.json")["jobs"],
        "hash": dry_bundle(project, metrics[:12])["jobs"],
        "step": dry_bundle(project, "@2")["jobs"],
        "uid": dry_bundle(project, uid)["jobs"],
        "session": dry_bundle(project, "session:current")["jobs"],
        "model": dry_bundle(project, "model.bin")["jobs"],
    }
    n = {k: len(v) for k, v in jobs.items()}
    assert n == {"path": 3, "hash": 3, "step": 2, "uid": 2, "session": 3, "model": 2}
    session_uid = json.loads(roar("show", "--json", cwd=project).stdout)["session_uid"]
    assert len(dry_bundle(project, session_uid[:12])["jobs"]) == 3


def test_dry_run_sends_nothing_and_shows_the_bundle(server, engine, project):
    use(server, project)
    before = counts(engine)
    proc = roar("register", "metrics.json", "--dry-run", cwd=project)
    assert "Would register the lineage of artifact metrics.json" in proc.stdout
    assert "3 job(s)" in proc.stdout and "nothing was sent" in proc.stderr
    bundle = dry_bundle(project, "metrics.json")
    assert bundle["schema"] == "roar.lineage-bundle/1" and len(bundle["jobs"]) == 3
    assert counts(engine) == before


def test_anonymous_registration_is_refused_without_a_terminal_and_y(server, engine, project):
    use(server, project)
    before = counts(engine)
    proc = roar("register", "metrics.json", cwd=project, check=False)
    assert proc.returncode == 1
    assert "pass -y" in proc.stderr and "Registration aborted." in proc.stderr
    assert counts(engine) == before


def test_declining_the_prompt_on_a_terminal_aborts(server, engine, project):
    use(server, project)
    before = counts(engine)
    master, slave = pty.openpty()
    os.write(master, b"n\n")
    proc = subprocess.run(
        [*ROAR, "register", "metrics.json"], cwd=project, stdin=slave,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    os.close(slave)
    os.close(master)
    assert proc.returncode == 1, proc.stderr
    assert "anonymously" in proc.stdout and "Registration aborted." in proc.stderr
    assert counts(engine) == before


def test_secrets_are_masked_again_before_upload(server, project):
    use(server, project)
    # The store kept the key (filtering was off when step 3 ran) ...
    local = json.loads(roar("show", "@3", "--json", cwd=project).stdout)
    assert SECRET in json.dumps(local["argv"])
    # ... the bundle does not, nor any environment value.
    bundle = dry_bundle(project, "metrics.json")
    sent = json.dumps(bundle)
    assert SECRET not in sent
    home = local["metadata"]["env"].get("HOME")
    assert "HOME" in bundle["jobs"][2]["env_names"] and f'"{home}"' not in sent
    out = json.loads(roar("register", "metrics.json", "-y", "--json", cwd=project).stdout)
    job_hash = out["job_hashes"][local["job_uid"]]
    status, job = server.get(f"/api/v1/jobs/{job_hash}")
    assert status == 200 and SECRET not in json.dumps(job)
    assert "--api-key=" in job["command"]


def test_public_by_default_warns_that_visibility_comes_from_config(server, project):
    use(server, project)
    roar("config", "set", "registration.public_by_default", "true", cwd=project)
    try:
        proc = roar("register", "metrics.json", "-y", cwd=project)
        assert "registration.public_by_default is true" in proc.stderr
        quiet = roar("register", "metrics.json", "-y", "--public", cwd=project)
        assert "public_by_default" not in quiet.stderr
    finally:
        roar("config", "set", "registration.public_by_default", "false", cwd=project)


def test_private_needs_a_login(project):
    proc = roar("register", "metrics.json", "-y", "--private", cwd=project, check=False)
    assert proc.returncode != 0 and "Private registration needs a GLaaS login" in proc.stderr


def test_a_server_that_is_not_there_is_named(project, tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    roar("config", "set", "glaas.url", url, cwd=project)
    proc = roar("register", "metrics.json", "-y", cwd=project, check=False)
    assert proc.returncode != 0
    assert f"Cannot reach the GLaaS server at {url} (glaas.url)" in proc.stderr
    assert "roar config set glaas.url" in proc.stderr


def test_without_glaas_url_it_says_how_to_set_one(tmp_path):
    root = make_repo(tmp_path / "fresh")
    (root / "step.py").write_text(STEP)
    (root / "raw.csv").write_text("x\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "fresh")
    roar("run", "python3", "step.py", "raw.csv", "out.csv", "t", cwd=root)
    proc = roar("register", "out.csv", "-y", cwd=root, check=False)
    assert proc.returncode != 0 and "GLaaS server not configured" in proc.stderr
    assert "roar config set glaas.url" in proc.stderr
