"""The account pages: sign in with an API token, the user's SSH keys (paste the line `roar auth
register` prints) and API tokens. Each route is one glaas.service.account call and a template.

Sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS), the server
keeping its SHA-256 (glaas.service.account). Every POST carries a CSRF token in the form: the
session's (derived from its id), or before signing in a random one that must equal the
sign-in cookie's (double submit). A POST without it is refused (403) and changes nothing.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session as Db
from starlette.concurrency import run_in_threadpool

from glaas import signing
from glaas.api import auth as api_auth
from glaas.service import account as svc
from glaas.service.auth import AdminError, AuthError, Viewer

router = APIRouter(include_in_schema=False)
COOKIE = "glaas_session"
SIGNIN_COOKIE = "glaas_signin"  # the sign-in form's CSRF token, before there is a session
MAX_FORM = 64 * 1024  # bytes: a key line or a token is far less
DONE = {  # what ?done= says after a redirect (fixed texts: nothing from the URL is shown)
    "key-added": "Key added. Check it: roar auth test.",
    "key-removed": "Key removed: requests signed with it are refused from now on.",
    "token-revoked": "Token revoked: requests with it are refused from now on.",
}
T = TypeVar("T")


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    from glaas.web.routes import page

    resp = page(request, name, status, q="", **context)
    resp.headers["Cache-Control"] = "no-store"  # a token shown once stays out of caches
    return resp


async def _db(request: Request, work: Callable[[Db], T]) -> T:
    def run() -> T:
        with request.app.state.sessionmaker() as db:
            return work(db)

    return await run_in_threadpool(run)


async def current_user(request: Request) -> svc.WebUser | None:
    """The signed-in user of this request's session cookie (also kept in request.state)."""
    if hasattr(request.state, "web_user"):
        return request.state.web_user  # type: ignore[no-any-return]
    sid = request.cookies.get(COOKIE)
    user = await _db(request, lambda db: svc.session_user(db, sid)) if sid else None
    request.state.web_user = user
    return user


async def web_viewer(request: Request) -> Viewer:
    """The viewer of a web page: the request's credentials when it carries some, else the
    signed-in user's session, else anonymous (as the API decides)."""
    has_credentials = "authorization" in request.headers or any(
        h.lower() in request.headers for h in signing.HEADERS
    )
    if has_credentials:
        return await api_auth.viewer(request)
    user = await current_user(request)
    if user is not None:
        return await _db(request, lambda db: svc.session_viewer(db, user))
    try:
        return await api_auth.viewer(request)
    except AuthError:  # a server without anonymous access: a person signs in first
        raise HTTPException(303, headers={"Location": "/account/sign-in"}) from None


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _forbidden(request: Request) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        403,
        message="This form's security token is missing or stale (the page was open too long, "
        "or the form came from another site): nothing was changed. Reload the page and submit "
        "it again.",
    )


async def _posted(request: Request) -> tuple[svc.WebUser | None, dict[str, str], Response | None]:
    """A signed-in POST's (user, form, None); or a response ending it: to sign in when there is
    no session, 403 when the CSRF token is missing or wrong."""
    user = await current_user(request)
    if user is None:
        return None, {}, _to("/account/sign-in")
    form = await _form(request)
    if not svc.same(form.get("csrf", ""), user.csrf):
        return user, form, _forbidden(request)
    if any("\x00" in value for value in form.values()):
        return user, form, _holds_nul(request)
    return user, form, None


def _holds_nul(request: Request) -> HTMLResponse:
    """No name, key, fingerprint or token id holds a NUL, and PostgreSQL's text refuses one
    (it was a 500 there)."""
    return _page(
        request,
        "error.html",
        422,
        message="A field of this form holds a NUL character (\\u0000), which no name, key or "
        "token can contain: nothing was changed. Check what was pasted and submit it again.",
    )


# ------------------------------------------------------------------------------ signing in


def _sign_in_page(request: Request, status: int = 200, error: str = "") -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    resp = _page(request, "account_signin.html", status, csrf=csrf, error=error)
    _cookie(request, resp, SIGNIN_COOKIE, csrf, 3600, path="/account")
    return resp


