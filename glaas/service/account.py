"""A user's own account, for the web UI's account pages: signing in with an API token (a
browser session), the user's SSH keys and API tokens, listed, added, removed and revoked.

A session is a random id in an HttpOnly cookie; the server keeps only its SHA-256, the user,
the token it was opened with and its expiry (``web_sessions``). Revoking that token, or all of
the user's, ends it. The forms' CSRF token is derived from the session id (a keyed hash the
server can recompute, never stored), so it changes with every session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas import signing
from glaas.db import WRITE
from glaas.service import auth
from glaas.service.auth import AdminError, Viewer

SESSION_LIFETIME = 8 * 3600.0  # seconds; a session never outlives the token it came from
TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")
# What the tokens page offers (label, seconds or None for until revoked).
EXPIRIES = (("7 days", 7 * 86400.0), ("30 days", 30 * 86400.0), ("90 days", 90 * 86400.0),
            ("1 year", 365 * 86400.0), ("never (until revoked)", None))  # fmt: skip


@dataclass(frozen=True)
class WebUser:
    """A signed-in browser: who, until when, and the CSRF token its forms carry."""

    name: str
    csrf: str
    expires_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's form token: a keyed hash of the cookie's id (a form token alone, or the
    stored digest, does not give it)."""
    return hmac.new(session_id.encode(), b"glaas-csrf", hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def sign_in(db: Db, token: str, now: float | None = None) -> tuple[str, WebUser]:
    """Open a session with an API token: (the cookie's session id, the user). AuthError, as
    for an API request, when the token is not in force."""
    now = time.time() if now is None else now
    session_id = secrets.token_urlsafe(32)
    with db.begin():
        db.connection(execution_options=WRITE)
        row = auth.token_user(db, token.strip(), now)
        ends = now + SESSION_LIFETIME
        if row.expires_at is not None:
            ends = min(ends, row.expires_at)
        row.last_used_at = now  # signing in is a use of the token
        db.execute(delete(m.WebSession).where(m.WebSession.expires_at <= now))  # tidy up
        db.add(
            m.WebSession(
                id_hash=_digest(session_id),
                user_name=row.user_name,
                token_hash=row.token_hash,
                created_at=now,
                expires_at=ends,
            )
        )
        name = row.user_name
    return session_id, WebUser(name, csrf_token(session_id), ends)


def session_user(db: Db, session_id: str | None, now: float | None = None) -> WebUser | None:
    """The user of a session cookie, while the session is open; None otherwise."""
    if not session_id or len(session_id) > 100:
        return None
    now = time.time() if now is None else now
    with db.begin():
        row = db.get(m.WebSession, _digest(session_id))
        if row is None or row.expires_at <= now:
            return None
        return WebUser(row.user_name, csrf_token(session_id), row.expires_at)


def session_viewer(db: Db, user: WebUser) -> Viewer:
    """What a signed-in browser sees: the user's scopes, as their API requests do."""
    with db.begin():
        return auth.viewer_for(db, user.name, "web")


def sign_out(db: Db, session_id: str | None) -> None:
    if not session_id:
        return
    with db.begin():
        db.connection(execution_options=WRITE)
        db.execute(delete(m.WebSession).where(m.WebSession.id_hash == _digest(session_id)))


# ------------------------------------------------------------------------------ SSH keys


def keys(db: Db, user: str) -> list[dict[str, Any]]:
    """The user's SSH keys, oldest first: type, fingerprint, comment, when added."""
    with db.begin():
        rows = db.scalars(
            select(m.UserKey)
            .where(m.UserKey.user_name == user)
            .order_by(m.UserKey.created_at, m.UserKey.fingerprint)
        )
        return [
            {
                "type": signing.key_type(k.public_key),
                "fingerprint": k.fingerprint,
                "comment": k.comment,
                "created_at": k.created_at,
            }
            for k in rows
        ]


def add_key(db: Db, user: str, text: str) -> str:
    """Add a pasted public key to the user's account (a duplicate refused): its fingerprint."""
    return auth.add_key(db, user, text, duplicate_ok=False)


def remove_key(db: Db, user: str, fingerprint: str) -> None:
    """Remove one of the user's keys (another user's, or an unknown one: AdminError)."""
    with db.begin():
        db.connection(execution_options=WRITE)
        gone = db.execute(
            delete(m.UserKey).where(
                m.UserKey.fingerprint == fingerprint, m.UserKey.user_name == user
            )
        )
        if not getattr(gone, "rowcount", 0):
            raise AdminError(f"no key {fingerprint[:100]} in your account (removed already?)")


# ------------------------------------------------------------------------------ API tokens


def tokens(db: Db, user: str, now: float | None = None) -> list[dict[str, Any]]:
    """The user's tokens not revoked, newest first; expired ones marked as such. ``id`` (the
    first 16 hex digits of the stored hash) names one to revoke."""
    now = time.time() if now is None else now
    with db.begin():
        rows = db.scalars(
            select(m.ApiToken)
            .where(m.ApiToken.user_name == user, m.ApiToken.revoked_at.is_(None))
            .order_by(m.ApiToken.created_at.desc())
        )
        return [
            {
                "id": t.token_hash[:16],
                "name": t.name,
                "prefix": t.prefix,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "expires_at": t.expires_at,
                "expired": t.expires_at is not None and t.expires_at <= now,
            }
            for t in rows
        ]


def expiry(choice: str) -> float | None:
    """Seconds for one of EXPIRIES' labels (AdminError for anything else)."""
    for label, seconds in EXPIRIES:
        if choice == label:
            return seconds
    raise AdminError(f"{choice[:40]!r} is not an expiry this page offers")


def create_token(db: Db, user: str, label: str, expires_in: float | None) -> str:
    return auth.create_token(db, user, label, expires_in)


def revoke_token(db: Db, user: str, token_id: str, now: float | None = None) -> None:
    """Revoke one of the user's tokens by its id, and end the sessions opened with it."""
    if not TOKEN_ID.match(token_id):
        raise AdminError("no such token in your account")
    now = time.time() if now is None else now
    with db.begin():
        db.connection(execution_options=WRITE)
        digest = db.scalar(
            select(m.ApiToken.token_hash).where(
                m.ApiToken.user_name == user,
                m.ApiToken.revoked_at.is_(None),
                m.ApiToken.token_hash.startswith(token_id),
            )
        )
        if digest is None:
            raise AdminError("no such token in your account (revoked already?)")
        db.execute(update(m.ApiToken).where(m.ApiToken.token_hash == digest).values(revoked_at=now))
        db.execute(delete(m.WebSession).where(m.WebSession.token_hash == digest))
