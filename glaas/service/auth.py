"""Who is asking, and what they may see: users, SSH keys, API tokens, projects (the admin
command's operations), the authentication of a request (a bearer token or an SSH signature,
with its nonce recorded once), and the viewer it makes: the grant scopes it can read.

Scopes a registration names: ``anonymous`` (public, attributed to "anonymous"), ``public``
(attributed), ``private`` (the user's own) and ``OWNER/PROJECT`` (a project's members). Each
becomes one grant scope on the records it registers: ``public``, ``user:NAME`` or
``project:OWNER/PROJECT``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas import signing
from glaas.db import WRITE

ANONYMOUS = "anonymous"
PUBLIC = "public"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
PROJECT = re.compile(r"^([a-z0-9][a-z0-9_.-]{0,63})/([a-z0-9][a-z0-9_.-]{0,63})$")
NONCE = re.compile(r"^[0-9a-zA-Z_-]{16,64}$")
TOKEN_PREFIX = "glaas_"


class AuthError(Exception):
    """The request's credentials are refused (401); the message says why and what to do."""


class Forbidden(Exception):
    """An authenticated user asked for a scope they cannot publish in."""


class AdminError(ValueError):
    """An admin command that cannot be done (a name taken, a user missing, a bad key)."""


@dataclass(frozen=True)
class Viewer:
    """The reader of a request: who, how they proved it, and the grant scopes they can see."""

    user: str = ANONYMOUS
    method: str | None = None  # "ssh" | "token" | None (anonymous)
    projects: tuple[str, ...] = ()
    key: str | None = None  # the SSH key's fingerprint, when signed
    scopes: tuple[str, ...] = field(default=(PUBLIC,))

    @property
    def authenticated(self) -> bool:
        return self.method is not None


ANONYMOUS_VIEWER = Viewer()


def grant_scope(viewer: Viewer, scope: str) -> tuple[str, str]:
    """(grant scope, registered_by) for a registration in ``scope`` by ``viewer``."""
    if scope == ANONYMOUS:
        return PUBLIC, ANONYMOUS
    if not viewer.authenticated:
        raise AuthError(
            f"publishing in scope {scope!r} needs an authenticated request: sign it with your "
            "registered SSH key (roar auth) or log in with a token (roar login --token-file)"
        )
    if scope == PUBLIC:
        return PUBLIC, viewer.user
    if scope == "private":
        return f"user:{viewer.user}", viewer.user
    if PROJECT.match(scope):
        if scope not in viewer.projects:
            raise Forbidden(
                f"{viewer.user} is not a member of a project {scope!r} on this server: ask its "
                "admin to add you (glaas-server admin add-member), or publish privately"
            )
        return f"project:{scope}", viewer.user
    raise Forbidden(f"scope {scope!r} is not anonymous, public, private or OWNER/PROJECT")


# ------------------------------------------------------------------ the admin's operations


def _check_name(name: str) -> str:
    if not NAME.match(name) or name == ANONYMOUS:
        raise AdminError(
            f"{name!r} is not a user name: 1-64 of a-z, 0-9, '_', '.', '-', not 'anonymous'"
        )
    return name


def create_user(db: Db, name: str) -> None:
    _check_name(name)
    with db.begin():
        db.connection(execution_options=WRITE)
        if db.get(m.User, name) is not None:
            raise AdminError(f"user {name!r} exists already")
        db.add(m.User(name=name, created_at=time.time()))


def users_check(db: Db, name: str) -> None:
    """AdminError when there is no user ``name``."""
    with db.begin():
        _user(db, name)


def _user(db: Db, name: str) -> m.User:
    user = db.get(m.User, name)
    if user is None:
        raise AdminError(f"no user {name!r}: create it first (glaas-server admin create-user)")
    return user


def add_key(db: Db, name: str, line: str, duplicate_ok: bool = True) -> str:
    """Register an OpenSSH public key line for ``name``; its fingerprint. The admin command
    may add a key twice (nothing changes); the account page refuses (``duplicate_ok=False``)."""
    try:
        key, comment = signing.read_public_line(line)
    except signing.BadKey as exc:
        raise AdminError(str(exc)) from None
    fp = signing.fingerprint(key)
    with db.begin():
        db.connection(execution_options=WRITE)
        _user(db, name)
        have = db.get(m.UserKey, fp)
        if have is not None:
            if have.user_name != name:
                raise AdminError(f"key {fp} belongs to another user already")
            if not duplicate_ok:
                raise AdminError(f"key {fp} is in your account already")
            return fp
        db.add(
            m.UserKey(
                fingerprint=fp,
                user_name=name,
                public_key=signing.public_line(key),
                comment=comment,
                created_at=time.time(),
            )
        )
    return fp


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


