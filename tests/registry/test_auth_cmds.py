"""The client commands against a real glaas-server (SQLite and PostgreSQL): roar auth
register|test|status, login (token file, SSH key), logout, whoami, scope status|list|use|clear,
and roar register publishing in the scope they set — each a real `roar` process with its own
$XDG_CONFIG_HOME (the stored login) and an SSH key made by ssh-keygen."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROAR, commit_all, make_repo
from tests.registry.conftest import STEP
from tests.registry.test_auth import keygen


class Cli:
    """`roar` in one repo, with one config dir (auth.json) and HOME (~/.ssh) of its own."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.config = home / ".config"

    def __call__(self, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [*ROAR, *args],
            cwd=self.root,
            env={**os.environ, "HOME": str(self.home), "XDG_CONFIG_HOME": str(self.config),
                 **env},
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        if check:
            assert proc.returncode == 0, f"roar {args}: {proc.stdout}\n{proc.stderr}"
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    @property
    def state(self) -> Path:
        return self.config / "roar" / "auth.json"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_repo(tmp_path_factory.mktemp("authcmds") / "project")
    (root / "step.py").write_text(STEP)
    (root / "raw.csv").write_text(f"{secrets.token_hex(8)}\n")  # lineage new to the server
    cli = Cli(root, root.parent)
    cli("init", "-y")
    commit_all(root, "pipeline")
    cli("run", "python3", "step.py", "raw.csv", "clean.csv", "cleaned")
    cli("run", "python3", "step.py", "clean.csv", "model.bin", "trained")
    return root


@pytest.fixture
def cli(project, server, tmp_path) -> Cli:
    """A fresh home (no login, no scope) on the project, pointed at this server."""
    home = tmp_path / "home"
    home.mkdir()
    c = Cli(project, home)
    c("config", "set", "glaas.url", server.base)
    c("scope", "clear")
    return c


def user_with_key(accounts, cli: Cli) -> tuple[str, Path]:
    name = "cli-" + secrets.token_hex(3)
    accounts.user(name)
    (cli.home / ".ssh").mkdir()
    key = keygen(cli.home / ".ssh" / "id_ed25519")
    accounts.add_key(name, key.with_suffix(".pub").read_text())
    return name, key


def token_file(accounts, database_url: str, cli: Cli, name: str) -> Path:
    token = accounts.user(name).headers["authorization"].split()[1]
    path = cli.home / "token.json"
    path.write_text(json.dumps({"user": name, "token": token}))
    return path


def digest(cli: Cli, path: str) -> str:
    return cli.json("show", path)["artifact"]["hash"]


def test_auth_register_test_and_status(cli, accounts, server):
    (cli.home / ".ssh").mkdir()
    key = keygen(cli.home / ".ssh" / "id_ed25519")
    pub = key.with_suffix(".pub").read_text().split()
    shown = cli("auth", "register")
    assert shown.stdout.split() == pub[:2] and "glaas-server admin add-key" in shown.stderr
    fp = subprocess.run(["ssh-keygen", "-lf", str(key)], capture_output=True, text=True)
    assert cli.json("auth", "register")["fingerprint"] == fp.stdout.split()[1]
    refused = cli("auth", "test", check=False)
    assert refused.returncode == 1 and "is not registered with this server" in refused.stderr
    name = "key-" + secrets.token_hex(3)
    accounts.user(name)
    accounts.add_key(name, key.with_suffix(".pub").read_text())
    ok = cli("auth", "test")
    assert f"as {name} with {fp.stdout.split()[1]}" in ok.stdout
    status = cli("auth", "status").stdout
    assert server.base in status and fp.stdout.split()[1] in status and "Logged in:  no" in status
    assert not cli.state.exists()  # testing is not logging in: nothing written


def test_login_with_a_token_file_then_whoami_and_logout(cli, accounts, database_url):
    name = "tok-" + secrets.token_hex(3)
    path = token_file(accounts, database_url, cli, name)
    assert "anonymous (not logged in" in cli("whoami").stdout
    out = cli("login", "--token-file", str(path))
    assert f"as {name} (token)" in out.stdout
    assert stat.S_IMODE(cli.state.stat().st_mode) == 0o600
    me = cli.json("whoami")
    assert (me["user"], me["method"], me["authenticated"]) == (name, "token", True)
    again = cli("login", "--token-file", str(path), check=False)
    assert again.returncode == 1 and "Already logged in" in again.stderr
    assert cli("login", "--force", "--token-file", str(path)).returncode == 0
    assert cli.json("auth", "status")["login"]["user"] == name
    assert "Logged out" in cli("logout").stdout
    assert not cli.state.exists() and cli.json("whoami")["user"] == "anonymous"
    assert "Not logged in" in cli("logout").stdout


def test_login_refusals(cli, accounts, server):
    bad = cli.home / "bad.json"
    bad.write_text(json.dumps({"token": "glaas_" + secrets.token_urlsafe(32)}))
    out = cli("login", "--token-file", str(bad), check=False)
    assert out.returncode == 1 and "refused the token" in out.stderr and not cli.state.exists()
    bad.write_text("glaas_not_json")
    out = cli("login", "--token-file", str(bad), check=False)
    assert out.returncode == 1 and f"Token file {bad} is not valid JSON" in out.stderr
    out = cli("login", check=False)  # no token file, no ~/.ssh key
    assert out.returncode == 1 and "Browser/device login is not available" in out.stderr
    assert "--token-file" in out.stderr


def test_login_with_the_ssh_key_signs_every_request(cli, accounts):
    name, key = user_with_key(accounts, cli)
    out = cli("login")
    assert f"as {name} (ssh)" in out.stdout
    stored = json.loads(cli.state.read_text())
    assert "PRIVATE" not in cli.state.read_text()  # the key's path, never the key
    assert next(iter(stored["servers"].values()))["key"] == str(key)
    me = cli.json("whoami")
    assert (me["user"], me["method"]) == (name, "ssh")


def test_a_corrupt_auth_state_gives_the_seeds_message_and_logout_wipes_it(cli):
    cli.state.parent.mkdir(parents=True)
    cli.state.write_text("{not json")
    out = cli("whoami", check=False)
    assert out.returncode == 1
    assert f"Stored auth state at {cli.state} is not valid JSON" in out.stderr
    assert "roar logout" in out.stderr
    assert cli("logout").returncode == 0 and not cli.state.exists()
    assert cli.json("whoami")["user"] == "anonymous"


def test_scope_use_then_register_publishes_in_that_scope(cli, accounts, server, database_url):
    name = "sc-" + secrets.token_hex(3)
    slug = f"{name}/proj"
    accounts.user(name, slug)
    cli("login", "--token-file", str(token_file(accounts, database_url, cli, name)))
    model = digest(cli, "model.bin")
    # logged in, no scope: the seeds' error, nothing sent
    out = cli("register", "model.bin", "-y", check=False)
    assert out.returncode == 1 and "No GLaaS repo binding found for this publish" in out.stderr
    assert server.get(f"/api/v1/artifacts/{model}")[0] == 404
    assert "Scope: not set" in cli("scope", "status").stdout
    listed = cli.json("scope", "list")["scopes"]
    assert [r["scope"] for r in listed] == ["anonymous", "public", "private", slug]
    cli("scope", "use", "private")
    assert cli.json("scope", "status")["scope"] == "private"
    sent = json.loads(cli("register", "model.bin", "--json").stdout)  # no prompt: not anonymous
    assert (sent["scope"], sent["registered_by"], sent["visibility"]) == (
        "private",
        name,
        "private",
    )
    assert server.get(f"/api/v1/artifacts/{model}")[0] == 404  # anonymous: as absent
    me = accounts.user(name)
    assert me.get(f"/api/v1/artifacts/{model}")[1]["registered_by"] == name
    outsider = accounts.user("o-" + secrets.token_hex(3))
    assert outsider.get(f"/api/v1/artifacts/{model}")[0] == 404
    # a project the user is in: its members see it; one they are not in: refused locally
    refused = cli("scope", "use", "someone/else", check=False)
    assert refused.returncode == 1 and "is not a member of a project someone/else" in refused.stderr
    cli("scope", "use", slug)
    sent = json.loads(cli("register", "model.bin", "--json").stdout)
    assert sent["scope"] == slug and sent["created"]
    mate = accounts.user("m-" + secrets.token_hex(3), slug)
    assert mate.get(f"/api/v1/sessions/{sent['session_hash']}")[0] == 200
    assert outsider.get(f"/api/v1/sessions/{sent['session_hash']}")[0] == 404
    # --public overrides the scope, attributed; --anonymous still asks (refused without -y)
    sent = json.loads(cli("register", "model.bin", "--public", "--json").stdout)
    assert (sent["scope"], sent["registered_by"]) == ("public", name)
    assert server.get(f"/api/v1/artifacts/{model}")[1]["registered_by"] == name
    anon = cli("register", "model.bin", "--anonymous", check=False)
    assert anon.returncode == 1 and "Registration aborted." in anon.stderr
    cli("scope", "clear")
    assert cli.json("scope", "status")["scope"] is None


def test_logged_out_a_scope_that_needs_a_login_is_refused(cli):
    cli("scope", "use", "private")
    out = cli("register", "model.bin", "-y", check=False)
    assert out.returncode == 1 and "needs a GLaaS login" in out.stderr
    cli("scope", "use", "anonymous")
    dry = json.loads(cli("register", "model.bin", "--dry-run", "--json").stdout)
    assert (dry["scope"], dry["registered_by"]) == ("anonymous", "anonymous")
    bad = cli("scope", "use", "not a scope", check=False)
    assert bad.returncode == 1 and "Unknown scope" in bad.stderr


def test_private_lineage_is_reproducible_by_its_owner_only(cli, accounts, database_url, tmp_path):
    """`roar reproduce` from a clone without a store asks the registry with the stored login:
    the owner gets the private recipe, someone logged out is told the registry has no such
    hash."""
    name = "rp-" + secrets.token_hex(3)
    cli("login", "--token-file", str(token_file(accounts, database_url, cli, name)))
    tag = secrets.token_hex(4)  # an artifact no other test registers publicly
    cli("run", "python3", "step.py", "model.bin", "private.bin", tag)
    cli("register", "private.bin", "--private")
    model = digest(cli, "private.bin")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(cli.root), str(clone)], check=True)
    url = {"ROAR_GLAAS_URL": json.loads(cli.state.read_text())["servers"].popitem()[0]}
    owner = Cli(clone, cli.home)
    plan = json.loads(owner("reproduce", model, "--json", **url).stdout)
    assert [s["argv"][-1] for s in plan["steps"]] == ["cleaned", "trained", tag]
    stranger = Cli(clone, tmp_path)  # no login
    out = stranger("reproduce", model, check=False, **url)
    assert out.returncode != 0 and "neither in the local store nor in the registry" in out.stderr
