"""The cores of `roar auth`, `login`, `logout`, `whoami` and `scope`: each returns plain data
for the command to render (nothing here prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roar import config as config_mod
from roar.errors import RoarError
from roar.registry import auth, client

SCOPES = ("anonymous", "public", "private")
BINDING = (
    "No GLaaS repo binding found for this publish. Link the repo to a TReqs owner/project "
    "first, or rerun with --public to publish publicly."
)


def _key_setting(config_path: Path | None) -> str | None:
    if config_path is None or not config_path.exists():
        return None
    return str(config_mod.load(config_path).get("glaas.ssh_key")) or None


def key_info(config_path: Path | None) -> dict[str, Any]:
    """The signing key: its path, public line and fingerprint (an error when there is none)."""
    path = auth.find_key(_key_setting(config_path))
    if path is None:
        raise auth.no_key_error()
    line, fp = auth.public_key(path)
    return {"key": str(path), "public_key": line, "fingerprint": fp}


def test_key(config_path: Path | None) -> dict[str, Any]:
    """A signed GET /whoami with the key: whom the server knows it as."""
    url = client.require_url(config_path)
    info = key_info(config_path)
    me = client.get(url, "/whoami", auth={"method": "ssh", "key": info["key"]})
    return {"url": url, **info, "user": me["user"], "projects": me.get("projects", [])}


def status(config_path: Path | None) -> dict[str, Any]:
    """What roar would sign in with, and the stored login for the configured server."""
    url = client.configured_url(config_path)
    out: dict[str, Any] = {"url": url, "auth_state": str(auth.state_path())}
    try:
        out.update(key_info(config_path))
    except RoarError as exc:
        out.update({"key": None, "public_key": None, "fingerprint": None, "key_error": exc.message})
    entry = auth.login_for(url) if url else None
    out["login"] = (
        None
        if entry is None
        else {k: entry.get(k) for k in ("method", "user", "key", "at") if entry.get(k) is not None}
    )
    return out


def login(config_path: Path | None, token_file: Path | None, force: bool) -> dict[str, Any]:
    """Sign in to the configured server with a token file or the SSH key, check it with
    GET /whoami, and store the login (0600)."""
    url = client.require_url(config_path)
    have = auth.login_for(url)
    if have and not force:
        raise RoarError(
            f"Already logged in to {url} as {have.get('user')} ({have.get('method')}).",
            hint="roar login --force logs in again; roar logout forgets this login.",
        )
    if token_file is not None:
        doc = auth.read_token_file(token_file)
        entry: dict[str, Any] = {"method": "token", "token": doc["token"]}
    else:
        path = auth.find_key(_key_setting(config_path))
        if path is None:
            raise RoarError(
                f"Browser/device login is not available on {url}, and no SSH key was found.",
                hint="Log in with a token (roar login --token-file FILE; the server's admin "
                "makes one: glaas-server admin create-token NAME --file FILE), or with an SSH "
                "key: roar auth register shows the key to have added.",
            )
        auth.load_key(path)  # a key that cannot sign fails here, not at the first request
        entry = {"method": "ssh", "key": str(path)}
    try:
        me = client.get(url, "/whoami", auth=entry)
    except client.RegistryHTTPError as exc:
        if exc.status != 401:
            raise
        what = "the token" if token_file else f"the SSH key {entry['key']}"
        raise RoarError(
            f"{url} refused {what}: {exc.message.split(': ', 1)[-1]}",
            hint="roar auth register shows the key to have added; or log in with a token: "
            "roar login --token-file FILE.",
        ) from None
    entry["user"] = me["user"]
    path = auth.store_login(url, entry)
    return {"url": url, "user": me["user"], "method": entry["method"], "auth_state": str(path),
            "projects": me.get("projects", [])}  # fmt: skip


def logout(config_path: Path | None) -> dict[str, Any]:
    url = client.configured_url(config_path)
    if url is None:  # no server configured: a corrupt state file can still be wiped
        try:
            auth.load_state()
            return {"url": None, "logged_out": False, "auth_state": str(auth.state_path())}
        except RoarError:
            auth.state_path().unlink(missing_ok=True)
            return {"url": None, "logged_out": True, "auth_state": str(auth.state_path())}
    had, path = auth.forget_login(url)
    return {"url": url, "logged_out": had, "auth_state": str(path)}


def whoami(config_path: Path | None) -> dict[str, Any]:
    url = client.require_url(config_path)
    entry = auth.login_for(url)
    if entry is None:
        return {"url": url, "user": "anonymous", "authenticated": False, "method": None,
                "projects": []}  # fmt: skip
    me = client.get(url, "/whoami", auth=entry)
    return {"url": url, **me}


# ------------------------------------------------------------------------------ scopes


def scope_status(config_path: Path) -> dict[str, Any]:
    scope = str(config_mod.load(config_path).get("registration.scope")) or None
    url = client.configured_url(config_path)
    entry = auth.login_for(url) if url else None
    return {"scope": scope, "config": str(config_path), "url": url,
            "user": entry.get("user") if entry else None}  # fmt: skip


def scope_list(config_path: Path) -> dict[str, Any]:
    """The scopes this repo could publish in: anonymous always; public, private and the
    user's projects when logged in (asked of the server)."""
    current = scope_status(config_path)
    url = current["url"]
    entry = auth.login_for(url) if url else None
    projects: list[str] = []
    if url and entry:
        projects = list(client.get(url, "/whoami", auth=entry).get("projects", []))
    rows = [
        {"scope": "anonymous", "available": True, "note": "public, attributed to anonymous"},
        {"scope": "public", "available": bool(entry), "note": "public, attributed to you"},
        {"scope": "private", "available": bool(entry), "note": "only you"},
        *({"scope": p, "available": True, "note": "the project's members"} for p in projects),
    ]
    return {**current, "scopes": rows}


