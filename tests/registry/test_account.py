"""The web UI's account pages against the package's real glaas-server (SQLite and PostgreSQL):
sign in with a token (an HttpOnly, SameSite=Strict session cookie whose id the server keeps
hashed), paste an SSH key that then signs requests until removed, bad key text refused, CSRF
refused, tokens made, listed, revoked and expired (401 saying to log in again), another user's
keys and tokens never shown; request signatures covering the Host; and one pass in headless
Chromium (sign in, paste a key, read it on a phone).
"""

from __future__ import annotations

import hashlib
import html
import http.cookiejar
import json
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from sqlalchemy import func, select

from glaas import models as m
from glaas import signing
from roar.registry import client
from tests.registry.test_auth import keygen, send, signed
from tests.registry.test_web_ui import SCREENSHOTS, browser, browser_ready, open_page  # noqa: F401 - fixtures

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects: (status, headers, text)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect
        )

    def open(self, path: str, form: dict[str, str] | None = None) -> tuple[int, Any, str]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        req = urllib.request.Request(self.base + path, data=data)
        if data is not None:
            req.add_header("content-type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read().decode()

    def csrf(self, path: str) -> str:
        status, _, body = self.open(path)
        assert status == 200, (path, status, body[:300])
        return CSRF.search(body).group(1)  # type: ignore[union-attr]

    def post(self, path: str, form: dict[str, str], csrf_from: str | None = None) -> Any:
        """POST ``form`` with the CSRF token of the page at ``csrf_from`` (None: as given)."""
        if csrf_from is not None:
            form = {**form, "csrf": self.csrf(csrf_from)}
        return self.open(path, form)

    def sign_in(self, token: str) -> tuple[int, Any, str]:
        return self.post("/account/sign-in", {"token": token}, "/account/sign-in")

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def text(body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.fixture
def user(accounts) -> dict[str, Any]:
    """A fresh user with a token (from the admin's service), not signed in anywhere."""
    name = "acct-" + secrets.token_hex(3)
    api = accounts.user(name)
    return {"name": name, "token": api.headers["authorization"].split()[1], "api": api}


@pytest.fixture
def browser_for(server):
    def make(token: str) -> Browser:
        b = Browser(server.base)
        status, headers, body = b.sign_in(token)
        assert status == 303 and headers["location"] == "/account/keys", (status, body[:500])
        return b

    return make


def count(engine, model: Any, **where: str) -> int:
    with engine.connect() as conn:
        q = select(func.count()).select_from(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return int(conn.scalar(q) or 0)


# ---------------------------------------------------------------- signing in


def test_sign_in_sets_an_httponly_strict_cookie_whose_id_is_stored_hashed(server, engine, user):
    b = Browser(server.base)
    status, headers, _ = b.open("/account")
    assert status == 303 and headers["location"] == "/account/sign-in"
    status, _, body = b.sign_in("glaas_not-a-token")
    assert status == 401 and "not recognised" in text(body) and b.cookie("glaas_session") is None
    status, _, body = b.open("/account/sign-in", {"token": user["token"]})  # no CSRF token
    assert status == 403 and b.cookie("glaas_session") is None

    status, headers, _ = b.sign_in(user["token"])
    assert status == 303 and headers["location"] == "/account/keys"
    (set_cookie,) = [c for c in headers.get_all("set-cookie") if c.startswith("glaas_session=")]
    attrs = {a.strip().split("=")[0].lower() for a in set_cookie.split(";")[1:]}
    assert {"httponly", "samesite", "max-age", "path"} <= attrs, set_cookie
    assert "samesite=strict" in set_cookie.lower()
    sid = b.cookie("glaas_session")
    assert sid and len(sid) >= 40
    with engine.connect() as conn:
        stored = conn.scalar(
            select(m.WebSession.id_hash).where(m.WebSession.user_name == user["name"])
        )
    assert stored == hashlib.sha256(sid.encode()).hexdigest() != sid

    status, _, body = b.open("/account")
    assert status == 200 and f"Signed in as {user['name']}" in text(body)
    assert "no-store" in b.open("/account/keys")[1]["cache-control"]
    status, headers, _ = b.post("/account/sign-out", {}, "/account")
    assert status == 303 and b.cookie("glaas_session") is None
    assert count(engine, m.WebSession, user_name=user["name"]) == 0
    again = Browser(server.base)  # the old cookie, replayed: the session is gone
    again.opener.addheaders = [("cookie", f"glaas_session={sid}")]
    assert again.open("/account")[0] == 303


# ---------------------------------------------------------------- SSH keys


def test_a_pasted_key_signs_requests_until_it_is_removed(
    server, engine, user, browser_for, tmp_path
):
    b = browser_for(user["token"])
    key = keygen(tmp_path / "id_ed25519")
    line = key.with_suffix(".pub").read_text().strip() + "-laptop"  # comment "test-laptop"
    fp = signing.fingerprint(signing.load_private(key).public_key())
    login = {"method": "ssh", "key": str(key)}
    with pytest.raises(client.RegistryHTTPError, match="is not registered"):
        client.get(server.base, "/whoami", auth=login)

    status, headers, _ = b.post("/account/keys", {"key": line}, "/account/keys")
    assert status == 303 and headers["location"] == "/account/keys?done=key-added"
    status, _, body = b.open("/account/keys?done=key-added")
    shown = text(body)
    assert fp in shown and "ssh-ed25519" in shown and "test-laptop" in shown
    assert "Key added" in shown
    # roar's own client (a v2 signature over the Host) is now known as the user
    me = client.get(server.base, "/whoami", auth=login)
    assert me["user"] == user["name"] and me["method"] == "ssh" and me["key"] == fp

    status, _, body = b.post("/account/keys", {"key": line}, "/account/keys")  # twice
    assert status == 422 and "in your account already" in text(body)
    assert count(engine, m.UserKey, user_name=user["name"]) == 1

    status, headers, _ = b.post("/account/keys/remove", {"fingerprint": fp}, "/account/keys")
    assert status == 303 and headers["location"] == "/account/keys?done=key-removed"
    assert fp not in text(b.open("/account/keys")[2])
    with pytest.raises(client.RegistryHTTPError, match="is not registered") as refused:
        client.get(server.base, "/whoami", auth=login)
    assert refused.value.status == 401


def test_bad_key_text_is_refused_saying_why_and_nothing_is_stored(
    server, engine, user, browser_for, tmp_path
):
    b = browser_for(user["token"])
    ed = keygen(tmp_path / "id_ed25519")
    good = ed.with_suffix(".pub").read_text().strip()
    small_rsa = tmp_path / "id_rsa"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", str(small_rsa)],
        check=True,
        capture_output=True,
    )
    kind, blob = good.split()[:2]
    private = ed.read_text()
    cases = {
        "hello": "a public key line starts with its type",
        private: "this is a PRIVATE key",
        good + "\n" + good: "paste one key at a time",
        f"{kind} {blob[:-9]}": "damaged",
        f"ssh-dss {blob}": "a public key line starts with its type",
        f"ecdsa-sha2-nistp256 {blob}": "not a usable OpenSSH public key",  # type and body differ
        f'from="10.0.0.1" {good}': "a public key line starts with its type",
        small_rsa.with_suffix(".pub").read_text(): "has 1024 bits",
        "   ": "no key given",
    }
    for bad, why in cases.items():
        status, _, body = b.post("/account/keys", {"key": bad}, "/account/keys")
        assert status == 422, (bad[:40], status)
        assert why in text(body), (bad[:40], text(body)[:800])
    assert "PRIVATE KEY" not in body  # the pasted private key is not sent back
    status, _, body = b.post("/account/keys", {"key": private}, "/account/keys")
    assert "OPENSSH PRIVATE KEY" not in body and private.splitlines()[1] not in body
    assert count(engine, m.UserKey, user_name=user["name"]) == 0


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    server, engine, user, accounts, browser_for, tmp_path
):
    b = browser_for(user["token"])
    other = browser_for(accounts.user(user["name"]).headers["authorization"].split()[1])
    line = keygen(tmp_path / "id_ed25519").with_suffix(".pub").read_text()
    for form in (
        {"key": line},
        {"key": line, "csrf": ""},
        {"key": line, "csrf": "0" * 64},
        {"key": line, "csrf": other.csrf("/account/keys")},  # another session's token
    ):
        status, _, body = b.open("/account/keys", form)
        assert status == 403 and "security token" in text(body), form.get("csrf")
    assert count(engine, m.UserKey, user_name=user["name"]) == 0
    tokens = text(b.open("/account/tokens")[2])
    assert b.open("/account/tokens", {"name": "x", "expires": "7 days"})[0] == 403
    assert text(b.open("/account/tokens")[2]) == tokens  # no token made
    token_id = re.search(r'name="id" value="([0-9a-f]{16})"', b.open("/account/tokens")[2])
    assert token_id is not None
    assert b.open("/account/tokens/revoke", {"id": token_id.group(1)})[0] == 403
    assert b.open("/account/sign-out", {})[0] == 403
    assert user["api"].get("/api/v1/whoami")[0] == 200
    assert b.open("/account")[0] == 200  # still signed in


# ---------------------------------------------------------------- tokens


def test_tokens_are_made_once_listed_and_revoked(server, engine, user, browser_for):
    b = browser_for(user["token"])
    status, headers, body = b.post(
        "/account/tokens", {"name": "ci runner", "expires": "7 days"}, "/account/tokens"
    )
    assert status == 200 and "no-store" in headers["cache-control"]
    new = re.search(r'<code id="new-token">(glaas_[^<]+)</code>', body)
    assert new is not None
    token = new.group(1)
    api = user["api"].as_token(token)
    assert api.get("/api/v1/whoami")[1]["user"] == user["name"]
    listing = b.open("/account/tokens")[2]
    assert token not in listing  # shown once
    row = next(r for r in re.findall(r"<tr>.*?</tr>", listing, re.S) if "ci runner" in r)
    assert token[:10] in row and "expired" not in row
    assert re.search(r"\d{4}-\d\d-\d\d", text(row).split("ci runner")[1])  # created, used, expires
    with engine.connect() as conn:
        stored = conn.execute(select(m.ApiToken).where(m.ApiToken.name == "ci runner")).one()
    assert stored.last_used_at is not None
    assert 6.9 * 86400 < stored.expires_at - stored.created_at < 7.1 * 86400

    token_id = re.search(r'name="id" value="([0-9a-f]{16})"', row).group(1)  # type: ignore[union-attr]
    status, headers, _ = b.post("/account/tokens/revoke", {"id": token_id}, "/account/tokens")
    assert status == 303 and headers["location"] == "/account/tokens?done=token-revoked"
    status, out = api.get("/api/v1/whoami")
    assert status == 401 and "was revoked" in out["detail"] and "roar login" in out["detail"]
    assert "ci runner" not in b.open("/account/tokens")[2]

    # revoking the token this browser signed in with ends its session
    mine = re.search(r'name="id" value="([0-9a-f]{16})"', b.open("/account/tokens")[2])
    status, headers, _ = b.post("/account/tokens/revoke", {"id": mine.group(1)}, "/account/tokens")  # type: ignore[union-attr]
    assert status == 303 and headers["location"] == "/account/sign-in"
    assert b.open("/account")[0] == 303
    assert user["api"].get("/api/v1/whoami")[0] == 401


def test_an_expired_token_is_refused_saying_to_log_in_again(
    server, accounts, engine, database_url, user
):
    from glaas.service import auth

    with accounts.sessions() as db:
        token = auth.create_token(db, user["name"], "short", expires_in=1.0)
    api = user["api"].as_token(token)
    assert api.get("/api/v1/whoami")[0] == 200
    time.sleep(1.2)
    status, out = api.get("/api/v1/whoami")
    assert status == 401 and "expired on" in out["detail"]
    assert "roar login --force --token-file" in out["detail"]
    status, _, body = Browser(server.base).sign_in(token)
    assert status == 401 and "expired on" in text(body)
    # the admin command's --expires-in
    from tests.registry.test_auth import admin

    made = admin(database_url, "create-token", user["name"], "--expires-in", "30d")
    assert made.returncode == 0, made.stderr
    with engine.connect() as conn:
        row = conn.execute(
            select(m.ApiToken).where(m.ApiToken.token_hash == auth.token_hash(made.stdout.strip()))
        ).one()
    assert 29.9 * 86400 < row.expires_at - row.created_at < 30.1 * 86400
    bad = admin(database_url, "create-token", user["name"], "--expires-in", "soon")
    assert bad.returncode == 1 and "is not a duration" in bad.stderr
    # one token revoked by the admin, by the ID `admin tokens` lists
    listed = json.loads(admin(database_url, "tokens", user["name"], "--json").stdout)
    assert {t["expired"] for t in listed} == {True, False} and len(listed) == 3
    assert "(expired)" in admin(database_url, "tokens", user["name"]).stdout
    (first,) = [t for t in listed if t["name"] is None and t["expires_at"] is None]
    done = admin(database_url, "revoke-token", user["name"], first["id"])
    assert done.returncode == 0, done.stderr
    status, out = user["api"].get("/api/v1/whoami")
    assert status == 401 and "was revoked" in out["detail"]
    again = admin(database_url, "revoke-token", user["name"], first["id"])
    assert again.returncode == 1 and "no such token" in again.stderr


# ---------------------------------------------------------------- other users


def test_another_users_keys_and_tokens_are_never_shown_nor_touched(
    server, accounts, engine, user, browser_for, tmp_path
):
    bob = accounts.user("bob-" + secrets.token_hex(3))
    bob_name = bob.get("/api/v1/whoami")[1]["user"]
    bob_key = keygen(tmp_path / "bob")
    bob_fp = accounts.add_key(bob_name, bob_key.with_suffix(".pub").read_text())
    bob_b = browser_for(bob.headers["authorization"].split()[1])
    bob_token_id = re.search(
        r'name="id" value="([0-9a-f]{16})"', bob_b.open("/account/tokens")[2]
    ).group(1)  # type: ignore[union-attr]

    b = browser_for(user["token"])
    for path in ("/account", "/account/keys", "/account/tokens"):
        body = b.open(path)[2]
        assert bob_fp not in body and bob_name not in body and bob_token_id not in body
    status, _, body = b.post("/account/keys/remove", {"fingerprint": bob_fp}, "/account/keys")
    assert status == 404 and "no key" in text(body)
    status, _, _ = b.post("/account/tokens/revoke", {"id": bob_token_id}, "/account/tokens")
    assert status == 404
    status, _, body = b.post(
        "/account/keys", {"key": bob_key.with_suffix(".pub").read_text()}, "/account/keys"
    )
    assert status == 422 and "belongs to another user" in text(body)
    assert count(engine, m.UserKey, fingerprint=bob_fp, user_name=bob_name) == 1
    assert bob.get("/api/v1/whoami")[0] == 200


def test_a_signed_in_browser_sees_its_users_private_lineage(server, user, browser_for):
    from tests.registry.synth import chain, window

    bundle = window(chain(2), 0, 2)
    user["api"].register(bundle, scope="private")
    art = bundle["artifacts"][0]["hash"]
    assert Browser(server.base).open(f"/artifacts/{art}")[0] == 404
    b = browser_for(user["token"])
    status, _, body = b.open(f"/artifacts/{art}")
    assert status == 200 and art in body and user["name"] in text(body)


def test_roar_auth_register_names_the_page_and_the_pasted_key_passes_roar_auth_test(
    server, user, browser_for, tmp_path
):
    """The seeds' flow: `roar auth register` prints the key and where to paste it; pasted
    there, `roar auth test` authenticates as the user."""
    from tests.conftest import make_repo
    from tests.registry.test_auth_cmds import Cli

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    keygen(home / ".ssh" / "id_ed25519")
    cli = Cli(make_repo(tmp_path / "project"), home)
    cli("init", "-y")
    cli("config", "set", "glaas.url", server.base)
    shown = cli("auth", "register")
    assert f"sign in at {server.base}/account/keys and paste it there" in shown.stderr
    assert cli.json("auth", "register")["add_at"] == f"{server.base}/account/keys"
    refused = cli("auth", "test", check=False)
    assert refused.returncode == 1 and "is not registered" in refused.stderr
    b = browser_for(user["token"])
    assert b.post("/account/keys", {"key": shown.stdout}, "/account/keys")[0] == 303
    assert f"as {user['name']}" in cli("auth", "test").stdout
    cli("config", "set", "glaas.web_url", "https://registry.example.org/")
    assert "https://registry.example.org/account/keys" in cli("auth", "register").stderr


def test_on_a_server_without_anonymous_access_pages_ask_to_sign_in(
    database_url, accounts, tmp_path
):
    from tests.registry.conftest import running_server

    name = "closed-" + secrets.token_hex(3)
    token = accounts.user(name).headers["authorization"].split()[1]
    env = {"GLAAS_ALLOW_ANONYMOUS": "0"}
    with running_server(database_url, tmp_path / "closed.log", env) as closed:
        b = Browser(closed.base)
        status, headers, _ = b.open("/")
        assert status == 303 and headers["location"] == "/account/sign-in"
        assert b.open("/account/sign-in")[0] == 200
        assert b.sign_in(token)[0] == 303
        status, _, body = b.open("/")
        assert status == 200 and name in text(body)
        status, _, _ = Browser(closed.base).open("/labels")
        assert status == 303


# ---------------------------------------------------------------- the Host in signatures


def test_a_signature_replayed_to_another_host_is_refused(server, accounts, user, tmp_path):
    key_path = keygen(tmp_path / "id_ed25519")
    accounts.add_key(user["name"], key_path.with_suffix(".pub").read_text())
    key = signing.load_private(key_path)
    host = urllib.parse.urlsplit(server.base).netloc
    target = "/api/v1/whoami"
    # signed for this server, sent with another Host (as a replay to another server would be)
    forged = signing.signed_headers(key, "GET", target, b"", host=host)
    status, out = send(server, "GET", target, headers={**forged, "Host": "glaas.example.org"})
    assert status == 401 and "another host" in out["detail"]
    ok = signing.signed_headers(key, "GET", target, b"", host=host)
    assert ok[signing.VERSION] == signing.PROTOCOL_V2
    status, me = send(server, "GET", target, headers=ok)
    assert status == 200 and me["user"] == user["name"]
    assert send(server, "GET", target, headers=ok)[0] == 401  # and once only
    # a v1 signature (older clients: no Host) is still accepted; claimed as v2 it fails
    assert signed(server, key, "GET", target)[0] == 200
    v1 = signing.signed_headers(key, "GET", target, b"")
    status, out = send(server, "GET", target, headers={**v1, signing.VERSION: signing.PROTOCOL_V2})
    assert status == 401 and "does not verify" in out["detail"]
    # the hash lookups (answered ahead of FastAPI's routing) check the same signature
    lookup = "/api/v1/artifacts/" + "ab" * 32
    headers = signing.signed_headers(key, "GET", lookup, b"", host=host)
    status, out = send(server, "GET", lookup, headers={**headers, "Host": "other.example"})
    assert status == 401 and "another host" in out["detail"]
    headers = signing.signed_headers(key, "GET", lookup, b"", host=host)
    assert send(server, "GET", lookup, headers=headers)[0] == 404
    v9 = {**signing.signed_headers(key, "GET", target, b"", host=host), signing.VERSION: "v9"}
    status, out = send(server, "GET", target, headers=v9)
    assert status == 401 and "not a protocol this server knows" in out["detail"]


# ---------------------------------------------------------------- in Chromium


@browser_ready
def test_in_a_browser_sign_in_and_paste_a_key_on_a_phone(server, user, open_page, tmp_path):  # noqa: F811
    key = keygen(tmp_path / "id_ed25519")
    line = key.with_suffix(".pub").read_text().strip()
    fp = signing.fingerprint(signing.load_private(key).public_key())
    page = open_page(390, 844)
    page.goto(server.base + "/")
    page.click("header a:has-text('Sign in')")
    page.wait_for_url("**/account/sign-in")
    page.fill("input[name=token]", user["token"])
    page.click("form button:has-text('Sign in')")
    page.wait_for_url("**/account/keys")
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads the session
    assert user["name"] in page.inner_text("header")
    page.fill("textarea[name=key]", "ssh-ed25519 not-base64!")
    page.click("form button:has-text('Add key')")
    assert "damaged" in page.inner_text("#form-error")
    page.fill("textarea[name=key]", line)
    page.click("form button:has-text('Add key')")
    page.wait_for_url("**/account/keys?done=key-added")
    assert fp in page.inner_text("#keys")
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "glaas-account-keys-phone.png"), full_page=True)
    assert client.get(server.base, "/whoami", auth={"method": "ssh", "key": str(key)})["key"] == fp
    # a token made on the phone, shown once with a Copy button
    page.click("nav.tabs a:has-text('API tokens')")
    page.fill("input[name=name]", "phone")
    page.click("form button:has-text('Make token')")
    token = page.inner_text("#new-token")
    assert token.startswith("glaas_")
    page.click("button.copy")
    page.wait_for_function("document.querySelector('button.copy').dataset.state")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert user["api"].as_token(token).get("/api/v1/whoami")[1]["user"] == user["name"]
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.screenshot(path=str(SCREENSHOTS / "glaas-account-tokens-phone.png"), full_page=True)
    page.click("nav.tabs button:has-text('Sign out')")
    page.wait_for_url(server.base + "/")
    assert "Sign in" in page.inner_text("header")
    # the 422 of the bad key is an expected answer, not a problem of the page
    assert [p for p in page.problems if "422" not in p] == []


