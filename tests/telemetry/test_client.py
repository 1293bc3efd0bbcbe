"""roar telemetry on the client: counting, the commands, the opt-outs and the suppression, and
what the payload may hold. Real `roar` processes in real repos; no server here (see
tests/registry/test_telemetry_endpoint.py for the upload)."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roar.telemetry import allowlist, hook
from tests.conftest import ROAR, commit_all, git, make_repo
from tests.telemetry.conftest import counts, status


def test_commands_are_counted_and_the_payload_has_exactly_the_allowlisted_keys(
    repo, run_roar, tele_env
):
    run_roar("run", "-q", "true", cwd=repo, env=tele_env)
    run_roar("run", "-q", "--tracer", "ptrace", "false", cwd=repo, env=tele_env, check=False)
    run_roar("log", cwd=repo, env=tele_env)
    lines = counts(tele_env)
    assert [line.split()[1:] for line in lines] == [
        ["run", "success", "default"],
        ["run", "failure", "ptrace"],
        ["log", "-", "-"],
    ]
    payload = json.loads(run_roar("telemetry", "--print", cwd=repo, env=tele_env).stdout)
    assert tuple(payload) == allowlist.FIELDS
    assert payload["commands"] == {"log": 1, "run": 2}
    assert payload["outcomes"] == {"run_failure": 1, "run_success": 1}
    assert payload["tracers"] == {"default": 1, "ptrace": 1}
    assert set(payload["features"]) == set(allowlist.FEATURES)
    assert payload["sequence"] == 1
    # --print shows the ids the next upload will carry: asking again gives the same ones
    again = json.loads(run_roar("telemetry", "--print", cwd=repo, env=tele_env).stdout)
    assert (again["install_id"], again["event_id"]) == (payload["install_id"], payload["event_id"])


def test_status_disable_and_enable(repo, run_roar, tele_env):
    run_roar("run", "-q", "true", cwd=repo, env=tele_env)
    st = status(run_roar, repo, tele_env)
    assert st["enabled"] is True and st["reason"] is None and st["counted"] == 1
    text = run_roar("telemetry", cwd=repo, env=tele_env).stdout
    assert "Telemetry: enabled" in text and "api/v1/telemetry/roar" in text

    off = run_roar("telemetry", "--disable", cwd=repo, env=tele_env)
    assert "disabled" in off.stderr
    assert counts(tele_env) == []  # what was counted and not sent is gone
    run_roar("run", "-q", "true", cwd=repo, env=tele_env)
    st = status(run_roar, repo, tele_env)
    assert st["enabled"] is False and "--disable" in st["reason"]
    assert counts(tele_env) == []
    assert Path(st["disabled_file"]).parent == Path(tele_env["XDG_CONFIG_HOME"]) / "roar"

    run_roar("telemetry", "--enable", cwd=repo, env=tele_env)
    run_roar("run", "-q", "true", cwd=repo, env=tele_env)
    assert status(run_roar, repo, tele_env)["enabled"] is True
    assert [line.split()[1] for line in counts(tele_env)] == ["telemetry", "run", "telemetry"]


def test_the_project_config_can_turn_it_off(repo, run_roar, tele_env):
    run_roar("config", "set", "telemetry.enabled", "false", cwd=repo, env=tele_env)
    run_roar("run", "-q", "true", cwd=repo, env=tele_env)
    st = status(run_roar, repo, tele_env)
    assert st["enabled"] is False and "telemetry.enabled = false" in st["reason"]
    assert counts(tele_env) == []


@pytest.mark.parametrize("name", ["DO_NOT_TRACK", "ROAR_NO_TELEMETRY"])
def test_environment_opt_outs_win_over_config(repo, run_roar, tele_env, name):
    run_roar("config", "set", "telemetry.enabled", "true", cwd=repo, env=tele_env)
    before = counts(tele_env)
    env = {**tele_env, name: "1"}
    run_roar("run", "-q", "true", cwd=repo, env=env)
    run_roar("telemetry", "--enable", cwd=repo, env=env)
    st = status(run_roar, repo, env)
    assert st["enabled"] is False and name in st["reason"]
    assert counts(tele_env) == before


def _bare_env(tele_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a `roar` started outside pytest: without PYTEST_CURRENT_TEST and
    without the test-only switch, so the suppression itself is what is tested."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "CI")}
    env.update(tele_env)
    env.pop("ROAR_TELEMETRY_TEST")
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "extra, counted",
    [
        ({}, True),  # the control: nothing suppresses it
        ({"CI": "true"}, False),
        ({"PYTEST_CURRENT_TEST": "tests/x.py::test (call)"}, False),
        ({"ROAR_WORKER": "1"}, False),
    ],
)
def test_suppressed_in_ci_pytest_and_workers(repo, tele_env, extra, counted):
    env = _bare_env(tele_env, **extra)
    proc = subprocess.run([*ROAR, "run", "-q", "true"], cwd=repo, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert (counts(tele_env) != []) is counted


SENSITIVE_STEP = """\
import os, sys
open(sys.argv[2], "w").write(open(sys.argv[1]).read() + os.environ["SECRET_TOKEN"])
"""


def test_the_payload_holds_no_path_argument_env_value_host_user_or_repo_name(
    tmp_path, run_roar, tele_env
):
    repo = make_repo(tmp_path / "acme-confidential-repo")
    git(repo, "remote", "add", "origin", "git@github.com:acme-corp/acme-confidential-repo.git")
    (repo / "step_zebrafish.py").write_text(SENSITIVE_STEP)
    (repo / "patients_2026_private.csv").write_text("name\nalice\n")
    run_roar("init", "-y", cwd=repo, env=tele_env)
    commit_all(repo)
    env = {**tele_env, "SECRET_TOKEN": "tok_9f8e7d6c5b4a", "MY_PASSWORD": "hunter2-xyzzy"}
    run_roar(
        "run", "python3", "step_zebrafish.py", "patients_2026_private.csv", "out_walrus.txt",
        "--password=hunter2-xyzzy", cwd=repo, env=env,
    )  # fmt: skip
    run_roar("label", "set", "job", "@1", "owner=dr-nemo-quux", cwd=repo, env=env)
    run_roar("show", "out_walrus.txt", cwd=repo, env=env)
    text = run_roar("telemetry", "--print", cwd=repo, env=env).stdout
    payload = json.loads(text)
    assert tuple(payload) == allowlist.FIELDS
    sensitive = [
        "acme", "confidential", "zebrafish", "patients", "walrus", "python3", "password",
        "hunter2", "tok_9f8e7d6c5b4a", "SECRET", "nemo", "github", str(tmp_path), "/",
        socket.gethostname(), getpass.getuser(), os.path.expanduser("~"),
    ]  # fmt: skip
    for word in sensitive:
        assert word.lower() not in text.lower(), word
    assert payload["commands"] == {"init": 1, "label": 1, "run": 1, "show": 1}


def test_the_allowlists_are_the_servers():
    from glaas.service import telemetry as server

    assert tuple(server.TelemetryIn.model_fields) == allowlist.FIELDS
    for name in ("OS_FAMILIES", "ARCHES", "SHELLS", "INSTALLERS", "COMMANDS", "OUTCOMES"):
        assert getattr(server, name) == getattr(allowlist, name), name
    assert server.TRACERS == allowlist.TRACERS and server.FEATURES == allowlist.FEATURES
    # the hook's own copy of the names it may write
    assert hook._COMMANDS | {"other"} == set(allowlist.COMMANDS)
    assert hook._TRACERS | {"default"} == set(allowlist.TRACERS)


def test_counting_costs_well_under_a_millisecond(tmp_path, monkeypatch):
    """What a `roar run` pays: the hook, in this process, on and off (median of 200)."""
    import argparse

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv(hook.EVERY_ENV, "86400")
    for name in ("DO_NOT_TRACK", "ROAR_NO_TELEMETRY", "CI", "ROAR_WORKER"):
        monkeypatch.delenv(name, raising=False)
    project = make_repo(tmp_path / "p")
    (project / ".roar").mkdir()
    (project / ".roar" / "config.toml").write_text("[output]\nquiet = true\n")
    monkeypatch.chdir(project)
    args = argparse.Namespace(command="run", tracer=None)

    def median_us() -> float:
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            hook.count(args, 0)
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2] * 1e6

    monkeypatch.setenv(hook.TEST_ENV, "1")
    on = median_us()
    assert (
        len((tmp_path / "cache" / "roar" / "telemetry" / "counts").read_text().splitlines()) == 200
    )
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    off = median_us()
    print(f"hook.count: {on:.0f} us counting, {off:.1f} us opted out")
    assert on < 1000 and off < 100


def test_the_hook_imports_nothing_heavy():
    code = "import sys; import roar.telemetry.hook; print(' '.join(sorted(sys.modules)))"
    before = subprocess.run([sys.executable, "-c", "import sys; print(' '.join(sys.modules))"],
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    after = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    new = set(after) - set(before) - {"roar", "roar.telemetry", "roar.telemetry.hook"}
    assert not new & {"json", "uuid", "platform", "subprocess", "socket", "urllib"}, new


def test_counting_a_run_imports_nothing_a_run_does_not(repo, tele_env):
    """`roar run` counted (no upload due) imports exactly the modules of `roar run` with
    telemetry off: the count is an env check, a stat and one appended line."""

    def imported(env: dict[str, str]) -> set[str]:
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "roar", "run", "-q", "true"],
            cwd=repo,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return {
            line.split("|")[-1].strip()
            for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }

    # the clock started (no upload due for a day), and a first run's one-off work done
    subprocess.run([*ROAR, "run", "-q", "true"], cwd=repo, env={**os.environ, **tele_env})
    off = imported({**tele_env, "ROAR_NO_TELEMETRY": "1"})
    counting = imported(tele_env)
    assert len(counts(tele_env)) == 2
    assert counting - off == set()
