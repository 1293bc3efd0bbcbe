"""/api/v1/labels: read and set the labels of registered records (``roar label sync``), and
/api/v1/identify: the registry hashes a bundle's jobs and session would have, computed as
/register computes them, nothing stored (how roar finds its local session's registry hash)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session as Db

from glaas.schemas import Bundle
from glaas.service import labels
from glaas.service.identity import job_hashes, session_hash

router = APIRouter(prefix="/api/v1")


def get_db(request: Request) -> Iterator[Db]:
    with request.app.state.sessionmaker() as db:
        yield db


DbDep = Annotated[Db, Depends(get_db)]


@router.get("/labels/{kind}/{ref}")
def get_labels(kind: labels.Kind, ref: str, db: DbDep) -> dict[str, Any]:
    return labels.current(db, kind, ref)


@router.post("/labels", response_model=labels.LabelsOut)
def set_labels(body: labels.LabelsIn, db: DbDep) -> labels.LabelsOut:
    return labels.apply(db, body)


@router.post("/identify")
def identify(bundle: Bundle) -> dict[str, Any]:
    hashes = job_hashes(bundle)
    return {"session_hash": session_hash(hashes, bundle), "job_hashes": hashes}
