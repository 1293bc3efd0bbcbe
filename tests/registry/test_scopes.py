"""Scopes and visibility on a real glaas-server (SQLite and PostgreSQL): private lineage is
invisible to everyone else (lookup, traversal, recipe, search, labels, web pages: 404 as if
absent), project lineage to non-members; a record shared between scopes shows each viewer only
the registrations they can see."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
from typing import Any

from tests.registry.synth import chain, window


def name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def private_lineage() -> tuple[dict[str, Any], dict[str, Any]]:
    """A 3-job chain's bundle with a label on its last artifact; (parts, bundle)."""
    parts = chain(3)
    b = window(parts, 0, 3)
    b["labels"] = [
        {"target_kind": "artifact", "target": parts["artifacts"][-1]["hash"],
         "key": "secret_score", "value": "0.99", "set_at": 1.0}
    ]  # fmt: skip
    return parts, b


def page_status(api, path: str) -> int:
    req = urllib.request.Request(api.base + path)
    for k, v in api.headers.items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def reads(api, parts: dict[str, Any], out: dict[str, Any]) -> dict[str, int]:
    """The status of every way to read the lineage: API lookups, traversal, recipe, pages."""
    last = parts["artifacts"][-1]["hash"]
    job = next(iter(out["job_hashes"].values()))
    uid = next(iter(out["job_hashes"]))
    paths = {
        "artifact": f"/api/v1/artifacts/{last}",
        "prefix": f"/api/v1/artifacts/{last[:12]}",
        "lineage": f"/api/v1/artifacts/{last}/lineage",
        "recipe": f"/api/v1/artifacts/{last}/recipe",
        "job": f"/api/v1/jobs/{job}",
        "uid": f"/api/v1/jobs/{uid}",
        "session": f"/api/v1/sessions/{out['session_hash']}",
    }
    got = {k: api.get(p)[0] for k, p in paths.items()}
    got["page"] = page_status(api, f"/artifacts/{last}")
    got["job page"] = page_status(api, f"/jobs/{job}")
    return got


def found_by_search(api, parts: dict[str, Any], out: dict[str, Any]) -> set[str]:
    last = parts["artifacts"][-1]["hash"]
    job = next(iter(out["job_hashes"].values()))
    hits = set()
    for kind, q in (("artifact", last[:16]), ("job", job[:16]), ("job", "step 1")):
        status, res = api.get(f"/api/v1/search?kind={kind}&q={q.replace(' ', '+')}&limit=200")
        assert status == 200, res
        hits |= {r.get("hash") or r.get("job_hash") for r in res["results"]}
    return hits & ({last, job} | set(out["job_hashes"].values()))


def by_user(api, kind: str, user: str) -> set[str]:
    """What a search for ``user``'s registrations of ``kind`` finds, as ``api`` sees it."""
    status, res = api.get(f"/api/v1/search?kind={kind}&user={user}&limit=200")
    assert status == 200, res
    return {r.get("hash") or r.get("job_hash") for r in res["results"]}


def test_private_lineage_is_invisible_to_everyone_else(server, accounts):
    owner_name = name("owner")
    owner, other = accounts.user(owner_name), accounts.user(name("other"))
    parts, b = private_lineage()
    out = owner.register(b, "private")
    assert out["scope"] == "private" and out["created"]
    assert set(reads(owner, parts, out).values()) == {200}
    jobs = set(out["job_hashes"].values())
    assert by_user(owner, "job", owner_name) == jobs
    for viewer in (other, server):  # another user, and anonymous
        assert set(reads(viewer, parts, out).values()) == {404}, reads(viewer, parts, out)
        assert found_by_search(viewer, parts, out) == set()
        assert by_user(viewer, "job", owner_name) == set()
        assert by_user(viewer, "artifact", owner_name) == set()
        assert "secret_score" not in page_text(viewer, "/labels")
    assert found_by_search(owner, parts, out)
    assert "secret_score" in page_text(owner, "/labels?key=secret_score")
    # The 404 says the same as for a hash nobody registered.
    status, body = other.get(f"/api/v1/artifacts/{parts['artifacts'][-1]['hash']}")
    assert status == 404 and body["detail"].startswith("no artifact in this registry matches")


def page_text(api, path: str) -> str:
    req = urllib.request.Request(api.base + path)
    for k, v in api.headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.read().decode()


def test_project_lineage_is_seen_by_members_only(server, accounts):
    slug = f"{name('acme')}/models"
    member_a = accounts.user(name("ma"), slug)
    member_b = accounts.user(name("mb"), slug)
    outsider = accounts.user(name("out"))
    parts, b = private_lineage()
    out = member_a.register(b, slug)
    assert out["scope"] == slug
    assert set(reads(member_b, parts, out).values()) == {200}
    assert found_by_search(member_b, parts, out)
    assert set(reads(outsider, parts, out).values()) == {404}
    assert set(reads(server, parts, out).values()) == {404}
    # publishing in a project one is not a member of is refused, and stores nothing
    _, other = private_lineage()
    status, err = outsider.post(f"/api/v1/register?scope={slug}", other)
    assert status == 403 and "is not a member" in err["detail"]
    assert server.get(f"/api/v1/artifacts/{other['artifacts'][0]['hash']}")[0] == 404


