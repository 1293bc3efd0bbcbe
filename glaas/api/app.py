"""The FastAPI application: routes plus the service errors as HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from glaas.api.routes import router
from glaas.db import make_engine, make_sessionmaker
from glaas.service import Ambiguous, BadPrefix, NotFound
from glaas.settings import Settings


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="GLaaS", version="1", summary="The lineage registry for roar")
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    app.include_router(router)
    _web(app)
    _error_handlers(app)
    return app


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
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(Ambiguous)
    async def _ambiguous(_r: Request, exc: Ambiguous) -> JSONResponse:
        return JSONResponse(
            status_code=409, content={"detail": str(exc), "candidates": exc.candidates}
        )

    @app.exception_handler(BadPrefix)
    async def _bad_prefix(_r: Request, exc: BadPrefix) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})
