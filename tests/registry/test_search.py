"""GET /api/v1/search: every filter, keyset pagination and its stability, artifacts by hash
prefix and file name, and the 422s — on SQLite and PostgreSQL (the server fixture's params).

The registry is shared by the package's tests, so each test registers as its own user and
filters on it.
"""

from __future__ import annotations

import secrets
import urllib.parse
from pathlib import Path
from typing import Any

from tests.registry.synth import h


def search(server, **params: Any) -> dict[str, Any]:
    status, out = server.get("/api/v1/search?" + urllib.parse.urlencode(params))
    assert status == 200, out
    return out


def all_pages(server, cursor: str | None = None, **params: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    pages = 0
    while True:
        out = search(server, **params, **({"cursor": cursor} if cursor else {}))
        results += out["results"]
        pages += 1
        cursor = out["next"]
        if cursor is None:
            return results
        assert pages < 100


def job(uid: str, command: str, started: str, **extra: Any) -> dict[str, Any]:
    return {
        "uid": uid,
        "command": command,
        "argv": command.split(),
        "started_at": started,
        **extra,
    }


def mixed_bundle(user: str) -> dict[str, Any]:
    """Four jobs that differ in one filter each: command, files, GPU, remote, date, labels."""
    s = user
    art = {name: h(s, name) for name in ("raw.csv", "clean.csv", "model.pt", "report.html")}
    jobs = [
        job(
            f"{s}-1",
            "python prep.py raw.csv clean.csv",
            "2026-01-10T09:00:00+00:00",
            git={"remote": "git@github.com:acme/vision.git", "commit": "a" * 40},
        ),
        job(
            f"{s}-2",
            "python train.py --lr 0.1",
            "2026-03-05T09:00:00+00:00",
            git={"remote": "git@github.com:acme/vision.git", "commit": "a" * 40},
            metadata={"host": {"cpu": {"count": 8}, "gpu": [{"model": "A100", "bus": "0"}]}},
        ),
        job(
            f"{s}-3",
            "python train.py --lr 0.01",
            "2026-03-06T09:00:00+00:00",
            git={"remote": "https://gitlab.example/acme/audio", "commit": "b" * 40},
            metadata={"host": {"cpu": {"count": 8}}},
        ),
        job(f"{s}-4", "python report.py model.pt", "2026-06-01T09:00:00+00:00"),
    ]
    edges = [
        (1, "raw.csv", "read", "/home/x/proj/data/raw.csv"),
        (1, "clean.csv", "write", "/home/x/proj/data/clean.csv"),
        (2, "clean.csv", "read", "/home/x/proj/data/clean.csv"),
        (2, "model.pt", "write", "/home/x/proj/model.pt"),
        (3, "clean.csv", "read", "/home/x/proj/data/clean.csv"),
        (4, "model.pt", "read", "/home/x/proj/model.pt"),
        (4, "report.html", "write", "/home/x/proj/out/report.html"),
    ]
    return {
        "schema": "roar.lineage-bundle/1",
        "registered_by": user,
        "jobs": jobs,
        "artifacts": [{"hash": v, "size": 10} for v in art.values()],
        "edges": [
            {"job": f"{s}-{i}", "artifact": art[a], "role": role, "path": p}
            for i, a, role, p in edges
        ],
        "labels": [
            {
                "target_kind": "job",
                "target": f"{s}-2",
                "key": "stage",
                "value": "prod",
                "set_at": 1,
            },
            # job 3 was prod, then moved to dev: only its current value counts
            {
                "target_kind": "job",
                "target": f"{s}-3",
                "key": "stage",
                "value": "prod",
                "set_at": 1,
            },
            {"target_kind": "job", "target": f"{s}-3", "key": "stage", "value": "dev", "set_at": 2},
            {
                "target_kind": "artifact",
                "target": art["model.pt"],
                "key": "accuracy",
                "value": "0.93",
                "set_at": 1,
            },
        ],
    }


def publish(accounts, user: str, bundle: dict[str, Any]) -> dict[str, Any]:
    """Register ``bundle`` publicly as ``user`` (a token of their own): the search's ``user``
    filter finds what the server attributes, not the bundle's own registered_by."""
    return accounts.user(user).register(bundle, "public")


def uids(out: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    rows = out["results"] if isinstance(out, dict) else out
    return sorted(r["uid"].rsplit("-", 1)[1] for r in rows)


def test_each_filter_narrows_to_the_jobs_it_names(server, accounts):
    user = "search-" + secrets.token_hex(4)
    publish(accounts, user, mixed_bundle(user))
    assert uids(search(server, user=user)) == ["1", "2", "3", "4"]
    assert uids(search(server, user=user, command="TRAIN.py")) == ["2", "3"]  # any case
    assert uids(search(server, user=user, q="train.py --lr 0.01")) == ["3"]
    assert uids(search(server, user=user, q="report.html")) == ["4"]  # q finds file paths too
    assert uids(search(server, user=user, file="clean.csv")) == ["1", "2", "3"]
    assert uids(search(server, user=user, file="lean.csv")) == []  # a whole name, not a part
    assert uids(search(server, user=user, ext="pt")) == ["2", "4"]
    assert uids(search(server, user=user, ext=".html")) == ["4"]
    assert uids(search(server, user=user, label="stage=prod")) == ["2"]  # 3 was moved to dev
    assert uids(search(server, user=user, label="stage=dev")) == ["3"]
    assert uids(search(server, user=user, gpu="true")) == ["2"]
    assert uids(search(server, user=user, gpu="false")) == ["1", "3", "4"]
    assert uids(search(server, user=user, project="acme/vision")) == ["1", "2"]
    assert uids(search(server, user=user, project="AUDIO")) == ["3"]
    assert uids(search(server, user=user, since="2026-03-01")) == ["2", "3", "4"]
    assert uids(search(server, user=user, since="2026-03-01", until="2026-03-06")) == ["2"]
    assert uids(search(server, user=user, command="train", gpu="false", project="audio")) == ["3"]
    assert search(server, user=user + "-nobody")["results"] == []
    hit = next(r for r in search(server, user=user, gpu="true")["results"])
    assert hit["gpu"] is True and hit["git"]["remote"] == "git@github.com:acme/vision.git"
    assert hit["command"] == "python train.py --lr 0.1" and hit["registered_by"] == user
    # a job hash prefix in q finds the job
    (report,) = search(server, user=user, command="report.py")["results"]
    assert uids(search(server, q=report["job_hash"][:12])) == ["4"]


def test_pages_are_newest_first_complete_and_stable_while_registrations_arrive(server, accounts):
    user = "pages-" + secrets.token_hex(4)
    for batch in range(3):  # three registrations: three registered_at values
        jobs = [
            job(f"{user}-{batch}{i}", f"step {batch} {i}", f"2026-02-0{batch + 1}T00:00:0{i}Z")
            for i in range(4)
        ]
        publish(accounts, user, {"registered_by": user, "jobs": jobs})
    first = search(server, user=user, limit=5)
    assert len(first["results"]) == 5 and first["next"]
    keys = [(r["registered_at"], r["job_hash"]) for r in first["results"]]
    assert keys == sorted(keys, reverse=True)  # newest registration first, then by hash
    assert {r["uid"][-2] for r in first["results"][:4]} == {"2"}  # the last batch leads
    # A registration between pages comes before the cursor: the next pages neither repeat
    # nor skip anything.
    publish(accounts, user, {"registered_by": user, "jobs": [job(f"{user}-late", "late", None)]})
    rest = all_pages(server, user=user, limit=5, cursor=first["next"])
    seen = [r["job_hash"] for r in first["results"] + rest]
    assert len(seen) == len(set(seen)) == 12
    assert "late" not in {r["command"] for r in rest}
    everything = all_pages(server, user=user, limit=3)
    assert len(everything) == 13 and everything[0]["command"] == "late"


def test_artifacts_by_hash_prefix_file_name_and_label(server, accounts):
    user = "arts-" + secrets.token_hex(4)
    bundle = mixed_bundle(user)
    publish(accounts, user, bundle)
    model = next(e["artifact"] for e in bundle["edges"] if e["path"].endswith("model.pt"))
    out = search(server, kind="artifact", q=model[:10])
    assert [a["hash"] for a in out["results"]] == [model]
    assert out["kind"] == "artifact" and out["results"][0]["paths"] == ["/home/x/proj/model.pt"]
    named = search(server, kind="artifact", user=user, file="clean.csv")["results"]
    assert [Path(p).name for a in named for p in a["paths"]] == ["clean.csv"]
    csvs = search(server, kind="artifact", user=user, ext="csv")["results"]
    assert len(csvs) == 2
    labelled = search(server, kind="artifact", user=user, label="accuracy=0.93")["results"]
    assert [a["hash"] for a in labelled] == [model]


def test_the_real_pipeline_is_found_by_its_files(server, pipeline_bundle):
    out = server.register(pipeline_bundle)
    found = search(server, file="model.bin", command="step.py")["results"]
    mine = [r for r in found if r["job_hash"] in out["job_hashes"].values()]
    assert sorted(r["command"] for r in mine) == [
        "python3 step.py clean.csv model.bin trained",
        "python3 step.py model.bin clean.csv metrics.json evaluated",
    ]


def test_unreadable_filters_are_422_with_what_is_wrong(server):
    cases = {
        "label=novalue": "is not key=value",
        "cursor=!!notours": "is not one this server gave",
        "since=last+week": "is not an ISO 8601 date",
        "kind=artifact&command=train": "applies to jobs, not artifacts",
    }
    for query, words in cases.items():
        status, out = server.get(f"/api/v1/search?{query}")
        assert status == 422 and words in out["detail"], (query, out)
    assert server.get("/api/v1/search?limit=0")[0] == 422
    assert server.get("/api/v1/search?limit=201")[0] == 422
    assert server.get("/api/v1/search?kind=session")[0] == 422
    status, out = server.get("/openapi.json")
    assert "/api/v1/search" in out["paths"]


def test_common_terms_are_checked_along_the_walk_with_the_same_answers(server, accounts):
    """Past search.COMMON (2,000) matching edges, q and ext switch from collecting the matches
    to checking each job along the newest-first walk: the answers must not change."""
    from glaas.service.search import COMMON

    user = "common-" + secrets.token_hex(4)
    tag = secrets.token_hex(3)
    n = COMMON + 5
    arts = [{"hash": h(user, str(i)), "size": i} for i in range(n)]
    many = job(f"{user}-many", "python shard.py", "2026-04-01T00:00:00+00:00")
    few = job(f"{user}-few", "python one.py", "2026-04-02T00:00:00+00:00")
    edges = [
        {
            "job": many["uid"],
            "artifact": a["hash"],
            "role": "write",
            "path": f"/d/s{tag}_{i}.z{tag}",
        }
        for i, a in enumerate(arts[:-1])
    ] + [
        {
            "job": few["uid"],
            "artifact": arts[-1]["hash"],
            "role": "read",
            "path": f"/d/s{tag}_x.z{tag}",
        }
    ]
    publish(
        accounts,
        user,
        {"registered_by": user, "jobs": [many, few], "artifacts": arts, "edges": edges},
    )
    for params in ({"ext": f"z{tag}"}, {"q": f"s{tag}_"}):  # common: the walk
        assert uids(search(server, user=user, **params)) == ["few", "many"], params
    for params in ({"q": f"s{tag}_x"}, {"q": "one.py"}):  # rare: collected
        assert uids(search(server, user=user, **params)) == ["few"], params
    found = search(server, kind="artifact", q=f"s{tag}_", limit=200)
    assert len(found["results"]) == 200 and found["next"]


def test_a_gpu_search_walks_the_index_of_gpu_jobs(engine):
    """gpu=true reads ix_jobs_gpu (revision 0006), the GPU jobs alone, newest first: the search
    spells the index's condition (search.GPU), without which the database cannot use a partial
    index and reads every job's metadata."""
    from sqlalchemy import event

    from glaas.db import make_sessionmaker
    from glaas.service import search as search_svc

    seen: list[tuple[str, Any]] = []

    def grab(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if "ORDER BY jobs.registered_at DESC" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with make_sessionmaker(engine)() as db:
            search_svc.search(db, search_svc.Filters(gpu=True), "job", 50)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, params = seen[-1]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # On a test's few rows the planner would rather sort them than walk an index:
            # asked for an ordered walk, it takes the one whose condition the query has.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            plan = list(conn.exec_driver_sql("EXPLAIN " + statement, params).scalars())
        else:
            plan = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    assert any("ix_jobs_gpu" in line for line in plan), plan
