"""glaas-server's settings and its migrate command, without a running server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from glaas.migrate import alembic_config, upgrade
from glaas.settings import Settings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[2]


def test_settings_default_to_loopback_and_a_sqlite_file_in_the_data_dir(monkeypatch, tmp_path):
    for name in ("GLAAS_HOST", "GLAAS_PORT", "GLAAS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    s = Settings.from_env()
    assert (s.host, s.port) == ("127.0.0.1", 8765)
    assert s.database_url == f"sqlite:///{tmp_path}/glaas/glaas.db"


def test_migrate_command_creates_the_default_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLAAS_")}
    env.update(XDG_DATA_HOME=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "glaas", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "glaas" / "glaas.db"
    tables = set(inspect(create_engine(f"sqlite:///{db}")).get_table_names())
    assert {"artifacts", "jobs", "edges", "sessions", "session_jobs", "label_events"} <= tables


def test_migrations_go_down_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    assert set(inspect(create_engine(url)).get_table_names()) == {"alembic_version"}
    upgrade(url)
    assert "jobs" in inspect(create_engine(url)).get_table_names()


def test_console_script_and_extra_are_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["glaas-server"] == "glaas.__main__:main"
    server = project["optional-dependencies"]["server"]
    assert {d.split(">")[0].split("[")[0] for d in server} == {
        "fastapi",
        "uvicorn",
        "alembic",
        "psycopg",
        "jinja2",  # the web UI's templates
        "orjson",  # the lookups' JSON (glaas.api.app.Lookups)
    }


def test_on_sqlite_writers_take_the_lock_up_front_and_readers_do_not(tmp_path):
    from sqlalchemy import event, text

    from glaas.db import WRITE, make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    statements: list[str] = []
    event.listen(
        engine, "before_cursor_execute", lambda _c, _cur, stmt, *_: statements.append(stmt)
    )
    with make_sessionmaker(engine)() as db:
        with db.begin():
            db.connection(execution_options=WRITE)
            db.execute(text("select 1"))
        with db.begin():
            db.execute(text("select 2"))
    assert statements == ["BEGIN IMMEDIATE", "select 1", "BEGIN", "select 2"]


def test_without_postgresql_the_fixture_fails_and_names_the_fix(monkeypatch):
    """Skip-free: a machine without PostgreSQL's server fails the registry tests, saying how to
    get it, instead of skipping half of them."""
    import pytest

    from tests.registry import conftest

    monkeypatch.setattr(conftest, "PG_VERSION", "0")
    monkeypatch.setattr(conftest.glob, "glob", lambda _pattern: [])
    with pytest.raises(pytest.fail.Exception, match="make test-system-deps"):
        conftest.pg_bindir()


def test_fastapis_own_telemetry_is_off_unless_asked_for(monkeypatch, tmp_path):
    """FastAPI (0.165+) checks on every request whether an OpenTelemetry SDK is set up (~8 %
    of a lookup's server CPU): off by default, GLAAS_OTEL=1 turns it on."""
    from glaas.api.app import create_app

    monkeypatch.delenv("GLAAS_OTEL", raising=False)
    monkeypatch.setenv("GLAAS_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    upgrade(f"sqlite:///{tmp_path / 'g.db'}")
    quiet = Settings.from_env()
    monkeypatch.setenv("GLAAS_OTEL", "1")
    traced = Settings.from_env()
    assert (quiet.otel, traced.otel) == (False, True)
    for settings, on in ((quiet, False), (traced, True)):
        app = create_app(settings)
        try:
            config = getattr(app, "_telemetry", None)  # FastAPI before 0.165 has none
            assert config is None or (config["tracing"], config["metrics"]) == (on, on)
        finally:
            app.state.engine.dispose()
