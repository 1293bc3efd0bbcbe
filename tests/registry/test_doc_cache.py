"""The lookups' documents kept between requests (glaas.service.doc_cache): what never changes
is kept, what can change is still read each time. On a real glaas-server (SQLite and
PostgreSQL): a job and a session looked up, then registered again in another scope, labelled
and put in a new session, show all of it to each viewer as it may see it."""

from __future__ import annotations

from glaas.service.doc_cache import DocCache, json_size
from tests.registry.synth import chain, window
from tests.registry.test_scopes import name


def doc(job_hash: str, pad: int = 0) -> dict:
    return {"job_hash": job_hash, "command": "x" * pad}


def test_the_cache_keeps_the_most_recently_used_within_its_budget():
    one = json_size(doc("a", 100))
    cache = DocCache(budget=3 * one)
    for key in "abc":
        cache.put_job(key, doc(key, 100))
    assert cache.job("a") is not None  # used: b is now the oldest
    cache.put_job("d", doc("d", 100))
    assert cache.job("b") is None
    assert [cache.job(k) is not None for k in "acd"] == [True, True, True]
    assert cache.size == 3 * one
    cache.put_job("huge", doc("huge", 4 * one))  # larger than the whole budget: not kept
    assert cache.job("huge") is None and cache.job("a") is not None


def test_a_session_is_answered_from_the_cache_only_with_all_its_jobs():
    row = {"session_hash": "s"}
    cache = DocCache(budget=10_000)
    cache.put_session("s", row, [doc("j1"), doc("j2")])
    assert cache.session("s") == (row, [doc("j1"), doc("j2")])
    cache = DocCache(budget=10_000)
    cache.put_session("s", row, [doc("j1"), doc("j2")])  # kept oldest first: j1, j2, s
    cache.budget = cache.size
    cache.put_job("j3", doc("j3"))  # j1 out
    assert cache.job("j1") is None and cache.job("j2") is not None
    assert cache.session("s") is None


def test_a_looked_up_job_and_session_still_show_later_registrations_and_labels(server, accounts):
    a_name, b_name = name("ca"), name("cb")
    a, b = accounts.user(a_name), accounts.user(b_name)
    parts = chain(3, salt=name("cache"))
    first = a.register(window(parts, 0, 2), "private")
    job = first["job_hashes"][parts["jobs"][1]["uid"]]
    session = first["session_hash"]

    status, mine = a.get(f"/api/v1/jobs/{job}")  # now kept
    assert status == 200 and mine["registered_by"] == a_name
    assert mine["sessions"] == [session] and mine["labels"]["current"] == {}
    assert a.get(f"/api/v1/sessions/{session}")[0] == 200
    assert server.get(f"/api/v1/jobs/{job}")[0] == 404  # private: absent to anonymous

    public = b.register(window(parts, 0, 2), "public")  # the same lineage, in public
    later = b.register(window(parts, 1, 3), "public")  # the job again, in a new session
    labelled = b.post(
        "/api/v1/labels?scope=public",
        {"changes": [{"target_kind": "job", "target": job, "key": "stage", "value": "prod"}]},
    )
    assert labelled[0] == 200, labelled

    status, seen = server.get(f"/api/v1/jobs/{job}")
    assert status == 200 and seen["registered_by"] == b_name  # the registration it may see
    assert seen["sessions"] == sorted([session, later["session_hash"]])
    assert seen["labels"]["current"] == {"stage": "prod"}
    assert public["session_hash"] == session
    status, mine = a.get(f"/api/v1/jobs/{job}")
    assert mine["registered_by"] == a_name and mine["labels"]["current"] == {"stage": "prod"}
    assert {k: v for k, v in mine.items() if k not in ("registered_by", "registered_at")} == {
        k: v for k, v in seen.items() if k not in ("registered_by", "registered_at")
    }

    status, s = server.get(f"/api/v1/sessions/{session}")
    assert status == 200 and s["registered_by"] == b_name
    assert {j["registered_by"] for j in s["jobs"]} == {b_name}
    assert {j["registered_by"] for j in a.get(f"/api/v1/sessions/{session}")[1]["jobs"]} == {a_name}


def test_changing_a_returned_document_changes_no_later_one(server, engine):
    """What the SQLite builder shares between lookups (PostgreSQL's documents are parsed anew
    from the database's text each time)."""
    from glaas.db import make_sessionmaker
    from glaas.service import lookup

    parts = chain(2, salt=name("mutate"))
    out = server.register(window(parts, 0, 2))
    job = next(iter(out["job_hashes"].values()))
    with make_sessionmaker(engine)() as db:
        first = lookup.job(db, job)
        session = lookup.session(db, out["session_hash"])
        first["command"] = "changed"
        first["labels"] = None
        session["jobs"][0]["registered_by"] = "changed"
        again = lookup.job(db, job)
        assert again["command"] == "step 0" and again["labels"]["current"] == {}
        assert lookup.session(db, out["session_hash"])["jobs"][0]["registered_by"] == "anonymous"
