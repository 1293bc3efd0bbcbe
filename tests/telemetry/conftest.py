"""Fixtures for roar's telemetry tests: a private cache and config dir per test, and the
environment that lets telemetry run under pytest.

ROAR_TELEMETRY_TEST=1 is the test-only switch (roar/telemetry/hook.py) that lifts the CI /
pytest / worker suppression, so these tests exercise the real counting and upload path; the
opt-outs (DO_NOT_TRACK, ROAR_NO_TELEMETRY) are set empty so the host's own cannot leak in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def tele_env(tmp_path: Path) -> dict[str, str]:
    return {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "ROAR_TELEMETRY_TEST": "1",
        "DO_NOT_TRACK": "",
        "ROAR_NO_TELEMETRY": "",
        "ROAR_WORKER": "",
        "CI": "",
    }


def counts(env: dict[str, str]) -> list[str]:
    path = Path(env["XDG_CACHE_HOME"]) / "roar" / "telemetry" / "counts"
    return path.read_text().splitlines() if path.exists() else []


def status(run_roar, repo: Path, env: dict[str, str]) -> dict:
    return json.loads(run_roar("telemetry", "--status", "--json", cwd=repo, env=env).stdout)
