"""roar's product telemetry: the upload endpoint, and the admin page that counts it.

POST /api/v1/telemetry/roar takes one allowlisted event (glaas.service.telemetry.TelemetryIn;
anything else is a 422). The counts (GET /api/v1/telemetry/roar/summary, and the page
/admin/telemetry) are for the registry's operators only: they answer when the server was
started with GLAAS_ADMIN_TOKEN set, to a request carrying that token (header
``Authorization: Bearer TOKEN``, or the ``glaas_admin`` cookie that ``/admin/telemetry?token=
TOKEN`` sets); without the setting they are 404, a wrong or missing token is 401.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session as Db

from glaas.service import telemetry

router = APIRouter()
COOKIE = "glaas_admin"
ADMIN_ENV = "GLAAS_ADMIN_TOKEN"


def get_db(request: Request) -> Iterator[Db]:
    with request.app.state.sessionmaker() as db:
        yield db


DbDep = Annotated[Db, Depends(get_db)]


def admin_token() -> str | None:
    """The operators' token (GLAAS_ADMIN_TOKEN), read from the server's environment."""
    return os.environ.get(ADMIN_ENV) or None


def require_admin(request: Request) -> None:
    expected = admin_token()
    if expected is None:
        raise HTTPException(404, "Not Found")  # the admin pages are off on this server
    given = request.cookies.get(COOKIE, "")
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401,
            "Admin token required: send `Authorization: Bearer TOKEN` with the server's "
            f"{ADMIN_ENV}, or open /admin/telemetry?token=TOKEN once in a browser.",
        )


AdminDep = Annotated[None, Depends(require_admin)]


@router.post("/api/v1/telemetry/roar", response_model=telemetry.TelemetryOut)
def upload(event: telemetry.TelemetryIn, db: DbDep) -> telemetry.TelemetryOut:
    return telemetry.store(db, event)


@router.get("/api/v1/telemetry/roar/summary")
def summary(_admin: AdminDep, db: DbDep) -> dict[str, Any]:
    return telemetry.summary(db)


@router.get("/admin/telemetry", response_class=HTMLResponse, include_in_schema=False)
def admin_page(request: Request, db: DbDep, token: str | None = None) -> Response:
    expected = admin_token()
    if (
        token is not None
        and expected is not None
        and hmac.compare_digest(token.encode(), expected.encode())
    ):  # log in once: the cookie, then the page without the token in its address
        login = RedirectResponse("/admin/telemetry", status_code=303)
        login.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return login
    require_admin(request)
    from glaas.web.routes import page  # jinja2 is in the server extra, like the other pages

    resp = page(request, "admin_telemetry.html", q="", s=telemetry.summary(db))
    resp.headers["Cache-Control"] = "no-store"
    return resp
