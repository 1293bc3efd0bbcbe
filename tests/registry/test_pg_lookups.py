"""The PostgreSQL lookups on the event loop (glaas.service.pg_lookups), on a real cluster: the
same answers and errors as the service's own path (pg_documents.find on a psycopg cursor), its
connections few, pipelined (each lookup its own answer, whatever the others pipelined with it
do: fail, or are cancelled), reopened after PostgreSQL drops them, and planning their
statements once."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from glaas.api.app import pg_lookups
from glaas.db import make_engine, make_sessionmaker
from glaas.migrate import upgrade
from glaas.schemas import Bundle
from glaas.service import Ambiguous, BadPrefix, NotFound, auth, lookup, register
from glaas.service.auth import ANONYMOUS_VIEWER
from glaas.service.pg_lookups import APPLICATION, PgLookups, text_array
from tests.registry.synth import chain, h, window
from tests.registry.test_scopes import name


def admin_conn(url: str) -> psycopg.Connection[Any]:
    u = make_url(url)
    return psycopg.connect(
        host=u.query["host"], port=u.query["port"], user=u.username, dbname=u.database,
        autocommit=True,
    )  # fmt: skip


@pytest.fixture
def registry(postgres_url):
    """A lineage on the test cluster: a private session of alice's and a public one, an
    artifact with an alias, three artifacts on one prefix; and the lookups' own connections."""
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    alice_name = name("pgl")
    with sessions() as db:
        auth.create_user(db, alice_name)
    with sessions() as db:
        alice = auth.viewer_for(db, alice_name, "token")
    parts = chain(4, salt=name("pgl"))
    parts["artifacts"][0]["aliases"] = [
        {"algorithm": "sha256", "digest": "sha256:" + h("alias", parts["artifacts"][0]["hash"])}
    ]
    prefix = "abcdef02" + h(parts["salt"])[:4]
    for i in (2, 3, 4):  # three artifacts on one prefix
        art = parts["artifacts"][i]
        new = prefix + art["hash"][len(prefix) :]
        for e in parts["edges"]:
            if e["artifact"] == art["hash"]:
                e["artifact"] = new
        parts["artifacts"][i] = {**art, "hash": new}
    registered = []
    for who, bundle, scope in [
        (alice, window(parts, 0, 2), "private"),
        (ANONYMOUS_VIEWER, window(parts, 1, 4), "anonymous"),
    ]:
        with sessions() as db:
            registered.append(register.register(db, Bundle.model_validate(bundle), who, scope))
    lookups = pg_lookups(engine)
    assert lookups is not None
    try:
        yield {
            "engine": engine, "lookups": lookups, "parts": parts, "alice": alice,
            "private": registered[0], "public": registered[1], "prefix": prefix,
        }  # fmt: skip
    finally:
        lookups.close()
        engine.dispose()


def keys(r: dict[str, Any]) -> list[tuple[str, str]]:
    parts, private, public = r["parts"], r["private"], r["public"]
    arts = parts["artifacts"]
    jobs = [*private.job_hashes.values(), *public.job_hashes.values()]
    return [
        *[("artifact", a["hash"]) for a in arts],
        ("artifact", arts[1]["hash"][:12].upper()),  # a prefix, in capitals
        ("artifact", arts[0]["aliases"][0]["digest"]),
        ("artifact", r["prefix"]),  # three candidates
        ("artifact", "sha256:" + "0" * 64),  # no such alias
        ("artifact", "00000000deadbeef"),
        ("artifact", "abc"),
        *[("job", j) for j in jobs],
        *[("job", j["uid"]) for j in parts["jobs"]],
        ("job", jobs[0][:10]),
        ("job", "not-hex-at-all"),
        ("job", "ffffffff0000"),
        ("session", private.session_hash),
        ("session", public.session_hash[:9]),
        ("session", "g" * 10),
    ]


def outcome(call: Any) -> tuple[str, Any]:
    """What a lookup answers: its document, or its error's kind, message and candidates."""
    try:
        doc = call()
        return "ok", lookup.loads(doc.decode())
    except (NotFound, Ambiguous, BadPrefix) as exc:
        return type(exc).__name__, (str(exc), getattr(exc, "candidates", None))