def scope_use(config_path: Path, scope: str) -> dict[str, Any]:
    """Set the repo's publication scope (registration.scope); a project must be one of the
    user's on the server when logged in."""
    try:
        value = config_mod.KEYS["registration.scope"].parse(scope)
    except ValueError as exc:
        raise RoarError(
            f"Unknown scope {scope!r}: {exc}.", hint="roar scope list shows the scopes you have."
        ) from None
    url = client.configured_url(config_path)
    entry = auth.login_for(url) if url else None
    warning = None
    if value not in SCOPES and url and entry:
        projects = client.get(url, "/whoami", auth=entry).get("projects", [])
        if value not in projects:
            raise RoarError(
                f"{entry.get('user')} is not a member of a project {value} on {url}.",
                hint="roar scope list shows your projects; the server's admin adds members.",
            )
    if value != "anonymous" and not entry:
        warning = f"Scope {value} needs a GLaaS login: run roar login before roar register."
    config_mod.set_value(config_path, "registration.scope", value)
    return {"scope": value, "config": str(config_path), "warning": warning}


def scope_clear(config_path: Path) -> dict[str, Any]:
    had = scope_status(config_path)["scope"]
    config_mod.unset_value(config_path, "registration.scope")
    return {"scope": None, "was": had, "config": str(config_path)}


def publication(
    config_path: Path, url: str | None, flag: str | None
) -> tuple[str, str | None, dict[str, Any] | None]:
    """(scope, where the choice came from, login entry) for `roar register`:

    ``--anonymous`` forces anonymous; ``--public`` is public (anonymous when logged out);
    ``--private`` needs a login; without a flag, the repo's scope (`roar scope use`), then
    ``registration.public_by_default`` (the caller warns), then: logged out, anonymous (behind
    the confirmation); logged in, the seeds' "No GLaaS repo binding" error.
    """
    cfg = config_mod.load(config_path)
    entry = auth.login_for(url) if url else None
    if flag == "anonymous":
        return "anonymous", "--anonymous", None
    if flag == "public":
        return ("public", "--public", entry) if entry else ("anonymous", "--public", None)
    if flag == "private":
        if not entry:
            raise RoarError(
                "Private registration needs a GLaaS login.",
                hint="roar login (or roar auth register, to sign with your SSH key); or rerun "
                "with --public to publish publicly.",
            )
        return "private", "--private", entry
    scope = str(cfg.get("registration.scope")) or None
    if scope == "anonymous":
        return "anonymous", "registration.scope", None
    if scope is not None:
        if not entry:
            raise RoarError(
                f"This repo publishes in scope {scope} (roar scope), which needs a GLaaS login.",
                hint="roar login; or roar scope use anonymous, or rerun with --anonymous.",
            )
        return scope, "registration.scope", entry
    if cfg.get("registration.public_by_default"):
        return ("public" if entry else "anonymous"), "registration.public_by_default", entry
    if entry:
        raise RoarError(
            BINDING,
            hint="roar scope use private (or OWNER/PROJECT, or anonymous), or rerun with "
            "--public or --private.",
        )
    return "anonymous", None, None
