"""`roar config` takes every key of the seeds' configuration table, with the seeds' defaults."""

from __future__ import annotations

import pytest

# The table in the seeds' command reference (key, default), as a user reads it there.
SEEDS_TABLE = {
    "output.track_repo_files": False,
    "output.quiet": False,
    "filters.ignore_system_reads": True,
    "filters.ignore_package_reads": True,
    "filters.ignore_torch_cache": True,
    "filters.ignore_tmp_files": True,
    "glaas.url": "https://api.glaas.ai",
    "glaas.web_url": "https://glaas.ai",
    "registration.public_by_default": False,
    "registration.omit.enabled": True,
    "hash.primary": "blake3",
    "logging.level": "warning",
}


def test_defaults_are_the_seeds(repo, run_roar):
    listed = run_roar("config", "list", "--json", cwd=repo).json()
    for key, default in SEEDS_TABLE.items():
        assert listed[key] == default, key


@pytest.mark.parametrize(
    "key, value, stored",
    [
        ("glaas.web_url", "http://localhost:8080/", "http://localhost:8080"),
        ("glaas.url", "http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("registration.public_by_default", "true", True),
        ("telemetry.enabled", "false", False),
    ],
)
def test_seeds_keys_are_accepted(repo, run_roar, key, value, stored):
    run_roar("config", "set", key, value, cwd=repo)
    assert run_roar("config", "get", key, "--json", cwd=repo).json() == {key: stored}


def test_bad_url_is_refused_with_the_reason(repo, run_roar):
    bad = run_roar("config", "set", "glaas.web_url", "glaas.ai", cwd=repo, check=False)
    assert bad.returncode != 0 and "http" in bad.stderr
