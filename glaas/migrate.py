"""Alembic, configured in code: no alembic.ini to ship or to find at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from glaas.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    make_engine(url).dispose()  # creates the SQLite file's directory
    command.upgrade(alembic_config(url), revision)