def _cookie(
    request: Request, resp: Response, name: str, value: str, max_age: int, path: str = "/"
) -> None:
    resp.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.get("/account/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request) -> Response:
    if await current_user(request) is not None:
        return _to("/account")
    return _sign_in_page(request)


@router.post("/account/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not svc.same(form.get("csrf", ""), expected):
        return _forbidden(request)
    token = form.get("token", "").strip()
    if not token:
        return _sign_in_page(request, 422, "Paste an API token to sign in.")
    try:
        sid, user = await _db(request, lambda db: svc.sign_in(db, token))
    except AuthError as exc:
        return _sign_in_page(request, 401, f"Not signed in: {exc}.")
    old = request.cookies.get(COOKIE)  # signing in again: the previous session ends
    if old:
        await _db(request, lambda db: svc.sign_out(db, old))
    resp = _to("/account/keys")
    _cookie(request, resp, COOKIE, sid, int(user.expires_at - time.time()))
    resp.delete_cookie(SIGNIN_COOKIE, path="/account")
    return resp


@router.post("/account/sign-out")
async def sign_out(request: Request) -> Response:
    user, _form_, refused = await _posted(request)
    if refused is not None:
        return refused
    sid = request.cookies.get(COOKIE)
    await _db(request, lambda db: svc.sign_out(db, sid))
    resp = _to("/")
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/account", response_class=HTMLResponse)
async def account_home(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _to("/account/sign-in")
    viewer = await _db(request, lambda db: svc.session_viewer(db, user))
    return _page(request, "account.html", me=user, projects=viewer.projects)


# ------------------------------------------------------------------------------ SSH keys


async def _keys_page(
    request: Request, user: svc.WebUser, status: int = 200, error: str = "", text: str = ""
) -> HTMLResponse:
    rows = await _db(request, lambda db: svc.keys(db, user.name))
    done = DONE.get(request.query_params.get("done", ""), "")
    return _page(
        request, "account_keys.html", status, me=user, keys=rows, error=error, text=text, done=done
    )


@router.get("/account/keys", response_class=HTMLResponse)
async def keys_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _to("/account/sign-in")
    return await _keys_page(request, user)


@router.post("/account/keys", response_class=HTMLResponse)
async def add_key(request: Request) -> Response:
    user, form, refused = await _posted(request)
    if refused is not None or user is None:
        return refused or _to("/account/sign-in")
    text = form.get("key", "")
    try:
        await _db(request, lambda db: svc.add_key(db, user.name, text))
    except AdminError as exc:
        shown = "" if "PRIVATE" in text.upper() else text[:16000]  # a private key is not echoed
        return await _keys_page(request, user, 422, f"Not added: {exc}.", shown)
    return _to("/account/keys?done=key-added")


@router.post("/account/keys/remove", response_class=HTMLResponse)
async def remove_key(request: Request) -> Response:
    user, form, refused = await _posted(request)
    if refused is not None or user is None:
        return refused or _to("/account/sign-in")
    fp = form.get("fingerprint", "")
    try:
        await _db(request, lambda db: svc.remove_key(db, user.name, fp))
    except AdminError as exc:
        return await _keys_page(request, user, 404, f"Not removed: {exc}.")
    return _to("/account/keys?done=key-removed")


# ------------------------------------------------------------------------------ API tokens


async def _tokens_page(
    request: Request, user: svc.WebUser, status: int = 200, error: str = "", new: str = ""
) -> HTMLResponse:
    rows = await _db(request, lambda db: svc.tokens(db, user.name))
    done = DONE.get(request.query_params.get("done", ""), "")
    return _page(
        request,
        "account_tokens.html",
        status,
        me=user,
        tokens=rows,
        expiries=[label for label, _ in svc.EXPIRIES],
        error=error,
        new=new,
        done=done,
    )


@router.get("/account/tokens", response_class=HTMLResponse)
async def tokens_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _to("/account/sign-in")
    return await _tokens_page(request, user)


@router.post("/account/tokens", response_class=HTMLResponse)
async def create_token(request: Request) -> Response:
    user, form, refused = await _posted(request)
    if refused is not None or user is None:
        return refused or _to("/account/sign-in")
    try:
        seconds = svc.expiry(form.get("expires", ""))
        label = form.get("name", "")
        token = await _db(request, lambda db: svc.create_token(db, user.name, label, seconds))
    except AdminError as exc:
        return await _tokens_page(request, user, 422, f"No token made: {exc}.")
    return await _tokens_page(request, user, new=token)


@router.post("/account/tokens/revoke", response_class=HTMLResponse)
async def revoke_token(request: Request) -> Response:
    user, form, refused = await _posted(request)
    if refused is not None or user is None:
        return refused or _to("/account/sign-in")
    token_id = form.get("id", "")
    try:
        await _db(request, lambda db: svc.revoke_token(db, user.name, token_id))
    except AdminError as exc:
        return await _tokens_page(request, user, 404, f"Not revoked: {exc}.")
    sid = request.cookies.get(COOKIE)
    if await _db(request, lambda db: svc.session_user(db, sid)) is None:
        # the token this browser signed in with: its session ended with it
        resp = _to("/account/sign-in")
        resp.delete_cookie(COOKIE, path="/")
        return resp
    return _to("/account/tokens?done=token-revoked")