def test_the_loops_lookups_answer_as_the_services_do(registry):
    lookups: PgLookups = registry["lookups"]
    seen: dict[str, int] = {}
    for viewer in (ANONYMOUS_VIEWER, registry["alice"]):
        for kind, key in keys(registry):
            with lookup.reading(registry["engine"]) as reader:
                expected = outcome(partial(lookup.document_json, kind, reader, key, viewer))
            for _ in range(2):  # a session again: its shared part from doc_cache
                got = outcome(partial(asyncio.run, lookups.document(kind, key, viewer.scopes)))
                assert got == expected, (viewer.user, kind, key)
            seen[got[0]] = seen.get(got[0], 0) + 1
    # Each outcome met; alice sees her private session, the anonymous viewer does not.
    assert set(seen) == {"ok", "NotFound", "Ambiguous", "BadPrefix"}, seen
    private = registry["private"].session_hash
    alice_sees = asyncio.run(lookups.document("session", private, registry["alice"].scopes))
    assert lookup.loads(alice_sees.decode())["session_hash"] == private
    with pytest.raises(NotFound):
        asyncio.run(lookups.document("session", private, ANONYMOUS_VIEWER.scopes))


def test_scopes_are_sent_as_text_whatever_they_hold(postgres_url):
    odd = ["public", 'a"b', "x,y", "{z}", "NULL", "back\\slash", " sp ace ", "é", ""]
    with admin_conn(postgres_url) as conn:
        back = conn.execute("SELECT %s::text::text[]", [text_array(odd).decode()]).fetchone()
    assert back is not None and back[0] == odd


def backends(url: str) -> set[int]:
    with admin_conn(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION]
        ).fetchall()
    return {pid for (pid,) in rows}


def pool_pids(lookups: PgLookups) -> set[int]:
    """The backends of the lookups' open connections (the registry server of the other tests
    has its own on this cluster)."""
    return {p.pg.backend_pid for p in lookups._pipes if not p.closed}


def test_connections_are_few_and_reopened_when_postgresql_drops_them(registry, postgres_url):
    lookups: PgLookups = registry["lookups"]
    lookups.size = 3  # LOOKUP_CONNECTIONS is 1; a few, shared
    public = registry["public"].session_hash
    work = [("session", public), *[k for k in keys(registry) if k[0] == "job"]][:12] * 4

    async def many() -> list[Any]:
        async def one(kind: str, key: str) -> Any:
            try:
                return await lookups.document(kind, key, ANONYMOUS_VIEWER.scopes)
            except (NotFound, Ambiguous, BadPrefix) as exc:
                return type(exc)

        return await asyncio.gather(*(one(k, key) for k, key in work))

    async def twice() -> tuple[list[Any], set[int], list[Any]]:
        first = await many()
        opened = pool_pids(lookups)
        with admin_conn(postgres_url) as conn:  # a restart, as the pool sees it
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [list(opened)]
            )
        return first, opened, await many()

    first, opened, again = asyncio.run(twice())
    assert 1 <= len(opened) <= 3, opened  # 48 lookups at once, a few connections
    assert first == again and first[0].startswith(b"{")
    assert pool_pids(lookups) and not pool_pids(lookups) & opened  # new connections answered
    assert pool_pids(lookups) <= backends(postgres_url)


def test_a_cancelled_lookup_leaves_the_others_their_own_answers(registry):
    """Lookups pipelined on one connection, the middle one cancelled while PostgreSQL answers
    it: its answer is read and dropped in its turn, the others get their own documents, and
    the connection goes on."""
    lookups: PgLookups = registry["lookups"]
    lookups.size = 1  # all on one connection
    public = registry["public"]
    jobs = list(public.job_hashes.values())
    scopes = ANONYMOUS_VIEWER.scopes

    reported: list[dict[str, Any]] = []  # what went wrong in the loop's callbacks

    async def cancel_one() -> tuple[list[Any], set[int], set[int]]:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: reported.append(ctx))
        await lookups.document("job", jobs[0], scopes)  # one connection open
        opened = pool_pids(lookups)
        tasks = [asyncio.create_task(lookups.document("job", j, scopes)) for j in jobs[:3]]
        for _ in range(3):  # all sent, none answered yet
            await asyncio.sleep(0)
        tasks[1].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        after = await lookups.document("session", public.session_hash, scopes)
        return [*done, after], opened, pool_pids(lookups)

    (first, cancelled, third, after), opened, still = asyncio.run(cancel_one())
    assert isinstance(cancelled, asyncio.CancelledError) and reported == []
    assert lookup.loads(first.decode())["job_hash"] == jobs[0]
    assert lookup.loads(third.decode())["job_hash"] == jobs[2]
    assert lookup.loads(after.decode())["session_hash"] == public.session_hash
    assert len(opened) == 1 and opened <= still, "the connection was closed or replaced"


