"""The request's viewer, as a FastAPI dependency: a bearer token, an SSH signature (checked
against the user's registered keys, its nonce recorded once), or nobody ("anonymous", when the
server serves anonymous requests). The service layer gets the Viewer and filters by it."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from glaas import signing
from glaas.service import auth
from glaas.service.auth import ANONYMOUS_VIEWER, AuthError, Viewer


def _target(request: Request) -> str:
    """The request target exactly as the client sent and signed it (path, then query)."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"")
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


# The signature's header names as ASGI gives them (lower case bytes).
_SIGNED = frozenset(h.lower().encode("latin-1") for h in signing.HEADERS)


async def viewer(request: Request) -> Viewer:
    # One look at the raw header names first: most requests carry no credentials, and asking
    # Starlette's Headers for each name decoded the list again each time (~7 % of a lookup).
    names = {name for name, _ in request.scope["headers"]}
    header = request.headers.get("authorization") if b"authorization" in names else None
    signed = not _SIGNED.isdisjoint(names)
    make = request.app.state.sessionmaker
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")

        def by_token() -> Viewer:
            with make() as db:
                return auth.by_token(db, token.strip())

        return await run_in_threadpool(by_token)
    if signed:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        target, method, now = _target(request), request.method, time.time()

        def by_signature() -> Viewer:
            with make() as db:
                return auth.by_signature(db, headers, method, target, body, now)

        return await run_in_threadpool(by_signature)
    if not request.app.state.allow_anonymous:
        raise AuthError(
            "this server does not serve anonymous requests: sign them with your registered SSH "
            "key (roar auth) or log in with a token (roar login --token-file)"
        )
    return ANONYMOUS_VIEWER


ViewerDep = Annotated[Viewer, Depends(viewer)]
