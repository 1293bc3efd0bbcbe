"""`roar label sync` against a real GLaaS server on loopback (SQLite and PostgreSQL): only what
differs is sent, a second sync sends nothing, --dry-run sends nothing, removals, targets that
are not registered, no server configured, no terminal; and the labels API itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import commit_all, make_repo
from tests.registry.conftest import STEP
from tests.registry.test_register_client import roar


@pytest.fixture(scope="module")
def project(server, tmp_path_factory) -> Path:
    """raw.csv -> clean.csv -> model.bin, recorded by `roar run`: one project per server
    (registering sends the local labels too, so one server's tests must not see another's)."""
    root = make_repo(tmp_path_factory.mktemp("label-sync") / "project")
    (root / "step.py").write_text(STEP)
    (root / "raw.csv").write_text("a,b\n1,2\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "pipeline")
    roar("run", "python3", "step.py", "raw.csv", "clean.csv", "cleaned", cwd=root)
    roar("run", "python3", "step.py", "clean.csv", "model.bin", "trained", cwd=root)
    return root


@pytest.fixture
def registered(server, project) -> Path:
    """The project pointed at this server, its session registered there."""
    roar("config", "set", "glaas.url", server.base, cwd=project)
    roar("register", "session:current", "-y", cwd=project)
    return project


def job_uid(root: Path, ref: str) -> str:
    return json.loads(roar("show", ref, "--json", cwd=root).stdout)["job_uid"]


def digest(root: Path, path: str) -> str:
    return json.loads(roar("show", path, "--json", cwd=root).stdout)["artifact"]["hash"]


def sync(root: Path, *args: str) -> dict:
    return json.loads(roar("label", "sync", *args, "-y", "--json", cwd=root).stdout)


def versions(root: Path, kind: str, ref: str) -> int:
    out = json.loads(roar("label", "history", kind, ref, "--json", cwd=root).stdout)
    return len(out["versions"])


def test_a_sync_sends_what_differs_and_a_second_sends_nothing(server, registered):
    root = registered
    roar("label", "set", "job", "@1", "phase=clean", "rows=2", cwd=root)
    roar("label", "set", "artifact", "model.bin", "model.name=tiny", "score=0.5", cwd=root)
    roar("label", "set", "dag", "current", "owner=alice", cwd=root)
    before = {
        k: versions(root, *k)
        for k in [("job", "@1"), ("artifact", "model.bin"), ("dag", "current")]
    }
    first = sync(root)
    assert first["sent"] == 5  # phase, rows, model.name, score, owner
    uid, model = job_uid(root, "@1"), digest(root, "model.bin")
    job = server.get(f"/api/v1/labels/job/{uid}")[1]["labels"]
    assert job["phase"] == "clean" and job["rows"] == "2"
    art = server.get(f"/api/v1/labels/artifact/{model}")[1]["labels"]
    assert art["model.name"] == "tiny" and art["score"] == "0.5"
    # the dag is the registry's session: the same labels show in the session's lookup
    registrations = (root / ".roar" / "registrations.jsonl").read_text().splitlines()
    session = json.loads(registrations[-1])["session_hash"]
    assert server.get(f"/api/v1/sessions/{session}")[1]["labels"]["current"]["owner"] == "alice"

    again = roar("label", "sync", "-y", cwd=root)
    assert "up to date: nothing to send" in again.stderr
    assert sync(root)["sent"] == 0
    # syncing reads the local store, never writes it
    after = {k: versions(root, *k) for k in before}
    assert after == before


def test_only_the_changed_key_goes_and_a_removal_leaves_others_keys(server, registered):
    root = registered
    roar("label", "set", "job", "@2", "stage=train", "lr=0.1", cwd=root)
    sync(root, "job", "@2")
    uid = job_uid(root, "@2")
    # someone else's key on the registry: sync never removes what it did not send
    status, _ = server.post(
        "/api/v1/labels",
        {"changes": [{"target_kind": "job", "target": uid, "key": "reviewer", "value": "bob"}]},
    )
    assert status == 200
    roar("label", "set", "job", "@2", "lr=0.01", cwd=root)
    roar("label", "unset", "job", "@2", "stage", cwd=root)
    out = sync(root, "job", "@2")
    assert out["sent"] == 2
    assert out["targets"][0]["set"] == {"lr": "0.01"} and out["targets"][0]["unset"] == ["stage"]
    labels = server.get(f"/api/v1/labels/job/{uid}")[1]["labels"]
    assert labels == {"lr": "0.01", "reviewer": "bob"}


def test_dry_run_sends_nothing(server, registered):
    root = registered
    roar("label", "set", "artifact", "clean.csv", "checked=true", cwd=root)
    out = json.loads(
        roar("label", "sync", "artifact", "clean.csv", "--dry-run", "--json", cwd=root).stdout
    )
    assert out["dry_run"] is True and out["sent"] == 0
    assert out["targets"][0]["set"] == {"checked": "true"}
    text = roar("label", "sync", "artifact", "clean.csv", "--dry-run", cwd=root)
    assert "checked=true" in text.stdout and "nothing sent" in text.stderr
    labels = server.get(f"/api/v1/labels/artifact/{digest(root, 'clean.csv')}")[1]["labels"]
    assert "checked" not in labels


def test_without_a_terminal_nothing_is_sent_unless_yes(server, registered):
    root = registered
    roar("label", "set", "artifact", "raw.csv", "source=survey", cwd=root)
    refused = roar("label", "sync", "artifact", "raw.csv", cwd=root, check=False)
    assert refused.returncode == 1 and "pass -y" in refused.stderr
    labels = server.get(f"/api/v1/labels/artifact/{digest(root, 'raw.csv')}")[1]["labels"]
    assert "source" not in labels


def test_a_target_not_registered_says_so_and_what_to_do(server, registered):
    root = registered
    roar("run", "python3", "step.py", "model.bin", "eval.txt", "evaluated", cwd=root)
    roar("label", "set", "job", "@3", "phase=eval", cwd=root)
    out = roar("label", "sync", "job", "@3", "-y", cwd=root, check=False)
    assert out.returncode == 1
    assert "is not registered" in out.stderr and "roar register @3" in out.stderr
    # the whole session is another lineage now (a third job): its dag is skipped, said so,
    # and the registered jobs' labels still go
    everything = roar("label", "sync", "-y", cwd=root)
    assert (
        "not registered yet" in everything.stdout and "roar register session:" in everything.stdout
    )
    roar("pop", "-y", cwd=root)


def test_no_server_configured(tmp_path):
    root = make_repo(tmp_path / "p")
    roar("init", "-y", cwd=root)
    out = roar("label", "sync", cwd=root, check=False, ROAR_GLAAS_URL="")
    assert out.returncode == 1 and "GLaaS server not configured." in out.stderr
    assert "roar config set glaas.url" in out.stderr


def test_the_labels_api_refuses_what_is_not_registered_all_or_nothing(server, registered):
    uid = job_uid(registered, "@1")
    changes = [
        {"target_kind": "job", "target": uid, "key": "atomic", "value": "yes"},
        {"target_kind": "artifact", "target": "0" * 64, "key": "atomic", "value": "yes"},
    ]
    status, body = server.post("/api/v1/labels", {"changes": changes})
    assert status == 404 and "not registered" in body["detail"]
    assert "atomic" not in server.get(f"/api/v1/labels/job/{uid}")[1]["labels"]
    assert server.get("/api/v1/labels/session/" + "0" * 64)[0] == 404
    assert server.get(f"/api/v1/labels/dag/{uid}")[0] == 422  # kinds are the registry's
    bad = {"changes": [{**changes[0], "set_at": 1.0}]}  # the server's clock, not the client's
    assert server.post("/api/v1/labels", bad)[0] == 422


def test_labels_follow_the_scopes_of_the_records(server, accounts):
    """Written as the viewer in the scope asked for: a private record's labels are hidden from
    anonymous requests and from other users; publishing in a scope needs a login."""
    import secrets

    from tests.registry.synth import chain, window

    name = "lab-" + secrets.token_hex(3)
    alice, bob = accounts.user(name), accounts.user("lab-" + secrets.token_hex(3))
    bundle = window(chain(1), 0, 1)
    status, reg = alice.post("/api/v1/register?scope=private", bundle)
    assert status == 200, reg
    art = bundle["artifacts"][-1]["hash"]
    change = {"changes": [{"target_kind": "artifact", "target": art, "key": "k", "value": "v"}]}
    status, out = alice.post("/api/v1/labels?scope=private", change)
    assert status == 200 and out["events"] == 1
    got = alice.get(f"/api/v1/labels/artifact/{art}?scope=private")[1]
    assert got["labels"] == {"k": "v"}
    assert alice.get(f"/api/v1/labels/artifact/{art}?scope=anonymous")[1]["labels"] == {}
    # not visible to anyone else: as if not registered, to read and to write
    assert server.get(f"/api/v1/labels/artifact/{art}")[0] == 404
    assert bob.get(f"/api/v1/labels/artifact/{art}")[0] == 404
    assert bob.post("/api/v1/labels?scope=private", change)[0] == 404
    # anonymous requests cannot write in a user's scope
    assert server.post("/api/v1/labels?scope=private", change)[0] == 401
    # the event is attributed to who sent it, in the lookup alice sees
    history = alice.get(f"/api/v1/artifacts/{art}")[1]["labels"]["history"]
    assert [(e["key"], e["registered_by"]) for e in history] == [("k", name)]
