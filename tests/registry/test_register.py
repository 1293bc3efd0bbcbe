"""Registering lineage: a real pipeline, idempotence, concurrency, content-hashed sessions."""

from __future__ import annotations

import copy
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select, text

from glaas import models as m
from roar.registry.bundle import bundle_from_session
from tests.registry.synth import chain, window

TABLES = [
    m.Artifact,
    m.ArtifactAlias,
    m.CompositeMember,
    m.Job,
    m.Edge,
    m.Session,
    m.SessionJob,
    m.LabelEvent,
]


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.__tablename__: conn.scalar(select(func.count()).select_from(t)) for t in TABLES}


def test_register_a_real_pipeline(server, pipeline_bundle, pipeline):
    out = server.register(pipeline_bundle)
    assert out["jobs"] == 3 and out["edges"] == len(pipeline_bundle["edges"])
    status, session = server.get(f"/api/v1/sessions/{out['session_hash']}")
    assert status == 200
    assert [j["command"] for j in session["jobs"]] == [
        j["command"] for j in pipeline["session"]["jobs"]
    ]
    job = session["jobs"][0]
    assert job["git"]["commit"] == pipeline["session"]["jobs"][0]["git"]["commit"]
    assert job["inputs"] and job["outputs"] and job["env_names"] == sorted(job["env_names"])


def test_env_values_never_leave_the_laptop(pipeline, pipeline_bundle):
    env = pipeline["session"]["jobs"][0]["metadata"]["env"]
    name, value = next((k, v) for k, v in env.items() if len(v) > 8)
    sent = json.dumps(pipeline_bundle)
    assert name in sent and value not in sent


def test_the_same_bundle_twice_adds_nothing(server, engine, pipeline_bundle):
    server.register(pipeline_bundle)
    before = counts(engine)
    again = server.register(pipeline_bundle)
    assert again["created"] is False
    assert counts(engine) == before


def test_same_lineage_same_session_hash(server, pipeline, pipeline_bundle):
    first = server.register(pipeline_bundle)["session_hash"]
    # Rebuilt from another copy of the JSON, by someone else, jobs and edges in another order,
    # metadata trimmed: still the same lineage, so the same session.
    other = bundle_from_session(copy.deepcopy(pipeline["session"]), registered_by="someone-else")
    random.Random(7).shuffle(other["jobs"])
    other["edges"].reverse()
    for job in other["jobs"]:
        job["metadata"] = {}
    assert server.register(other)["session_hash"] == first
    # A different lineage (one job less) is a different session.
    fewer = copy.deepcopy(pipeline_bundle)
    dropped = fewer["jobs"].pop()["uid"]
    fewer["edges"] = [e for e in fewer["edges"] if e["job"] != dropped]
    assert server.register(fewer)["session_hash"] != first


def test_concurrent_overlapping_registrations_store_every_record_once(server, engine):
    parts = chain(29)  # windows 0-9 ... 19-28 cover every job
    bundles = [window(parts, i, i + 10) for i in range(20)]  # windows overlap by 9 jobs
    start = threading.Barrier(len(bundles))

    def send(bundle):
        start.wait()
        return server.register(bundle)

    with ThreadPoolExecutor(len(bundles)) as pool:
        results = list(pool.map(send, bundles))
    assert all(r["created"] for r in results)
    hashes = [a["hash"] for a in parts["artifacts"]]
    job_hashes = {h for r in results for h in r["job_hashes"].values()}
    sessions = [r["session_hash"] for r in results]
    with engine.connect() as conn:
        assert (
            conn.scalar(
                select(func.count()).select_from(m.Artifact).where(m.Artifact.hash.in_(hashes))
            )
            == 30
        )
        assert (
            conn.scalar(
                select(func.count()).select_from(m.Job).where(m.Job.job_hash.in_(job_hashes))
            )
            == 29
        )
        assert (
            conn.scalar(
                select(func.count()).select_from(m.Edge).where(m.Edge.job_hash.in_(job_hashes))
            )
            == 58
        )
        links = (
            select(func.count())
            .select_from(m.SessionJob)
            .where(m.SessionJob.session_hash.in_(sessions))
        )
        assert conn.scalar(links) == 20 * 10
        assert len(set(sessions)) == 20


