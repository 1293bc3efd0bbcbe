"""/api/v1/labels: read and set the labels of registered records (``roar label sync``), and
/api/v1/identify: the registry hashes a bundle's jobs and session would have, computed as
/register computes them, nothing stored (how roar finds its local session's registry hash)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session as Db

from glaas.api.auth import ViewerDep
from glaas.schemas import Bundle
from glaas.service import labels
from glaas.service.identity import job_hashes, session_hash

router = APIRouter(prefix="/api/v1")


def get_db(request: Request) -> Iterator[Db]:
    with request.app.state.sessionmaker() as db:
        yield db


DbDep = Annotated[Db, Depends(get_db)]


ScopeQuery = Annotated[
    str | None, Query(max_length=140, description="anonymous, public, private or OWNER/PROJECT")
]


@router.get("/labels/{kind}/{ref}")
def get_labels(
    kind: labels.Kind, ref: str, db: DbDep, viewer: ViewerDep, scope: ScopeQuery = None
) -> dict[str, Any]:
    return labels.current(db, kind, ref, viewer, scope)


# As /register: the viewer (glaas.api.auth) sets them, in the scope the query names.
@router.post("/labels", response_model=labels.LabelsOut)
def set_labels(
    body: labels.LabelsIn, db: DbDep, viewer: ViewerDep, scope: ScopeQuery = "anonymous"
) -> labels.LabelsOut:
    return labels.apply(db, body, viewer, scope or "anonymous")


@router.post("/identify")
def identify(bundle: Bundle) -> dict[str, Any]:
    hashes = job_hashes(bundle)
    return {"session_hash": session_hash(hashes, bundle), "job_hashes": hashes}
