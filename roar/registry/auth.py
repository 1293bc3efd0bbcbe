"""The client's side of GLaaS authentication: the SSH key that signs requests, the stored
login state, and the headers each request carries.

Login state lives in ``$XDG_CONFIG_HOME/roar/auth.json`` (``~/.config/roar/auth.json``),
written only by `roar login` and only with mode 0600: one entry per server URL, either
``{"method": "token", "token": …, "user": …}`` or ``{"method": "ssh", "key": PATH, "user": …}``
(a path, not the key). A request to a server with an entry is authenticated that way; without
one, it is anonymous. Nothing here is ever written to the roar store.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from roar.errors import RoarError

KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")  # looked for in ~/.ssh, in this order
LOGOUT_HINT = "Wipe it and log back in: roar logout, then roar login."
KEYS_PAGE = "/account/keys"  # the web UI's page where a public key is pasted


def state_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "roar" / "auth.json"


def load_state() -> dict[str, Any]:
    """The stored login state ({"version": 1, "servers": {url: entry}}); empty when none."""
    path = state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"version": 1, "servers": {}}
    except OSError as exc:
        raise RoarError(f"Cannot read the stored auth state at {path}: {exc.strerror}.") from None
    try:
        state = json.loads(text)
    except ValueError:
        raise RoarError(
            f"Stored auth state at {path} is not valid JSON.", hint=LOGOUT_HINT
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("servers"), dict):
        raise RoarError(
            f"Stored auth state at {path} is not roar's (no 'servers' table).", hint=LOGOUT_HINT
        )
    return state


def save_state(state: dict[str, Any]) -> Path:
    """Write the state readable by its owner only: created 0600, replaced atomically."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def login_for(url: str) -> dict[str, Any] | None:
    entry = load_state()["servers"].get(url.rstrip("/"))
    return entry if isinstance(entry, dict) else None


def store_login(url: str, entry: dict[str, Any]) -> Path:
    state = load_state()
    state["servers"][url.rstrip("/")] = {**entry, "at": time.time()}
    return save_state(state)


def forget_login(url: str) -> tuple[bool, Path]:
    """Remove ``url``'s entry: (whether there was one, the state file). A state file that is
    not valid JSON is removed whole (it is what `roar logout` is for)."""
    path = state_path()
    try:
        state = load_state()
    except RoarError:
        path.unlink(missing_ok=True)
        return True, path
    had = state["servers"].pop(url.rstrip("/"), None) is not None
    if had:
        if state["servers"]:
            save_state(state)
        else:
            path.unlink(missing_ok=True)
    return had, path


# ------------------------------------------------------------------------------ the SSH key


def find_key(configured: str | None) -> Path | None:
    """The private key that signs: ``glaas.ssh_key`` when set, else the first of
    ~/.ssh/id_ed25519, id_ecdsa, id_rsa that exists."""
    if configured:
        return Path(configured).expanduser()
    ssh = Path.home() / ".ssh"
    return next((ssh / n for n in KEY_NAMES if (ssh / n).is_file()), None)


def no_key_error() -> RoarError:
    return RoarError(
        "No SSH key found to sign GLaaS requests with.",
        hint="Make one (ssh-keygen -t ed25519), or point roar at yours: "
        "roar config set glaas.ssh_key ~/.ssh/KEY.",
    )


def load_key(path: Path) -> Any:
    from glaas import signing

    try:
        return signing.load_private(path)
    except signing.BadKey as exc:
        raise RoarError(
            f"Cannot sign GLaaS requests with {path}: {exc}.",
            hint="Use an unencrypted ed25519, ecdsa or rsa key: roar config set glaas.ssh_key PATH.",
        ) from None


def public_key(path: Path) -> tuple[str, str]:
    """(OpenSSH public key line, SHA256 fingerprint) of the private key at ``path``."""
    from glaas import signing

    pub = load_key(path).public_key()
    return signing.public_line(pub), signing.fingerprint(pub)


def keys_page_url(config_path: Path | None) -> str:
    """Where the user pastes the public key: the web UI's SSH keys page, on ``glaas.web_url``
    when set, else on the configured server (``glaas.url``: the same server serves the UI at
    /), else on the default web UI."""
    from roar import config as config_mod

    cfg = config_mod.load(config_path)
    base = str(cfg.get("glaas.web_url"))
    if (
        config_path is not None
        and not config_mod.explicit(config_path, "glaas.web_url")
        and config_mod.explicit(config_path, "glaas.url")
    ):
        base = str(cfg.get("glaas.url"))
    return base.rstrip("/") + KEYS_PAGE


# ------------------------------------------------------------------------------ the headers


def headers(
    entry: dict[str, Any] | None, method: str, target: str, body: bytes, host: str | None = None
) -> dict[str, str]:
    """The headers that authenticate one request as ``entry`` says (none: anonymous). With the
    ``host`` it is sent to (its Host header), a signature covers it (protocol v2)."""
    if not entry:
        return {}
    if entry.get("method") == "token":
        return {"Authorization": f"Bearer {entry['token']}"}
    if entry.get("method") == "ssh":
        from glaas import signing

        key = load_key(Path(entry["key"]))
        return signing.signed_headers(key, method, target, body, host=host)
    raise RoarError(
        f"Stored auth state at {state_path()} has an entry roar does not know "
        f"(method {entry.get('method')!r}).",
        hint=LOGOUT_HINT,
    )


def read_token_file(path: Path) -> dict[str, Any]:
    """A token file: JSON with "token" (as `glaas-server admin create-token --file` writes it,
    or a saved auth.json entry)."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise RoarError(f"Cannot read the token file {path}: {exc.strerror or exc}.") from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise RoarError(
            f"Token file {path} is not valid JSON.",
            hint='It should hold {"token": "glaas_…"}: glaas-server admin create-token NAME '
            "--file FILE makes one.",
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("token"), str) or not doc["token"]:
        raise RoarError(
            f'Token file {path} has no "token".',
            hint="glaas-server admin create-token NAME --file FILE makes one.",
        )
    return doc
