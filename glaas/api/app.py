"""The FastAPI application: routes plus the service errors as HTTP answers."""

from __future__ import annotations

import inspect
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.types import ASGIApp, Receive, Scope, Send

from glaas.api import auth as api_auth
from glaas.api import balance
from glaas.api.label_routes import router as label_router
from glaas.api.routes import router
from glaas.api.telemetry_routes import router as telemetry_router
from glaas.db import make_engine, make_sessionmaker
from glaas.service import Ambiguous, BadPrefix, NotFound, lookup
from glaas.service.auth import AuthError, Forbidden
from glaas.service.pg_lookups import PgLookups
from glaas.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(
        title="GLaaS",
        version="1",
        summary="The lineage registry for roar",
        **_telemetry(settings.otel),
    )
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.state.pg_lookups = pg_lookups(app.state.engine)
    app.state.sqlite_reader = lookup.KeptReader(app.state.engine)
    app.router.on_shutdown.append(app.state.sqlite_reader.close)
    app.state.allow_anonymous = settings.allow_anonymous
    app.include_router(router)
    app.include_router(telemetry_router)
    app.include_router(label_router)
    _web(app)
    _error_handlers(app)
    app.add_middleware(Lookups)
    app.add_middleware(RefuseNul)
    balance.install(app)  # several processes: their connections spread evenly
    return app


def pg_lookups(engine: Engine) -> PgLookups | None:
    """On PostgreSQL, the lookups' own pipelined connections to the engine's database
    (LOOKUP_CONNECTIONS of them a process), answering on the event loop."""
    if engine.dialect.name != "postgresql":
        return None
    _, connect = engine.dialect.create_connect_args(engine.url)
    args = {k: v for k, v in connect.items() if k != "context"}  # SQLAlchemy's adapters
    return PgLookups(args, LOOKUP_CONNECTIONS)


def _telemetry(on: bool) -> dict[str, Any]:
    """FastAPI's keyword for its own OpenTelemetry (since 0.165), off unless ``on``; nothing
    for an older FastAPI, which has none."""
    if on or "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def app_from_env() -> FastAPI:
    """The app with settings from the environment: the factory each server process calls when
    glaas-server runs several (uvicorn imports it by name in every worker it starts)."""
    return create_app(Settings.from_env())


def _web(app: FastAPI) -> None:
    """The web UI at /, its files at /static, and the DAG viewer's bundle at /viewer when it is
    built (make widget). Without Jinja2 (not installed) the API still serves."""
    try:
        from glaas.web import routes as web
    except ImportError:  # pragma: no cover - jinja2 is in the server extra
        return
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    viewer = web.viewer_dir()
    if viewer is not None:
        app.mount("/viewer", StaticFiles(directory=viewer), name="viewer")


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def _not_found(_r: Request, exc: NotFound) -> JSONResponse:
        return not_found(exc)

    @app.exception_handler(Ambiguous)
    async def _ambiguous(_r: Request, exc: Ambiguous) -> JSONResponse:
        return ambiguous(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's 422, except that a NaN or Infinity the client sent, echoed back in an
        error's `input`, is written as text (JSON has no such number; it was a 500)."""
        return JSONResponse(
            status_code=422, content={"detail": _finite(jsonable_encoder(exc.errors()))}
        )

    @app.exception_handler(AuthError)
    async def _unauthenticated(_r: Request, exc: AuthError) -> JSONResponse:
        return unauthenticated(exc)

    @app.exception_handler(Forbidden)
    async def _forbidden(_r: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse(status_code=403, content={"detail": str(exc)})

    @app.exception_handler(BadPrefix)
    async def _bad_prefix(_r: Request, exc: BadPrefix) -> JSONResponse:
        return bad_prefix(exc)


def not_found(exc: NotFound) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": str(exc)})


def ambiguous(exc: Ambiguous) -> JSONResponse:
    return JSONResponse(status_code=409, content={"detail": str(exc), "candidates": exc.candidates})


def unauthenticated(exc: AuthError) -> JSONResponse:
    return JSONResponse(
        status_code=401,
        content={"detail": str(exc)},
        headers={"WWW-Authenticate": 'Bearer realm="glaas", GLaaS-SSH'},
    )


def bad_prefix(exc: BadPrefix) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": str(exc)})


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


NUL_DETAIL = (
    "the request's path or query holds a NUL character (%00), which no hash, uid, name or text "
    "in the registry can contain"
)


class RefuseNul:
    """A NUL in a path or query parameter is refused before it reaches a query: PostgreSQL's
    text cannot hold one (it would be a 500), for the API and the web pages alike. A plain ASGI
    middleware: one look at the scope, nothing in the way of the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")
        ):
            await JSONResponse(status_code=422, content={"detail": NUL_DETAIL})(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


# GET /api/v1/<kind>/<key> -> the kind of document that answers it
LOOKUPS = {"artifacts": "artifact", "jobs": "job", "sessions": "session"}
# A process's connections for its PostgreSQL lookups, each pipelined (glaas.service.pg_lookups):
# one backend kept busy beats several taking turns on the same cores; more processes
# (--workers) bring more.
LOOKUP_CONNECTIONS = 1
JSON_HEADERS = [(b"content-type", b"application/json")]


class Lookups:
    """The hash lookups (GET /api/v1/artifacts|jobs|sessions/{key}), the registry's hot path,
    answered here without FastAPI's routing, dependency solving and response handling: the
    viewer as the API's dependency makes it (glaas.api.auth.viewer), the document sent as JSON
    bytes.

    On SQLite the document is read on the event loop itself (lookup.document_json): a handful
    of indexed reads of a local file (WAL: never waiting on a writer), whose hop to the thread
    pool cost more than the read (~0.3 ms of CPU a lookup, GIL hand-offs). On PostgreSQL it is
    one statement awaited on the loop (glaas.service.pg_lookups), the database's own JSON text
    sent untouched.
    Same answers, errors and visibility as the routes in glaas.api.routes, which stay for the
    OpenAPI document (and serve if this is taken away). Anything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root + "/"):
                path = path[len(root) :]
            parts = path.split("/")
            if len(parts) == 5 and parts[1:3] == ["api", "v1"] and parts[3] in LOOKUPS:
                if parts[4]:
                    await self.lookup(scope, receive, send, LOOKUPS[parts[3]], parts[4])
                    return
        await self.app(scope, receive, send)

    async def lookup(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        kind: str,
        key: str,
    ) -> None:
        request = Request(scope, receive)
        state = request.app.state
        try:
            viewer = await api_auth.viewer(request)
            if state.pg_lookups is not None:
                body = await state.pg_lookups.document(kind, key, viewer.scopes)
            else:
                with state.sqlite_reader() as reader:
                    body = lookup.document_json(kind, reader, key, viewer)
        except AuthError as exc:
            await unauthenticated(exc)(scope, receive, send)
        except NotFound as exc:
            await not_found(exc)(scope, receive, send)
        except Ambiguous as exc:
            await ambiguous(exc)(scope, receive, send)
        except BadPrefix as exc:
            await bad_prefix(exc)(scope, receive, send)
        else:
            headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
