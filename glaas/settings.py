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

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            host=os.environ.get("GLAAS_HOST", "127.0.0.1"),
            port=int(os.environ.get("GLAAS_PORT", "8765")),
            database_url=os.environ.get("GLAAS_DATABASE_URL") or default_database_url(),
            allow_anonymous=os.environ.get("GLAAS_ALLOW_ANONYMOUS", "1").strip().lower()
            not in ("0", "false", "no", "off"),
        )