def test_an_invalid_bundle_is_refused_whole(server, engine):
    bundle = window(chain(2), 0, 2)
    bundle["edges"].append(
        {
            "job": "nosuchjob",
            "artifact": bundle["artifacts"][0]["hash"],
            "role": "read",
            "path": "x",
        }
    )
    before = counts(engine)
    status, out = server.post("/api/v1/register", bundle)
    assert status == 422 and "nosuchjob" in json.dumps(out)
    assert counts(engine) == before


def test_labels_keep_their_history(server):
    bundle = window(chain(1), 0, 1)
    target = bundle["artifacts"][1]["hash"]
    bundle["labels"] = [
        {
            "target_kind": "artifact",
            "target": target,
            "key": "accuracy",
            "value": "0.81",
            "set_at": 1.0,
        },
        {
            "target_kind": "artifact",
            "target": target,
            "key": "accuracy",
            "value": "0.93",
            "set_at": 2.0,
        },
        {"target_kind": "session", "key": "dataset", "value": "v2", "set_at": 1.0},
    ]
    out = server.register(bundle)
    server.register(bundle)
    labels = server.get(f"/api/v1/artifacts/{target}")[1]["labels"]
    assert labels["current"] == {"accuracy": "0.93"}
    assert [e["value"] for e in labels["history"]] == ["0.81", "0.93"]
    session = server.get(f"/api/v1/sessions/{out['session_hash']}")[1]
    assert session["labels"]["current"] == {"dataset": "v2"}


def test_the_database_is_at_the_migrations_head(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from glaas.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        assert conn.scalar(text("select version_num from alembic_version")) == head
        assert compare_metadata(MigrationContext.configure(conn), m.Base.metadata) == []


def test_every_job_field_of_roar_show_reaches_the_registry(server, pipeline, pipeline_bundle):
    """A job's keys in `roar show --json` are all registered, bar the ones LOCAL_ONLY names."""
    from roar.registry.bundle import LOCAL_ONLY

    local = pipeline["session"]["jobs"][0]
    out = server.register(pipeline_bundle)
    served = server.get(f"/api/v1/jobs/{out['job_hashes'][local['job_uid']]}")[1]
    renamed = {"job_uid": "uid"}
    missing = {k for k in local if k not in LOCAL_ONLY and renamed.get(k, k) not in served}
    assert missing == set()
    assert served["git"] == {**local["git"]}
    assert served["interrupted"] == local["interrupted"] and served["deleted"] == local["deleted"]
    for key in ("command", "argv", "cwd", "exit_code", "started_at", "ended_at", "tracer"):
        assert served[key] == local[key], key
    assert served["packages"] == local["metadata"]["packages"]
    assert served["env_names"] == sorted(local["metadata"]["env"])


def test_job_and_session_hashes_are_the_documented_ones(server, pipeline_bundle):
    """docs/registry-api.md's definition, computed here from the bundle alone, matches the server:
    a client can know a session's hash before (or without) registering it."""
    import hashlib

    def canonical(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def job_hash(job):
        edges = sorted(
            [e["role"], e["artifact"], e["path"]]
            for e in pipeline_bundle["edges"]
            if e["job"] == job["uid"]
        )
        keys = ("uid", "kind", "command", "argv", "cwd", "started_at")
        return canonical(
            {**{k: job[k] for k in keys}, "git_commit": job["git"]["commit"], "edges": edges}
        )

    jobs = {j["uid"]: job_hash(j) for j in pipeline_bundle["jobs"]}
    edges = sorted(
        [jobs[e["job"]], e["role"], e["artifact"], e["path"]] for e in pipeline_bundle["edges"]
    )
    out = server.register(pipeline_bundle)
    assert out["job_hashes"] == jobs
    assert out["session_hash"] == canonical({"jobs": sorted(jobs.values()), "edges": edges})
