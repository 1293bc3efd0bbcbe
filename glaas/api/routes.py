"""/api/v1: register and look up lineage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session as Db

from glaas.api.auth import ViewerDep
from glaas.schemas import Bundle, RegisterOut, SearchOut
from glaas.service import lineage as lineage_svc
from glaas.service import lookup, register
from glaas.service import search as search_svc

router = APIRouter(prefix="/api/v1")


def get_db(request: Request) -> Iterator[Db]:
    with request.app.state.sessionmaker() as db:
        yield db


DbDep = Annotated[Db, Depends(get_db)]


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/whoami")
def whoami(viewer: ViewerDep) -> dict[str, Any]:
    """Who the request authenticates as, how, and the scopes it can publish in."""
    return {
        "user": viewer.user,
        "authenticated": viewer.authenticated,
        "method": viewer.method,
        "key": viewer.key,
        "projects": list(viewer.projects),
        "scopes": [
            "anonymous",
            *(["public", "private", *viewer.projects] if viewer.method else []),
        ],
    }


# The viewer (glaas.api.auth) is who registers: the bundle's own registered_by is not trusted.
@router.post("/register", response_model=RegisterOut)
def register_bundle(
    bundle: Bundle,
    db: DbDep,
    viewer: ViewerDep,
    scope: Annotated[
        str, Query(max_length=140, description="anonymous, public, private or OWNER/PROJECT")
    ] = "anonymous",
) -> RegisterOut:
    return register.register(db, bundle, viewer, scope)


# The lookups answer their documents as they are (plain JSON types from the database), not
# re-validated against `dict[str, Any]` and re-encoded by FastAPI: half of a lookup's CPU.
# response_model keeps their OpenAPI description. They open their database session themselves:
# the DbDep generator costs two more hops to the thread pool (enter, exit) per request.
@router.get("/artifacts/{hash_or_prefix}", response_model=dict[str, Any])
def get_artifact(hash_or_prefix: str, request: Request, viewer: ViewerDep) -> JSONResponse:
    with request.app.state.sessionmaker() as db:
        return JSONResponse(lookup.artifact(db, hash_or_prefix, viewer))


@router.get("/artifacts/{hash_or_prefix}/lineage")
def get_lineage(
    hash_or_prefix: str,
    db: DbDep,
    viewer: ViewerDep,
    direction: lineage_svc.Direction = "up",
    depth: Annotated[int, Query(ge=1, le=lineage_svc.MAX_DEPTH)] = 50,
) -> dict[str, Any]:
    return lineage_svc.lineage(db, hash_or_prefix, direction, depth, viewer)


@router.get("/artifacts/{hash_or_prefix}/recipe")
def get_recipe(hash_or_prefix: str, db: DbDep, viewer: ViewerDep) -> dict[str, Any]:
    return lineage_svc.recipe(db, hash_or_prefix, viewer)


@router.get("/jobs/{id_or_prefix}", response_model=dict[str, Any])
def get_job(id_or_prefix: str, request: Request, viewer: ViewerDep) -> JSONResponse:
    with request.app.state.sessionmaker() as db:
        return JSONResponse(lookup.job(db, id_or_prefix, viewer))


@router.get("/sessions/{hash_or_prefix}", response_model=dict[str, Any])
def get_session(hash_or_prefix: str, request: Request, viewer: ViewerDep) -> JSONResponse:
    with request.app.state.sessionmaker() as db:
        return JSONResponse(lookup.session(db, hash_or_prefix, viewer))


@router.get("/search", response_model=SearchOut)
def search(
    db: DbDep,
    viewer: ViewerDep,
    q: Annotated[str | None, Query(description="a command, a file name or a hash prefix")] = None,
    command: Annotated[str | None, Query(description="text in the command")] = None,
    file: Annotated[str | None, Query(description="a file name the job read or wrote")] = None,
    ext: Annotated[str | None, Query(description="a file extension (csv or .csv)")] = None,
    label: Annotated[str | None, Query(description="key=value, a label's current value")] = None,
    gpu: Annotated[bool | None, Query(description="ran on a host with a GPU")] = None,
    user: Annotated[str | None, Query(description="who registered it")] = None,
    project: Annotated[str | None, Query(description="part of the git remote")] = None,
    since: Annotated[str | None, Query(description="started at or after (ISO 8601)")] = None,
    until: Annotated[str | None, Query(description="started before (ISO 8601)")] = None,
    kind: search_svc.Kind = "job",
    limit: Annotated[int, Query(ge=1, le=search_svc.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(description="`next` of the previous page")] = None,
) -> dict[str, Any]:
    filters = search_svc.Filters(
        q=q,
        command=command,
        file=file,
        ext=ext,
        label=label,
        gpu=gpu,
        user=user,
        project=project,
        since=since,
        until=until,
    )
    return search_svc.search(db, filters, kind, limit, cursor, viewer)
