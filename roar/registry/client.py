"""The HTTP client of a GLaaS registry, over urllib (no third-party HTTP stack to import).

Every request goes through ``request``: the one place that adds the auth headers (a bearer
token or an SSH signature, as `roar login` stored for this server: roar.registry.auth).
Answers are JSON; errors become ``RoarError``s that name the server (``glaas.url``) and what
to do next.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from roar import config as config_mod
from roar.errors import RoarError

API = "/api/v1"
TIMEOUT = float(os.environ.get("ROAR_GLAAS_TIMEOUT", "60"))
SET_URL_HINT = "roar config set glaas.url https://glaas.ai (or your team's server), then retry."


class RegistryHTTPError(RoarError):
    """The server answered with an error status (``status``; its ``detail`` in the message)."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def configured_url(config_path: Path | None) -> str | None:
    """The registry's base URL when the user configured one (``glaas.url`` in the project's
    config, or ``ROAR_GLAAS_URL``); None otherwise: roar never talks to a server by default."""
    env = os.environ.get("ROAR_GLAAS_URL")
    if env:
        return env.rstrip("/")
    if config_path is None or not config_mod.explicit(config_path, "glaas.url"):
        return None
    return str(config_mod.load(config_path).get("glaas.url")).rstrip("/")


def require_url(config_path: Path | None) -> str:
    url = configured_url(config_path)
    if url is None:
        raise RoarError("GLaaS server not configured.", hint="Set the GLaaS URL: " + SET_URL_HINT)
    return url


LOGIN = "login"  # auth: the stored login for this server, if any
ANONYMOUS = "anonymous"  # auth: no credentials at all


def request(
    base: str, method: str, path: str, body: Any = None, auth: str | dict[str, Any] = LOGIN
) -> Any:
    """``method`` ``base + /api/v1 + path`` with a JSON ``body``; the decoded JSON answer.
    ``auth``: LOGIN (what `roar login` stored for ``base``), ANONYMOUS, or a login entry."""
    from roar.registry import auth as auth_mod

    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    req = urllib.request.Request(base + API + path, data=data, method=method)
    req.add_header("accept", "application/json")
    if data is not None:
        req.add_header("content-type", "application/json")
    entry = auth if isinstance(auth, dict) else auth_mod.login_for(base) if auth == LOGIN else None
    for name, value in auth_mod.headers(entry, method, req.selector, data or b"", req.host).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        raise _http_error(base, err) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise RoarError(
            f"Cannot reach the GLaaS server at {base} (glaas.url): {reason}.",
            hint="Check that the server is running and the URL is right "
            "(roar config get glaas.url; roar config set glaas.url URL).",
        ) from None
    except ValueError as err:
        raise RoarError(
            f"The GLaaS server at {base} answered {method} {path} with something that is not "
            f"JSON ({err}).",
            hint="Is glaas.url the registry's API address (not its web UI)?",
        ) from None


def get(base: str, path: str, auth: str | dict[str, Any] = LOGIN) -> Any:
    return request(base, "GET", path, auth=auth)


def post(base: str, path: str, body: Any, auth: str | dict[str, Any] = LOGIN) -> Any:
    return request(base, "POST", path, body, auth=auth)


def _http_error(base: str, err: urllib.error.HTTPError) -> RegistryHTTPError:
    try:
        payload = json.loads(err.read() or b"null")
    except ValueError:
        payload = None
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(detail, str):
        detail = json.dumps(detail) if detail is not None else (err.reason or "no detail")
    hint = None
    if err.code >= 500:
        hint = "The server failed: its log says why; retry once it is fixed."
    elif err.code == 401:
        hint = "roar auth status shows how roar signs in; roar login (--force) signs in again."
    elif isinstance(payload, dict) and payload.get("candidates"):
        hint = "Give more digits of the hash: " + ", ".join(payload["candidates"][:5])
    return RegistryHTTPError(
        err.code, f"The GLaaS server at {base} answered {err.code}: {detail}", hint
    )
