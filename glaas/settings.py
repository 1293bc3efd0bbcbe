"""Server settings, all from the environment, in one object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_database_url() -> str:
    # XDG's data dir: the registry's SQLite file is user data, not cache or config.
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'glaas' / 'glaas.db'}"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    database_url: str
    # Unauthenticated requests (reads, and registrations in scope "anonymous") are served.
    allow_anonymous: bool = True
    # Server processes (uvicorn workers). 1 by default: a local registry needs no more, and each
    # process holds its own PostgreSQL pool (up to 30 connections), so one per core on a large
    # machine would outrun PostgreSQL's default max_connections (100). Raise it on a busy server.
    workers: int = 1
    # uvicorn's line per request on stderr. Off by default: on a lookup it cost ~10 % of the
    # server's CPU (a LogRecord, its formatting and a write per request), and a shared registry
    # usually sits behind a reverse proxy that keeps the access log. GLAAS_ACCESS_LOG=1 turns
    # it on.
    access_log: bool = False
    # FastAPI's own OpenTelemetry (spans, metrics and logs once an OpenTelemetry SDK is set up in
    # the process). Off by default: finding out on every request that none is set up cost ~8 %
    # of a lookup's server CPU. GLAAS_OTEL=1 turns it on.
    otel: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get("GLAAS_HOST", "127.0.0.1"),
            port=int(os.environ.get("GLAAS_PORT", "8765")),
            database_url=os.environ.get("GLAAS_DATABASE_URL") or default_database_url(),
            allow_anonymous=os.environ.get("GLAAS_ALLOW_ANONYMOUS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
            workers=parse_workers(os.environ.get("GLAAS_WORKERS", "1"), "GLAAS_WORKERS"),
            access_log=_flag(os.environ.get("GLAAS_ACCESS_LOG", "0")),
            otel=_flag(os.environ.get("GLAAS_OTEL", "0")),
        )


def _flag(text: str) -> bool:
    return text.strip().lower() not in ("", "0", "false", "no", "off")


def parse_workers(text: str, where: str) -> int:
    """A worker count (an integer from 1 to 64), or ValueError saying what to give instead."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise ValueError(f"{where} is {text!r}: give a number of server processes from 1 to 64")
    return n
