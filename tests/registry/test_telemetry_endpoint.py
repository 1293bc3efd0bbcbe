"""The registry's telemetry endpoint and admin page, on SQLite and PostgreSQL, and roar's
background uploader sending to it: a real glaas-server (started here with GLAAS_ADMIN_TOKEN),
real `roar` processes, the detached uploader they start."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import roar
from roar.telemetry import payload as client_payload
from tests.conftest import commit_all, make_repo
from tests.registry.conftest import Api, free_port, running_server

TOKEN = "admin-token-for-tests-7b1e"


@pytest.fixture(scope="module")
def admin_server(database_url, tmp_path_factory) -> Iterator[Api]:
    """A second server on the package's database, started with the admin token set."""
    log = tmp_path_factory.mktemp("glaas-admin-log") / "server.log"
    with running_server(database_url, log, {"GLAAS_ADMIN_TOKEN": TOKEN}) as api:
        yield api


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def summary(api: Api) -> dict[str, Any]:
    status, body = fetch(
        api.base + "/api/v1/telemetry/roar/summary", {"authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200, body
    return json.loads(body)


def an_event(**changes: Any) -> dict[str, Any]:
    event = client_payload.build(
        ["20789 run success default", "20789 run failure ebpf", "20789 init - -"],
        (client_payload.new_id(), client_payload.new_id(), 1),
    )
    event.update(changes)
    return event


def test_an_event_is_stored_once_and_counted(admin_server):
    before = summary(admin_server)
    event = an_event()
    assert admin_server.post("/api/v1/telemetry/roar", event) == (200, {"stored": True})
    assert admin_server.post("/api/v1/telemetry/roar", event) == (200, {"stored": False})
    after = summary(admin_server)
    assert after["events"] == before["events"] + 1
    assert after["installs"] == before["installs"] + 1
    assert after["commands"]["run"] == before["commands"].get("run", 0) + 2
    assert after["outcomes"]["run_failure"] == before["outcomes"].get("run_failure", 0) + 1
    assert after["tracers"]["ebpf"] == before["tracers"].get("ebpf", 0) + 1


@pytest.mark.parametrize(
    "changes",
    [
        {"hostname": "build-box-7"},  # a field outside the allowlist
        {"cwd": "/home/alice/project"},
        {"commands": {"python train.py": 1}},  # a name outside the command allowlist
        {"features": {"home_dir": True}},
        {"tracers": {"strace": 1}},
        {"os": "Linux 6.1.0-13-amd64"},  # free text where a family is asked
        {"shell": "/bin/bash"},
        {"roar_version": "0.1.0 (alice@box)"},
        {"install_id": "alice"},
        {"sequence": "1"},  # strict types: no coercion
        {"containerized": "yes"},
        {"period_start": "2026-12-02T13:05:11Z"},  # dates only
    ],
)
def test_anything_outside_the_allowlist_is_refused(admin_server, changes):
    status, body = admin_server.post("/api/v1/telemetry/roar", an_event(**changes))
    assert status == 422, body


def test_a_missing_field_is_refused(admin_server):
    event = an_event()
    del event["arch"]
    assert admin_server.post("/api/v1/telemetry/roar", event)[0] == 422


def test_the_admin_page_needs_the_token(admin_server):
    base = admin_server.base
    assert fetch(base + "/api/v1/telemetry/roar/summary")[0] == 401
    assert (
        fetch(base + "/api/v1/telemetry/roar/summary", {"authorization": "Bearer nope"})[0] == 401
    )
    assert fetch(base + "/admin/telemetry")[0] == 401
    assert fetch(base + "/admin/telemetry?token=nope")[0] == 401
    status, page = fetch(base + "/admin/telemetry", {"authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "roar telemetry" in page
    # ?token= logs a browser in: a cookie, and the page without the token in its address
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    with opener.open(base + f"/admin/telemetry?token={TOKEN}", timeout=30) as resp:
        assert resp.status == 200 and resp.url == base + "/admin/telemetry"
        assert "Commands" in resp.read().decode()


def test_without_the_setting_there_is_no_admin_page(server):
    """The package's server was started without GLAAS_ADMIN_TOKEN: the pages do not exist."""
    if os.environ.get("GLAAS_ADMIN_TOKEN"):
        pytest.skip("GLAAS_ADMIN_TOKEN is set in this environment")
    assert fetch(server.base + "/admin/telemetry")[0] == 404
    assert fetch(server.base + "/api/v1/telemetry/roar/summary")[0] == 404
    assert server.post("/api/v1/telemetry/roar", an_event())[0] == 200  # uploads still land


def _project(tmp_path: Path, run_roar, url: str) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp_path / "project")
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "ROAR_TELEMETRY_TEST": "1",  # test-only: lift the pytest suppression (hook.py)
        "DO_NOT_TRACK": "",
        "ROAR_NO_TELEMETRY": "",
        "ROAR_GLAAS_URL": "",
    }
    run_roar("init", "-y", cwd=repo, env=env)  # the first count starts the upload clock
    run_roar("config", "set", "telemetry.endpoint", url, cwd=repo, env=env)
    commit_all(repo)
    return repo, env


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_roar_uploads_in_the_background_and_the_admin_page_counts_it(
    admin_server, engine, tmp_path, run_roar
):
    repo, env = _project(tmp_path, run_roar, admin_server.base + "/api/v1/telemetry/roar")
    before = summary(admin_server)
    due = {**env, "ROAR_TELEMETRY_UPLOAD_EVERY": "0"}  # the last start is "a day" old
    run_roar("run", "-q", "--tracer", "preload", "true", cwd=repo, env=due)  # starts the uploader
    tele = tmp_path / "cache" / "roar" / "telemetry"

    def landed() -> bool:
        return summary(admin_server)["events"] > before["events"] and not list(
            (tele / "pending").glob("*.json")
        )

    _wait(landed, "the background upload")
    install_id = (tele / "ids").read_text().split()[0]
    after = summary(admin_server)
    assert after["events"] == before["events"] + 1
    # init, config, run: everything counted before the uploader took the counts, in one event
    assert after["commands"]["init"] == before["commands"].get("init", 0) + 1
    assert after["commands"]["config"] == before["commands"].get("config", 0) + 1
    assert after["tracers"]["preload"] == before["tracers"].get("preload", 0) + 1
    status, page = fetch(
        admin_server.base + "/admin/telemetry", {"authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200
    assert f'<span id="events">{after["events"]}</span>' in page
    assert "<code>preload</code>" in page
    # the next event carries the next sequence number, under the same install id
    ids = (tele / "ids").read_text().split()
    assert ids[2] == "2"
    with engine.connect() as conn:
        rows = conn.execute(
            text("select sequence, roar_version from telemetry_events where install_id = :i"),
            {"i": install_id},
        ).all()
    assert [tuple(r) for r in rows] == [(1, roar.__version__)]


def test_an_upload_that_fails_changes_nothing_the_user_sees(tmp_path, run_roar):
    dead = f"http://127.0.0.1:{free_port()}/api/v1/telemetry/roar"  # nothing listens there
    repo, env = _project(tmp_path, run_roar, dead)
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    quiet = {**env, "ROAR_NO_TELEMETRY": "1"}
    without = run_roar("run", "-q", "python3", "-c", script, cwd=repo, env=quiet, check=False)
    due = {**env, "ROAR_TELEMETRY_UPLOAD_EVERY": "0"}
    with_upload = run_roar("run", "-q", "python3", "-c", script, cwd=repo, env=due, check=False)
    assert (with_upload.returncode, with_upload.stdout, with_upload.stderr) == (
        without.returncode,
        without.stdout,
        without.stderr,
    )
    assert with_upload.returncode == 3
    pending = tmp_path / "cache" / "roar" / "telemetry" / "pending"
    _wait(lambda: list(pending.glob("*.json")), "the uploader to keep the payload")
    kept = json.loads(next(pending.glob("*.json")).read_text())
    assert kept["outcomes"] == {"run_failure": 1}  # kept, to be sent again with its event id


FUZZED = [
    ("POST", "/api/v1/telemetry/roar"),
    ("GET", "/api/v1/labels/{kind}/{ref}"),
    ("POST", "/api/v1/labels"),
    ("POST", "/api/v1/identify"),
]


@pytest.mark.parametrize(("method", "path"), FUZZED, ids=[f"{m} {p}" for m, p in FUZZED])
def test_no_server_error_on_generated_input(admin_server, method, path):
    """Schemathesis over the telemetry and label operations (test_openapi_fuzz.py covers the
    others): valid and document-breaking inputs alike get a 2xx or a 4xx, never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    operation = schemathesis.openapi.from_url(admin_server.base + "/openapi.json")[path][method]
    answered: list[int] = []

    @given(
        case=st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )
    )
    @settings(
        max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        response = case.call(timeout=60)
        answered.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    check()
    assert len(answered) >= 15 and all(code < 500 for code in answered), answered
