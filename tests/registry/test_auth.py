"""Authentication against real glaas-server processes (SQLite and PostgreSQL): SSH-signed
requests with ed25519, ECDSA and RSA keys made by ssh-keygen; unsigned, forged (another key,
a tampered body), stale and replayed requests refused, a replay also across two server
processes on one database; bearer tokens; a server without anonymous access; and the admin
command that makes users, keys, tokens and projects."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from glaas import signing
from tests.registry.conftest import REPO, Api, running_server
from tests.registry.synth import chain, window


def keygen(path: Path, kind: str = "ed25519") -> Path:
    extra = {"rsa": ["-b", "2048"], "ecdsa": ["-b", "256"]}.get(kind, [])
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def send(
    api: Api,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    req = urllib.request.Request(api.base + target, data=body or None, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def signed(
    api: Api, key: Any, method: str, target: str, body: bytes = b"", **kw: Any
) -> tuple[int, Any]:
    return send(api, method, target, body, signing.signed_headers(key, method, target, body, **kw))


@pytest.fixture(scope="module")
def alice(accounts, tmp_path_factory) -> dict[str, Any]:
    """A user with an ed25519 key registered (and a token, unused here)."""
    name = "alice-" + secrets.token_hex(3)
    accounts.user(name)
    path = keygen(tmp_path_factory.mktemp("keys") / "id_ed25519")
    fp = accounts.add_key(name, path.with_suffix(".pub").read_text())
    return {"name": name, "key": signing.load_private(path), "fingerprint": fp, "path": path}


def bundle() -> tuple[bytes, dict[str, Any]]:
    b = window(chain(2), 0, 2)
    return json.dumps(b).encode(), b


def test_signed_requests_authenticate_with_each_key_type(server, accounts, alice, tmp_path):
    status, me = signed(server, alice["key"], "GET", "/api/v1/whoami")
    assert status == 200, me
    assert me["user"] == alice["name"] and me["method"] == "ssh"
    assert me["key"] == alice["fingerprint"] and "private" in me["scopes"]
    for kind in ("ecdsa", "rsa"):
        path = keygen(tmp_path / f"id_{kind}", kind)
        accounts.add_key(alice["name"], path.with_suffix(".pub").read_text())
        status, me = signed(server, signing.load_private(path), "GET", "/api/v1/whoami")
        assert status == 200 and me["user"] == alice["name"], (kind, me)
    # a signed registration is attributed to the signer, whatever the bundle says
    body, b = bundle()
    b["registered_by"] = "someone-else"
    body = json.dumps(b).encode()
    status, out = signed(server, alice["key"], "POST", "/api/v1/register?scope=public", body)
    assert status == 200 and out["registered_by"] == alice["name"] and out["scope"] == "public"
    art = b["artifacts"][0]["hash"]
    assert server.get(f"/api/v1/artifacts/{art}")[1]["registered_by"] == alice["name"]


def test_unsigned_requests_are_anonymous_and_cannot_publish_attributed(server):
    assert server.get("/api/v1/whoami") == (
        200,
        {"user": "anonymous", "authenticated": False, "method": None, "key": None,
         "projects": [], "scopes": ["anonymous"]},
    )  # fmt: skip
    _, b = bundle()
    for scope in ("public", "private", "acme/models"):
        status, out = server.post(f"/api/v1/register?scope={scope}", b)
        assert status == 401 and "needs an authenticated request" in out["detail"], out
    assert server.post("/api/v1/register", b)[1]["registered_by"] == "anonymous"


def test_forged_requests_are_refused(server, alice, tmp_path):
    body, _ = bundle()
    target = "/api/v1/register?scope=private"
    # an unregistered key
    stranger = signing.load_private(keygen(tmp_path / "id_stranger"))
    status, out = signed(server, stranger, "POST", target, body)
    assert status == 401 and "is not registered with this server" in out["detail"]
    # alice's fingerprint, another key's signature
    headers = signing.signed_headers(stranger, "POST", target, body)
    headers[signing.KEY] = alice["fingerprint"]
    status, out = send(server, "POST", target, body, headers)
    assert status == 401 and "does not verify" in out["detail"]
    # alice's signature over another body, another path, another method
    good = signing.signed_headers(alice["key"], "POST", target, body)
    _, other = bundle()
    for method, tgt, data in (
        ("POST", target, json.dumps(other).encode()),
        ("POST", "/api/v1/register?scope=public", body),
    ):
        status, out = send(server, method, tgt, data, dict(good))
        assert status == 401 and "does not verify" in out["detail"], (tgt, out)
    # a signature header missing, or not base64
    partial = {k: v for k, v in good.items() if k != signing.NONCE}
    status, out = send(server, "POST", target, body, partial)
    assert status == 401 and "missing X-GLaaS-Nonce" in out["detail"]
    status, out = send(server, "POST", target, body, {**good, signing.SIGNATURE: "!!"})
    assert status == 401 and "not base64" in out["detail"]


def test_stale_and_future_timestamps_are_refused(server, alice):
    for skew in (-signing.WINDOW - 60, signing.WINDOW + 60):
        status, out = signed(server, alice["key"], "GET", "/api/v1/whoami", now=time.time() + skew)
        assert status == 401 and "stale request signature" in out["detail"], out
    status, _ = signed(server, alice["key"], "GET", "/api/v1/whoami", now=time.time() - 120)
    assert status == 200  # inside the window


def test_a_replayed_request_is_refused_by_every_server_process(
    server, alice, database_url, tmp_path
):
    headers = signing.signed_headers(alice["key"], "GET", "/api/v1/whoami", b"")
    assert send(server, "GET", "/api/v1/whoami", headers=headers)[0] == 200
    status, out = send(server, "GET", "/api/v1/whoami", headers=headers)
    assert status == 401 and "replayed request" in out["detail"]
    # A second server process on the same database knows the nonce too (its table's key).
    with running_server(database_url, tmp_path / "second.log") as second:
        status, out = send(second, "GET", "/api/v1/whoami", headers=headers)
        assert status == 401 and "replayed request" in out["detail"]
        fresh = signing.signed_headers(alice["key"], "GET", "/api/v1/whoami", b"")
        assert send(second, "GET", "/api/v1/whoami", headers=fresh)[0] == 200
        assert send(server, "GET", "/api/v1/whoami", headers=fresh)[0] == 401


def test_bearer_tokens(server, accounts):
    name = "tok-" + secrets.token_hex(3)
    api = accounts.user(name)
    status, me = api.get("/api/v1/whoami")
    assert status == 200 and (me["user"], me["method"]) == (name, "token")
    bad = server.as_token("glaas_" + secrets.token_urlsafe(32))
    status, out = bad.get("/api/v1/whoami")
    assert status == 401 and "not recognised" in out["detail"]
    status, out = server.call("GET", "/api/v1/whoami", headers={"authorization": "Basic eDp5"})
    assert status == 401 and "Bearer" in out["detail"]


def test_a_server_without_anonymous_access(database_url, accounts, tmp_path):
    env = {"GLAAS_ALLOW_ANONYMOUS": "0"}
    with running_server(database_url, tmp_path / "closed.log", env) as closed:
        assert closed.get("/api/v1/health")[0] == 200
        for path in ("/api/v1/whoami", "/api/v1/search", "/"):
            status, out = closed.call("GET", path) if path != "/" else (0, None)
            if path == "/":  # a page sends a person to sign in (tests/registry/test_account.py)
                with urllib.request.urlopen(closed.base + "/", timeout=30) as resp:
                    assert resp.url == closed.base + "/account/sign-in"
                continue
            assert status == 401 and "does not serve anonymous requests" in out["detail"]
        name = "closed-" + secrets.token_hex(3)
        api = accounts.user(name).as_token("x")  # a wrong token is still refused
        assert api.get("/api/v1/whoami")[0] == 401
        token = accounts.user(name).headers["authorization"]
        status, me = closed.call("GET", "/api/v1/whoami", headers={"authorization": token})
        assert status == 200 and me["user"] == name


def admin(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GLAAS_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "glaas", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def test_the_admin_command(server, database_url, tmp_path):
    name = "adm-" + secrets.token_hex(3)
    assert admin(database_url, "create-user", name).returncode == 0
    again = admin(database_url, "create-user", name)
    assert again.returncode == 1 and "exists already" in again.stderr
    bad = admin(database_url, "create-user", "Not A Name")
    assert bad.returncode == 1 and "is not a user name" in bad.stderr
    key = keygen(tmp_path / "id_ed25519")
    out = admin(database_url, "add-key", name, "-", stdin=key.with_suffix(".pub").read_text())
    assert out.returncode == 0 and "added key SHA256:" in out.stdout, out.stderr
    junk = admin(database_url, "add-key", name, str(key))  # the private key: refused
    assert junk.returncode == 1 and "this is a PRIVATE key" in junk.stderr
    token_file = tmp_path / "token.json"
    made = admin(database_url, "create-token", name, "--file", str(token_file))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = json.loads(token_file.read_text())["token"]
    assert token not in made.stdout
    status, me = server.as_token(token).get("/api/v1/whoami")
    assert status == 200 and me["user"] == name
    status, me = signed(server, signing.load_private(key), "GET", "/api/v1/whoami")
    assert status == 200 and me["user"] == name
    slug = f"{name}/models"
    assert admin(database_url, "create-project", slug).returncode == 0
    assert admin(database_url, "add-member", slug, name).returncode == 0
    assert server.as_token(token).get("/api/v1/whoami")[1]["projects"] == [slug]
    listed = json.loads(admin(database_url, "users", "--json").stdout)
    (me_row,) = [u for u in listed if u["name"] == name]
    assert me_row["projects"] == [slug] and len(me_row["keys"]) == 1
    revoked = admin(database_url, "revoke-tokens", name)
    assert revoked.returncode == 0 and "revoked 1 token(s)" in revoked.stdout
    status, out = server.as_token(token).get("/api/v1/whoami")
    assert status == 401 and "was revoked" in out["detail"]