# ---------------------------------------------------------------- revision 0005


def test_revision_0005_keeps_tokens_made_before_it_and_its_downgrade_drops_revoked_ones(
    tmp_path,
):
    """Tokens made under 0004 work after the upgrade and never expire; a downgrade removes the
    tokens 0004 could not refuse (revoked or expiring), keeping the others (SQLite: batch
    mode copies the tables)."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from glaas.db import make_engine, make_sessionmaker
    from glaas.migrate import alembic_config, upgrade
    from glaas.service import auth

    url = f"sqlite:///{tmp_path / 'glaas.db'}"
    upgrade(url, "0004")
    old = "glaas_" + secrets.token_urlsafe(32)
    raw = create_engine(url)
    with raw.begin() as conn:
        conn.execute(text("INSERT INTO users (name, created_at) VALUES ('old', 1.0)"))
        conn.execute(
            text(
                "INSERT INTO api_tokens (token_hash, user_name, created_at) VALUES (:h, 'old', 1)"
            ),
            {"h": auth.token_hash(old)},
        )
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as db:
        assert auth.by_token(db, old).user == "old"
        expiring = auth.create_token(db, "old", "soon", 3600.0)
        revoked = auth.create_token(db, "old", "gone")
        with db.begin():
            db.execute(
                text("UPDATE api_tokens SET revoked_at = 2 WHERE token_hash = :h"),
                {"h": auth.token_hash(revoked)},
            )
    engine.dispose()
    command.downgrade(alembic_config(url), "0004")
    with raw.connect() as conn:
        left = set(conn.scalars(text("SELECT token_hash FROM api_tokens")))
    assert left == {auth.token_hash(old)}, (expiring, revoked)
    raw.dispose()


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/account/tokens", "name"),
        ("/account/keys", "key"),
        ("/account/keys/remove", "fingerprint"),
        ("/account/tokens/revoke", "id"),
    ],
)
def test_a_nul_in_an_account_form_is_a_422_and_changes_nothing(
    server, engine, user, browser_for, path, field
):
    """PostgreSQL's text refuses NUL (a 500 before); SQLite would have stored it."""
    b = browser_for(user["token"])
    tokens = count(engine, m.ApiToken, user_name=user["name"])
    status, _, body = b.post(path, {field: "ci\x00runner", "expires": "7 days"}, "/account/keys")
    assert status == 422, body[:500]
    assert "NUL character" in text(body) and "nothing was changed" in text(body)
    assert count(engine, m.ApiToken, user_name=user["name"]) == tokens
    assert count(engine, m.UserKey, user_name=user["name"]) == 0
    assert b.open("/account")[0] == 200  # still signed in
