"""Fixtures for the registry (GLaaS) tests: a real server process on loopback, on SQLite and on
a throw-away PostgreSQL cluster, and a lineage bundle built from a real 3-step `roar run`
pipeline through roar's own JSON view and roar.registry.bundle.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from roar.registry.bundle import bundle_from_session
from tests.conftest import ROAR, commit_all, make_repo, stop_process

REPO = Path(__file__).resolve().parents[2]
PG_VERSION = "15"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """A tiny JSON client over urllib: (status, body) for any answer, errors included; with
    ``headers`` (a bearer token: ``as_token``) on every request."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.headers = headers or {}

    def as_token(self, token: str) -> Api:
        return Api(self.base, {"authorization": f"Bearer {token}"})

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        for k, v in {**self.headers, **(headers or {})}.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get(self, path: str) -> tuple[int, Any]:
        return self.call("GET", path)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self.call("POST", path, body)

    def register(self, bundle: dict[str, Any], scope: str | None = None) -> dict[str, Any]:
        status, out = self.post("/api/v1/register" + (f"?scope={scope}" if scope else ""), bundle)
        assert status == 200, out
        return out


# ---------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path:
    preferred = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
    found = [preferred] if (preferred / "initdb").exists() else []
    found += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))]
    if not found:
        pytest.fail(
            "PostgreSQL's server binaries (initdb, pg_ctl) are missing from /usr/lib/postgresql/: "
            "the registry tests need a throw-away cluster; run `make test-system-deps`",
            pytrace=False,
        )
    return found[0]


def as_cluster_owner(tmp: Path) -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres` (or `nobody`), owning ``tmp``."""
    if os.getuid() != 0:
        return []
    user = "postgres" if _user_exists("postgres") else "nobody"
    entry = pwd.getpwnam(user)
    os.chown(tmp, entry.pw_uid, entry.pw_gid)
    return ["runuser", "-u", user, "--"]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def run_checked(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False
        )


@pytest.fixture(scope="package")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster made for these tests in a temp dir, socket only, fsync off; stopped
    when the registry tests are done (package scope), not at the end of the whole run."""
    bindir = pg_bindir()
    tmp = Path(tempfile.mkdtemp(prefix="glaas-pg-"))  # not under pytest's 0700 root-owned dir
    sudo = as_cluster_owner(tmp)
    data, port = tmp / "data", free_port()
    run_checked(
        [
            *sudo,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-A",
            "trust",
            "-U",
            "glaas",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        "initdb",
    )
    opts = f"-F -p {port} -k {tmp} -c listen_addresses=''"
    run_checked(
        [
            *sudo,
            str(bindir / "pg_ctl"),
            "start",
            "-w",
            "-D",
            str(data),
            "-l",
            str(tmp / "log"),
            "-o",
            opts,
        ],
        "pg_ctl start",
    )
    try:
        _create_database(tmp, port)
        yield f"postgresql+psycopg://glaas@/glaas_test?host={tmp}&port={port}"
    finally:
        subprocess.run(
            [*sudo, str(bindir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _create_database(sockdir: Path, port: int) -> None:
    import psycopg

    with psycopg.connect(
        host=str(sockdir), port=port, user="glaas", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE glaas_test")


# ---------------------------------------------------------------- the server


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('glaas-sqlite') / 'glaas.db'}"
    return request.getfixturevalue("postgres_url")


@contextmanager
def running_server(
    database_url: str, log: Path, env: dict[str, str] | None = None
) -> Iterator[Api]:
    """`python -m glaas serve` (what the glaas-server script runs) on a free loopback port over
    ``database_url``, ready; stopped on leaving (its log printed if it did not stop cleanly)."""
    port = free_port()
    env = {
        **os.environ,
        "GLAAS_HOST": "127.0.0.1",
        "GLAAS_PORT": str(port),
        "GLAAS_DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        **(env or {}),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "glaas", "serve"], env=env, stdout=out, stderr=out
        )
    api = Api(f"http://127.0.0.1:{port}")
    try:
        _wait_ready(api, proc, log)
        yield api
    finally:
        stop_process(proc)
        if proc.returncode not in (0, -15):
            print(log.read_text())


@pytest.fixture(scope="package")
def server(database_url, tmp_path_factory) -> Iterator[Api]:
    """The registry server every test of the package talks to (one per database)."""
    with running_server(database_url, tmp_path_factory.mktemp("glaas-log") / "server.log") as api:
        yield api


def _wait_ready(api: Api, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"glaas-server exited {proc.returncode}:\n{log.read_text()}", pytrace=False)
        try:
            if api.get("/api/v1/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"glaas-server not ready after {timeout}s:\n{log.read_text()}", pytrace=False)


class Accounts:
    """Users, tokens and projects made on the server's database in process, by the service
    the admin command runs (tests/registry/test_auth.py runs the command itself)."""

    def __init__(self, database_url: str, server: Api) -> None:
        from glaas.db import make_engine, make_sessionmaker

        self.engine = make_engine(database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.server = server

    def user(self, name: str, *projects: str) -> Api:
        """The server as ``name`` (made if new, with a fresh token), a member of ``projects``."""
        from glaas.service import auth

        with self.sessions() as db:
            if not any(u["name"] == name for u in auth.users(db)):
                auth.create_user(db, name)
            for slug in projects:
                try:
                    auth.create_project(db, slug)
                except auth.AdminError:
                    pass  # made by an earlier call
                auth.add_member(db, slug, name)
            return self.server.as_token(auth.create_token(db, name))

    def add_key(self, name: str, public_line: str) -> str:
        from glaas.service import auth

        with self.sessions() as db:
            return auth.add_key(db, name, public_line)


@pytest.fixture(scope="package")
def accounts(database_url, server) -> Iterator[Accounts]:
    acc = Accounts(database_url, server)
    yield acc
    acc.engine.dispose()


@pytest.fixture(scope="package")
def engine(database_url, server):
    """Direct access to the server's database, to count rows (after the server migrated it)."""
    eng = create_engine(database_url)
    yield eng
    eng.dispose()


# ---------------------------------------------------------------- a real pipeline

STEP = """\
import sys
*inputs, output, tag = sys.argv[1:]
text = "".join(open(p).read() for p in inputs)
open(output, "w").write(text + tag + "\\n")
"""


def roar(*args: str, cwd: Path) -> str:
    proc = subprocess.run([*ROAR, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="package")
def pipeline(tmp_path_factory) -> dict[str, Any]:
    """A 3-step pipeline recorded by `roar run`: raw.csv -> clean.csv -> model.bin -> metrics.json
    (the last step also reads clean.csv). Returns the repo and `roar show --json`'s session."""
    root = make_repo(tmp_path_factory.mktemp("registry") / "project")
    (root / "step.py").write_text(STEP)
    # Bytes of its own: other tests register pipelines of the same script on the same server,
    # and the same bytes are the same artifacts (their jobs would show up as producers here).
    (root / "raw.csv").write_text(f"a,b\n1,2\n# {secrets.token_hex(8)}\n")
    roar("init", "-y", cwd=root)
    commit_all(root, "pipeline")
    for args in (
        ["raw.csv", "clean.csv", "cleaned"],
        ["clean.csv", "model.bin", "trained"],
        ["model.bin", "clean.csv", "metrics.json", "evaluated"],
    ):
        roar("run", "python3", "step.py", *args, cwd=root)
    session = json.loads(roar("show", "--json", cwd=root))
    return {"root": root, "session": session}


@pytest.fixture(scope="package")
def pipeline_bundle(pipeline) -> dict[str, Any]:
    return bundle_from_session(pipeline["session"], registered_by="tests")