def test_a_record_shared_between_scopes_shows_each_viewer_what_they_may_see(server, accounts):
    """The same artifact registered privately by A (A's job made it) and publicly by B (B's job
    read it): visibility attaches to each registration."""
    a_name, b_name = name("sa"), name("sb")
    a, b = accounts.user(a_name), accounts.user(b_name)
    parts, private = private_lineage()
    shared = parts["artifacts"][-1]["hash"]
    a_out = a.register(private, "private")
    reader = {
        "schema": "roar.lineage-bundle/1",
        "jobs": [{"uid": secrets.token_hex(6), "command": "python use.py", "argv": ["python"]}],
        "artifacts": [{"hash": shared, "size": 3}],
        "edges": [],
    }
    reader["edges"] = [
        {"job": reader["jobs"][0]["uid"], "artifact": shared, "role": "read", "path": "/x/in.bin"}
    ]
    b_out = b.register(reader, "public")
    assert b_out["created"]  # new in its scope, though the artifact was known
    b_job = b_out["job_hashes"][reader["jobs"][0]["uid"]]
    status, seen = server.get(f"/api/v1/artifacts/{shared}")  # anonymous
    assert status == 200
    assert seen["registered_by"] == b_name  # not the private registrant
    assert seen["produced_by"] == [] and seen["consumed_by"] == [b_job]
    assert seen["paths"] == ["/x/in.bin"] and seen["labels"]["current"] == {}
    assert seen["sessions"] == [b_out["session_hash"]]
    status, up = server.get(f"/api/v1/artifacts/{shared}/lineage?direction=up")
    assert status == 200 and up["jobs"] == []
    status, mine = a.get(f"/api/v1/artifacts/{shared}")
    assert mine["registered_by"] == a_name  # A's own registration came first
    assert len(mine["produced_by"]) == 1 and mine["consumed_by"] == [b_job]
    assert mine["labels"]["current"] == {"secret_score": "0.99"}
    assert set(mine["sessions"]) == {a_out["session_hash"], b_out["session_hash"]}
    # The user filter finds a registration only where the viewer sees it (it is the search's
    # visibility check when given).
    assert shared not in by_user(server, "artifact", a_name)  # A's registration is private
    assert shared in by_user(server, "artifact", b_name)
    assert shared in by_user(a, "artifact", a_name)
    status, recipe = a.get(f"/api/v1/artifacts/{shared}/recipe")
    assert status == 200 and len(recipe["steps"]) == 3
    assert server.get(f"/api/v1/artifacts/{shared}/recipe")[1]["steps"] == []


def test_the_same_lineage_private_then_public_is_created_in_each_scope(server, accounts):
    a = accounts.user(name("twice"))
    parts, b = private_lineage()
    first = a.register(b, "private")
    again = a.register(b, "private")
    public = a.register(b, "public")
    assert (first["created"], again["created"], public["created"]) == (True, False, True)
    assert set(reads(server, parts, public).values()) == {200}
    # the private label events stay private: the public registration carried the same events,
    # which anonymous readers now see as its own
    status, art = server.get(f"/api/v1/artifacts/{parts['artifacts'][-1]['hash']}")
    assert art["labels"]["current"] == {"secret_score": "0.99"}


def test_anonymous_registrations_are_public_and_attributed_to_anonymous(server, accounts):
    parts, b = private_lineage()
    out = server.register(b)
    assert (out["scope"], out["registered_by"]) == ("anonymous", "anonymous")
    other = accounts.user(name("anyone"))
    assert set(reads(other, parts, out).values()) == {200}
    assert other.get(f"/api/v1/sessions/{out['session_hash']}")[1]["registered_by"] == "anonymous"


def test_a_label_set_apart_from_a_registration_stays_off_others_leaderboard(
    server, accounts, engine
):
    """A label event in scope "public" on a private record (what a label endpoint that does
    not check scopes would write; written to the database here) is not listed to those who
    cannot see the record: the leaderboard and its keys check the target too."""
    from sqlalchemy import insert

    from glaas import models as m

    owner = accounts.user(name("lb"))
    parts, b = private_lineage()
    owner.register(b, "private")
    key = "lb_" + secrets.token_hex(3)
    art = parts["artifacts"][-1]["hash"]
    with engine.begin() as conn:
        conn.execute(
            insert(m.LabelEvent.__table__),
            [{"target_kind": "artifact", "target": art, "key": key, "value": "1",
              "set_at": 5.0, "registered_by": "x", "scope": "public"}],
        )  # fmt: skip
    board = page_text(server, f"/labels?key={key}")
    assert f'<option value="{key}"' not in board and art not in board
    assert art in page_text(owner, f"/labels?key={key}")
