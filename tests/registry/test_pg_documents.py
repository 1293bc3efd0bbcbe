"""On PostgreSQL the database builds the lookup documents (glaas.service.pg_documents); they
are the documents glaas.service.lookup builds from rows, which are SQLite's. Both builders run
here on a real PostgreSQL cluster over a rich lineage (composite members under names that sort
differently by locale, aliases, a job with every field, labels with history and removals,
grants in several scopes) for each viewer and every record, and must agree."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from glaas.db import make_engine, make_sessionmaker
from glaas.migrate import upgrade
from glaas.schemas import Bundle
from glaas.service import NotFound, auth, lookup, register
from glaas.service.auth import ANONYMOUS_VIEWER
from tests.registry.synth import chain, h, window
from tests.registry.test_scopes import name


def rich_lineage() -> tuple[dict[str, Any], dict[str, Any]]:
    parts = chain(4, salt=name("pgdocs"))
    first = parts["artifacts"][0]
    first["composite"] = True
    first["members"] = [
        {"path": p, "hash": h("member", p), "size": i or None}
        for i, p in enumerate(["b.bin", "B.bin", "a/é.txt", "a/z.txt", "_x", "Zeta"])
    ]
    first["aliases"] = [
        {"algorithm": "sha256", "digest": "sha256:" + h("alias", first["hash"])},
        {"algorithm": "etag", "digest": '"' + h("etag", first["hash"])[:32] + '-2"'},
    ]
    job = parts["jobs"][1]
    job.update(
        kind="run",
        step_name="train",
        cwd="/home/ü/proj",
        exit_code=3,
        interrupted=True,
        ended_at="2026-12-02T00:01:00+00:00",
        duration_seconds=12.345678901234,
        tracer="ebpf",
        git={"remote": "git@example.org:o/p.git", "commit": "c" * 40, "branch": "main",
             "dirty": True, "diff_hash": "d" * 64},
        packages={"pip": {"numpy": "2.1.0"}, "apt": ["libc6"]},
        env_names=["PATH", "CUDA_VISIBLE_DEVICES"],
        deleted=[{"path": "old.csv", "hash": h("gone"), "size": 7}],
        cell={"notebook_path": "n.ipynb", "cell_id": "c1", "execution_count": 4,
              "source": "x = 1", "variables": {"x": "int"}},
        metadata={"seed": 2**70, "ratio": 0.1, "name": "é", "nested": {"b": [1, 2.5, None]}},
    )  # fmt: skip
    # The same path read in two versions, and a second output whose name sorts before the first.
    job_uid = job["uid"]
    parts["edges"] += [
        {"job": job_uid, "artifact": first["hash"], "role": "read", "path": "a1"},
        {"job": job_uid, "artifact": parts["artifacts"][3]["hash"], "role": "write",
         "path": "A0"},
    ]  # fmt: skip
    bundle = window(parts, 0, 4)
    last = parts["artifacts"][-1]["hash"]
    bundle["labels"] = [
        {"target_kind": "artifact", "target": last, "key": "acc", "value": "0.9", "set_at": 1.0},
        {"target_kind": "artifact", "target": last, "key": "acc", "value": "0.95",
         "set_at": 2.5},
        {"target_kind": "artifact", "target": last, "key": "old", "value": "x", "set_at": 1.5},
        {"target_kind": "artifact", "target": last, "key": "old", "value": None, "set_at": 3.0},
        {"target_kind": "job", "target": job_uid, "key": "stage", "value": "prod",
         "set_at": 1764633600.123456},
        {"target_kind": "session", "key": "ticket", "value": "ML-1", "set_at": 4.0},
    ]  # fmt: skip
    return parts, bundle


def as_json(doc: Any) -> Any:
    return json.loads(lookup.dumps(doc))


@pytest.fixture
def icu_database(postgres_url):
    """A database of the test cluster whose text sorts by ICU's English rules (case and
    punctuation folded), unlike Python's code point order: the documents' orders must not
    follow the database's collation."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    dbname = f"glaas_icu_{secrets.token_hex(4)}"
    admin = {"host": url.query["host"], "port": url.query["port"], "user": url.username}
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {dbname} TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
        )
    yield url.set(database=dbname).render_as_string(hide_password=False)
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {dbname} WITH (FORCE)")


def test_postgresql_builds_the_documents_python_builds(icu_database):
    upgrade(icu_database)
    engine = make_engine(icu_database)
    a_name, b_name, project = name("pa"), name("pb"), f"{name('o')}/p"
    try:
        sessions = make_sessionmaker(engine)
        with sessions() as db:
            for user in (a_name, b_name):
                auth.create_user(db, user)
            auth.create_project(db, project)
            auth.add_member(db, project, a_name)
        with sessions() as db:
            alice = auth.viewer_for(db, a_name, "token")
            bob = auth.viewer_for(db, b_name, "token")
        parts, bundle = rich_lineage()
        registered = []
        for who, part, scope in [
            (alice, bundle, "private"),
            (bob, window(parts, 1, 3), "public"),
            (alice, window(parts, 2, 4), project),
        ]:
            with sessions() as db:
                registered.append(register.register(db, Bundle.model_validate(part), who, scope))
        private, public = registered[:2]
        jobs = sorted(set(private.job_hashes.values()) | set(public.job_hashes.values()))
        keys = (
            [("artifact", a["hash"]) for a in parts["artifacts"]]
            + [("job", j) for j in jobs]
            + [("session", s) for s in {private.session_hash, public.session_hash}]
        )
        builders = {"artifact": lookup._artifact, "job": lookup._job, "session": lookup._session}
        compared = 0
        for viewer in (ANONYMOUS_VIEWER, alice, bob):
            for kind, key in keys:
                with lookup.reading(engine) as reader:
                    try:
                        from_sql = lookup.document_json(kind, reader, key, viewer)
                    except NotFound:
                        continue
                    from_rows = builders[kind](reader, key, viewer)
                assert json.loads(from_sql) == as_json(from_rows), (viewer.user, kind, key)
                compared += 1
        assert compared >= 20  # each viewer saw something, alice most
        with lookup.reading(engine) as reader:
            art = json.loads(
                lookup.document_json("artifact", reader, parts["artifacts"][0]["hash"], alice)
            )
        assert [m["path"] for m in art["members"]] == sorted(
            m["path"] for m in parts["artifacts"][0]["members"]
        )
        assert art["aliases"][0]["algorithm"] == "etag"
    finally:
        engine.dispose()
