"""Schemathesis over the registry's own OpenAPI document: whatever a client sends to any
operation, the server answers it (2xx or a 4xx that says what is wrong), never with a 5xx.

The server is a real `python -m glaas serve` process of its own (the fuzzer registers random
bundles, which must not leak into the counts the other registry tests make), on SQLite and on
the throw-away PostgreSQL cluster. A real 3-step pipeline is registered first, and the path
parameters are often swapped for its real hashes, prefixes and uids, so lookups, traversals and
recipes run over real rows as well as over nonsense.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.registry.conftest import Api, running_server

# per operation and database; GLAAS_FUZZ_EXAMPLES=500 for a deeper run by hand
EXAMPLES = int(os.environ.get("GLAAS_FUZZ_EXAMPLES", "30"))


def _fuzz_database(kind: str, request: pytest.FixtureRequest, tmp_path_factory) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('glaas-fuzz') / 'glaas.db'}"
    import psycopg

    url = request.getfixturevalue("postgres_url")
    query = parse_qs(urlparse(url).query)
    host, port = query["host"][0], int(query["port"][0])
    with psycopg.connect(
        host=host, port=port, user="glaas", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("DROP DATABASE IF EXISTS glaas_fuzz")
        conn.execute("CREATE DATABASE glaas_fuzz")
    return url.replace("/glaas_test?", "/glaas_fuzz?")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_server(request, tmp_path_factory) -> Iterator[Api]:
    database_url = _fuzz_database(request.param, request, tmp_path_factory)
    log = tmp_path_factory.mktemp("glaas-fuzz-log") / "server.log"
    with running_server(database_url, log) as api:
        yield api


def real_keys(bundle: dict[str, Any], registered: dict[str, Any]) -> dict[str, list[str]]:
    """Per operation path, path parameter values that name real rows: full hashes, short and
    upper-case prefixes, the client's job uids."""
    artifacts = sorted({a["hash"] for a in bundle["artifacts"]})
    jobs = sorted(registered["job_hashes"].values())

    def forms(full: list[str]) -> list[str]:
        return [f for h in full for f in (h, h[:8], h[:20].upper())]

    return {
        "/api/v1/artifacts/": forms(artifacts),
        "/api/v1/jobs/": forms(jobs) + sorted(registered["job_hashes"]),
        "/api/v1/sessions/": forms([registered["session_hash"]]),
    }


@pytest.fixture(scope="module")
def openapi(fuzz_server, pipeline_bundle):
    registered = fuzz_server.register(pipeline_bundle)
    keys = real_keys(pipeline_bundle, registered)
    schema = schemathesis.openapi.from_url(fuzz_server.base + "/openapi.json")

    @schema.hook
    def flatmap_path_parameters(ctx, path_parameters):
        path = ctx.operation.path if ctx.operation is not None else ""
        real = next((v for prefix, v in keys.items() if path.startswith(prefix)), None)
        if not path_parameters or real is None:
            return st.just(path_parameters)
        (name,) = path_parameters
        return st.one_of(
            st.just(path_parameters), st.fixed_dictionaries({name: st.sampled_from(real)})
        )

    return schema


OPERATIONS = [
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/register"),
    ("GET", "/api/v1/artifacts/{hash_or_prefix}"),
    ("GET", "/api/v1/artifacts/{hash_or_prefix}/lineage"),
    ("GET", "/api/v1/artifacts/{hash_or_prefix}/recipe"),
    ("GET", "/api/v1/jobs/{id_or_prefix}"),
    ("GET", "/api/v1/sessions/{hash_or_prefix}"),
    ("GET", "/api/v1/search"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_server_error_on_any_generated_input(openapi, method, path):
    """Valid inputs (positive) and inputs that break the document (negative) alike."""
    operation = openapi[path][method]
    answered: list[int] = []

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(timeout=60)
        answered.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    # health takes no input at all (one distinct request); every other operation gets many
    assert len(answered) >= (1 if path.endswith("/health") else EXAMPLES // 2)
    assert all(code < 500 for code in answered), answered
    if "{" in path:  # the seeded pipeline's hashes, prefixes and uids were among the inputs
        assert 200 in answered, answered


def test_the_document_names_every_api_operation(openapi):
    """The fuzzing above is only as wide as the document: every /api/v1 route is in it."""
    operations = {(op.method.upper(), op.path) for op in _operations(openapi)}
    assert set(OPERATIONS) <= operations


def _operations(schema) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]