def test_an_error_in_one_lookup_is_its_own(registry):
    """Lookups sent together in one statement, one of which PostgreSQL refuses (its text is not
    UTF-8): that one fails, the batch is tried again a lookup at a time, and the others answer,
    on the same connection."""
    lookups: PgLookups = registry["lookups"]
    lookups.size = 1  # all on one connection
    job = list(registry["public"].job_hashes.values())[0].encode()
    scopes = text_array(ANONYMOUS_VIEWER.scopes)

    async def three() -> tuple[list[Any], int]:
        await lookups._run("job", job, job, scopes)  # prepared, one connection open
        sent = lookups.statements
        runs = [lookups._run("job", job, p, scopes) for p in (job, b"\xff\xfe", job)]
        return await asyncio.gather(*runs, return_exceptions=True), lookups.statements - sent

    (before, refused, after), statements = asyncio.run(three())
    assert isinstance(refused, psycopg.errors.CharacterNotInRepertoire), refused
    for doc, hits in (before, after):
        assert lookup.loads(doc.decode())["job_hash"] == job.decode() and hits is None
    assert statements == 4, "one batch, then each of its three alone"
    assert len(pool_pids(lookups)) == 1


def test_lookups_sent_together_each_get_their_own_answer(registry):
    """Every key of every kind, looked up at once by both viewers (batches of mixed texts,
    prefixes, misses and errors, split by statement and scopes): each answer is the one the
    service gives for that key and viewer alone."""
    lookups: PgLookups = registry["lookups"]
    viewers = (ANONYMOUS_VIEWER, registry["alice"])
    work = [(v, kind, key) for v in viewers for kind, key in keys(registry)] * 2
    expected = {}
    for viewer, kind, key in work:
        with lookup.reading(registry["engine"]) as reader:
            got = outcome(partial(lookup.document_json, kind, reader, key, viewer))
        expected[(viewer.user, kind, key)] = got

    async def together() -> list[tuple[str, Any]]:
        async def one(viewer: Any, kind: str, key: str) -> tuple[str, Any]:
            async def call() -> bytes:
                return await lookups.document(kind, key, viewer.scopes)

            try:
                return "ok", lookup.loads((await call()).decode())
            except (NotFound, Ambiguous, BadPrefix) as exc:
                return type(exc).__name__, (str(exc), getattr(exc, "candidates", None))

        sent = lookups.statements
        answers = await asyncio.gather(*(one(*w) for w in work))
        assert lookups.statements - sent < len(work) / 4, "sent one by one, not together"
        return answers

    answers = asyncio.run(together())
    for (viewer, kind, key), got in zip(work, answers, strict=True):
        assert got == expected[(viewer.user, kind, key)], (viewer.user, kind, key)


def test_the_lookups_connections_plan_their_statements_once(registry, postgres_url):
    """Prepared statements run on their generic plan (a prefix's range was re-planned on every
    run, ~0.5 ms of PostgreSQL's CPU a lookup); the app's own connections keep the default,
    which a search's text pattern needs."""
    lookups: PgLookups = registry["lookups"]

    async def setting() -> str:
        conn = await lookups._connect()
        try:
            row = await (await conn.execute("SHOW plan_cache_mode")).fetchone()
            return str(row[0]) if row else ""
        finally:
            await conn.close()

    assert asyncio.run(setting()) == "force_generic_plan"
    with registry["engine"].connect() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"


def test_sqlite_has_no_loop_lookups(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        assert pg_lookups(engine) is None
    finally:
        engine.dispose()


def test_a_session_sent_again_as_made_until_its_parts_change(registry):
    """A kept session's document made of the same viewer's parts as last time is the one made
    then, byte for byte; once a label changes the parts, the document shows the label."""
    from glaas.service.labels import LabelsIn, apply

    lookups: PgLookups = registry["lookups"]
    session = registry["public"].session_hash
    look = partial(lookups.document, "session", session, ANONYMOUS_VIEWER.scopes)
    first, second, third = (asyncio.run(look()) for _ in range(3))  # cold, made, kept
    assert first == second == third
    kept = lookups.docs.answer(session)
    assert kept is not None and kept[1] is third, "made again, not sent as kept"
    change = {"target_kind": "session", "target": session, "key": "stage", "value": "prod"}
    with make_sessionmaker(registry["engine"])() as db:
        apply(db, LabelsIn.model_validate({"changes": [change]}))
    labelled = lookup.loads(asyncio.run(look()).decode())
    assert labelled["labels"]["current"] == {"stage": "prod"}
    with lookup.reading(registry["engine"]) as reader:
        assert labelled == lookup.loads(
            lookup.document_json("session", reader, session, ANONYMOUS_VIEWER).decode()
        )