DURATION = re.compile(r"^\s*(\d{1,6})\s*([hdw])\s*$")
UNITS = {"h": 3600, "d": 86400, "w": 7 * 86400}
SHOWN = 10  # the token's first characters kept to tell tokens apart ("glaas_" and 4 more)
LAST_USED_STEP = 600.0  # a token's last use is written at most this often (seconds)


def parse_duration(text: str) -> float | None:
    """Seconds in ``12h``, ``30d`` or ``2w``; None for ``never``."""
    if text.strip().lower() == "never":
        return None
    found = DURATION.match(text.lower())
    if not found or int(found.group(1)) == 0:
        raise AdminError(f"{text!r} is not a duration: give hours, days or weeks (12h, 30d, 2w)")
    return int(found.group(1)) * UNITS[found.group(2)]


def create_token(
    db: Db, name: str, label: str | None = None, expires_in: float | None = None
) -> str:
    """A new API token for ``name``, named ``label``, good for ``expires_in`` seconds (None:
    until revoked): returned once, only its SHA-256 (and its first characters) are stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    label = (label or "").strip()[:100] or None
    now = time.time()
    with db.begin():
        db.connection(execution_options=WRITE)
        _user(db, name)
        db.add(
            m.ApiToken(
                token_hash=token_hash(token),
                user_name=name,
                created_at=now,
                name=label,
                prefix=token[:SHOWN],
                expires_at=None if expires_in is None else now + expires_in,
            )
        )
    return token


def revoke_tokens(db: Db, name: str) -> int:
    """Revoke every API token of ``name`` (and end the web sessions signed in with them): how
    many were still in force."""
    now = time.time()
    with db.begin():
        db.connection(execution_options=WRITE)
        _user(db, name)
        gone = db.execute(
            update(m.ApiToken)
            .where(m.ApiToken.user_name == name, m.ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        db.execute(delete(m.WebSession).where(m.WebSession.user_name == name))
        return int(getattr(gone, "rowcount", 0) or 0)


def create_project(db: Db, slug: str) -> None:
    if not PROJECT.match(slug):
        raise AdminError(f"{slug!r} is not OWNER/PROJECT (each 1-64 of a-z, 0-9, '_', '.', '-')")
    with db.begin():
        db.connection(execution_options=WRITE)
        if db.get(m.Project, slug) is not None:
            raise AdminError(f"project {slug!r} exists already")
        db.add(m.Project(slug=slug, created_at=time.time()))


def add_member(db: Db, slug: str, name: str) -> None:
    with db.begin():
        db.connection(execution_options=WRITE)
        if db.get(m.Project, slug) is None:
            raise AdminError(f"no project {slug!r}: create it first (admin create-project)")
        _user(db, name)
        if db.get(m.ProjectMember, (slug, name)) is None:
            db.add(m.ProjectMember(project=slug, user_name=name))


def users(db: Db) -> list[dict[str, Any]]:
    with db.begin():
        keys: dict[str, list[str]] = {}
        for k in db.scalars(select(m.UserKey).order_by(m.UserKey.fingerprint)):
            keys.setdefault(k.user_name, []).append(k.fingerprint)
        member: dict[str, list[str]] = {}
        for p in db.scalars(select(m.ProjectMember).order_by(m.ProjectMember.project)):
            member.setdefault(p.user_name, []).append(p.project)
        return [
            {"name": u.name, "keys": keys.get(u.name, []), "projects": member.get(u.name, [])}
            for u in db.scalars(select(m.User).order_by(m.User.name))
        ]


# ------------------------------------------------------------------ authenticating a request


def viewer_for(db: Db, user: str, method: str, key: str | None = None) -> Viewer:
    projects = tuple(
        sorted(db.scalars(select(m.ProjectMember.project).where(m.ProjectMember.user_name == user)))
    )
    scopes = (PUBLIC, f"user:{user}", *(f"project:{p}" for p in projects))
    return Viewer(user=user, method=method, projects=projects, key=key, scopes=scopes)


NEW_TOKEN = (
    "get a new one (the server's web UI, /account/tokens, or its admin: glaas-server admin "
    "create-token), then roar login --force --token-file FILE"
)


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def token_user(db: Db, token: str, now: float) -> m.ApiToken:
    """The token's row, when it is in force (inside the caller's transaction); AuthError
    saying why not: unknown, revoked, or expired."""
    row = db.get(m.ApiToken, token_hash(token))
    if row is None:
        raise AuthError(
            "this API token is not recognised by the server (mistyped, or made for another "
            f"server): {NEW_TOKEN}"
        )
    if row.revoked_at is not None:
        raise AuthError(f"this API token was revoked on {_when(row.revoked_at)}: {NEW_TOKEN}")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthError(f"this API token expired on {_when(row.expires_at)}: {NEW_TOKEN}")
    return row


def by_token(db: Db, token: str, now: float | None = None) -> Viewer:
    now = time.time() if now is None else now
    with db.begin():
        row = token_user(db, token, now)
        stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP
        user, digest = row.user_name, row.token_hash
        viewer = viewer_for(db, user, "token")
    if stale:
        _note_use(db, digest, now)
    return viewer


def _note_use(db: Db, digest: str, now: float) -> None:
    """Record a token's use (at most once per LAST_USED_STEP): a failure to write it (a busy
    database) does not fail the request."""
    try:
        with db.begin():
            db.connection(execution_options=WRITE)
            db.execute(
                update(m.ApiToken).where(m.ApiToken.token_hash == digest).values(last_used_at=now)
            )
    except OperationalError:
        pass


_purged = 0.0  # when this process last removed expired nonces


def by_signature(
    db: Db, headers: dict[str, str], method: str, target: str, body: bytes, now: float
) -> Viewer:
    """Check the four signature headers against the user's registered key, then record the
    nonce (a second use is refused: its row exists, in whichever server process)."""
    missing = [h for h in signing.HEADERS if not headers.get(h.lower())]
    if missing:
        raise AuthError(f"incomplete request signature: missing {', '.join(missing)}")
    fp, ts, nonce, sig = (headers[h.lower()] for h in signing.HEADERS)
    host = _signed_host(headers)
    try:
        when = int(ts)
    except ValueError:
        raise AuthError(f"{signing.TIMESTAMP} {ts!r} is not unix seconds") from None
    if abs(now - when) > signing.WINDOW:
        raise AuthError(
            f"stale request signature: its timestamp is {int(now - when)} s from the server's "
            f"clock (allowed: {signing.WINDOW} s); check this machine's clock and retry"
        )
    if not NONCE.match(nonce):
        raise AuthError(f"{signing.NONCE} must be 16-64 letters, digits, '-' or '_'")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(f"{signing.SIGNATURE} is not base64") from None
    with db.begin():
        row = db.get(m.UserKey, fp)
        if row is None:
            raise AuthError(
                f"SSH key {fp} is not registered with this server: show it with "
                "`roar auth register` and have it added to your account"
            )
        user = row.user_name
        key = signing.load_public(row.public_key)
    if not signing.verify(key, raw, signing.message(method, target, body, ts, nonce, host)):
        raise AuthError(
            f"the request's signature does not verify against key {fp} (the request was "
            "altered, sent to another host than the one signed, or signed with another key)"
        )
    _use_nonce(db, nonce, when + signing.WINDOW + 60, now)
    with db.begin():
        return viewer_for(db, user, "ssh", fp)


def _signed_host(headers: dict[str, str]) -> str | None:
    """The Host a v2 signature covers (None: a v1 signature, which covers no host)."""
    version = headers.get(signing.VERSION.lower())
    if version is None:
        return None
    if version != signing.PROTOCOL_V2:
        raise AuthError(
            f"{signing.VERSION} {version[:40]!r} is not a protocol this server knows "
            f"({signing.PROTOCOL_V2}): update roar, or the server"
        )
    host = headers.get("host")
    if not host:
        raise AuthError(f"a {signing.PROTOCOL_V2} request must carry the Host header it signs")
    return host


def _use_nonce(db: Db, nonce: str, expires_at: float, now: float) -> None:
    global _purged
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    try:
        with db.begin():
            db.connection(execution_options=WRITE)
            if now - _purged > 60:
                _purged = now
                db.execute(delete(m.AuthNonce).where(m.AuthNonce.expires_at < now))
            stmt = insert(m.AuthNonce).values(nonce=nonce, expires_at=expires_at)
            fresh = db.execute(stmt.on_conflict_do_nothing().returning(m.AuthNonce.nonce)).first()
    except IntegrityError:
        fresh = None
    if fresh is None:
        raise AuthError(
            "replayed request: this signature's nonce was used before; sign every request anew"
        )
