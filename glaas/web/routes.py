"""The web UI's pages: search, artifact, job, session (with the DAG viewer), the label
leaderboard, and the account pages (glaas.web.account). Each route is one or two glaas.service
calls and a template. A signed-in browser sees what its user's API requests would."""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session as Db

from glaas.service import Ambiguous, BadPrefix, NotFound, lookup, pages
from glaas.service import search as search_svc
from glaas.service.auth import Viewer
from glaas.web import account

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))  # autoescapes .html
templates.env.filters["utc"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
router = APIRouter(include_in_schema=False)
_HEX = re.compile(r"^[0-9a-fA-F]{8,64}$")

# Pages load only this server's files: no CDN, no inline script (the session's graph travels
# as a JSON data block, which is not run). The viewer compiles its Graphviz WebAssembly.
CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def viewer_dir() -> Path | None:
    """The DAG viewer's bundle (jupyter_ext/static, from ``make widget``), when built. Found
    without importing jupyter_ext, which needs the notebook extras."""
    spec = importlib.util.find_spec("jupyter_ext")
    for root in (spec.submodule_search_locations or []) if spec else []:
        static = Path(root) / "static"
        if (static / "dag_view.js").is_file() and (static / "dag_view.css").is_file():
            return static
    return None


def get_db(request: Request) -> Iterator[Db]:
    with request.app.state.sessionmaker() as db:
        yield db


DbDep = Annotated[Db, Depends(get_db)]
# A page's reader: its credentials, else the signed-in browser's session, else anonymous.
ViewerDep = Annotated[Viewer, Depends(account.web_viewer)]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("me", getattr(request.state, "web_user", None))  # the header's account
    resp = templates.TemplateResponse(request, name, context, status_code=status)
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


def problem(request: Request, exc: Exception, what: str) -> HTMLResponse:
    if isinstance(exc, Ambiguous):
        found = [("artifact" if what == "artifact" else what, c) for c in exc.candidates]
        return page(request, "choose.html", 409, q=str(exc), found=found, message=str(exc))
    status = 404 if isinstance(exc, NotFound) else 422
    return page(request, "error.html", status, message=str(exc), q="")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, db: DbDep, viewer: ViewerDep) -> Response:
    recent = search_svc.search(db, search_svc.Filters(), "job", 20, viewer=viewer)
    return page(request, "index.html", q="", recent=recent["results"])


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    db: DbDep,
    viewer: ViewerDep,
    q: str = "",
    command: str | None = None,
    file: str | None = None,
    ext: str | None = None,
    label: str | None = None,
    user: str | None = None,
    project: str | None = None,
    since: str | None = None,
    until: str | None = None,
    gpu: Literal["", "yes", "no"] = "",
    cursor: str | None = None,
) -> Response:
    """A hash (or prefix, or alias) goes straight to its page; anything else is a search."""
    q = q.strip()
    filters = search_svc.Filters(
        q=q or None,
        command=command or None,
        file=file or None,
        ext=ext or None,
        label=label or None,
        user=user or None,
        project=project or None,
        since=since or None,
        until=until or None,
        gpu={"yes": True, "no": False}.get(gpu),
    )
    only_q = q and not any((command, file, ext, label, user, project, since, until, gpu, cursor))
    if only_q and (_HEX.match(q) or ":" in q or len(q) >= 16):
        found = pages.resolve_any(db, q, viewer)
        if len(found) == 1:
            kind, full = found[0]
            return RedirectResponse(f"/{kind}s/{full}", status_code=303)
        if found:
            return page(request, "choose.html", q=q, found=found, message="")
    try:
        jobs = search_svc.search(db, filters, "job", 50, cursor, viewer)
        arts = (
            search_svc.search(db, search_svc.Filters(q=q), "artifact", 20, viewer=viewer)
            if only_q
            else {"results": []}
        )
    except BadPrefix as bad:
        return page(request, "error.html", 422, message=str(bad), q=q)
    params = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return page(
        request,
        "results.html",
        q=q,
        filters=params,
        jobs=jobs["results"],
        artifacts=arts["results"],
        next=jobs["next"],
    )


@router.get("/artifacts/{hash_or_prefix}", response_class=HTMLResponse)
def artifact_page(request: Request, db: DbDep, viewer: ViewerDep, hash_or_prefix: str) -> Response:
    try:
        art = lookup.artifact(db, hash_or_prefix, viewer)
    except (NotFound, Ambiguous, BadPrefix) as exc:
        return problem(request, exc, "artifact")
    if art["hash"] != hash_or_prefix:
        return RedirectResponse(f"/artifacts/{art['hash']}", status_code=303)
    return page(
        request,
        "artifact.html",
        q="",
        a=art,
        produced=pages.job_summaries(db, art["produced_by"]),
        consumed=pages.job_summaries(db, art["consumed_by"]),
        reproduce=f"roar reproduce {art['hash']}",
    )


@router.get("/jobs/{id_or_prefix}", response_class=HTMLResponse)
def job_page(request: Request, db: DbDep, viewer: ViewerDep, id_or_prefix: str) -> Response:
    try:
        job = lookup.job(db, id_or_prefix, viewer)
    except (NotFound, Ambiguous, BadPrefix) as exc:
        return problem(request, exc, "job")
    if job["job_hash"] != id_or_prefix:
        return RedirectResponse(f"/jobs/{job['job_hash']}", status_code=303)
    return page(request, "job.html", q="", j=job)


@router.get("/sessions/{hash_or_prefix}", response_class=HTMLResponse)
def session_page(request: Request, db: DbDep, viewer: ViewerDep, hash_or_prefix: str) -> Response:
    try:
        session = lookup.session(db, hash_or_prefix, viewer)
    except (NotFound, Ambiguous, BadPrefix) as exc:
        return problem(request, exc, "session")
    if session["session_hash"] != hash_or_prefix:
        return RedirectResponse(f"/sessions/{session['session_hash']}", status_code=303)
    return page(
        request,
        "session.html",
        q="",
        s=session,
        graph=pages.session_graph(db, session),
        viewer=viewer_dir() is not None,
    )


@router.get("/labels", response_class=HTMLResponse)
def labels_page(
    request: Request,
    db: DbDep,
    viewer: ViewerDep,
    key: Annotated[str, Query(max_length=200)] = "",
    order: Literal["desc", "asc"] = "desc",
) -> Response:
    keys = search_svc.label_keys(db, viewer)
    board = search_svc.leaderboard(db, key, order, viewer) if key else None
    return page(request, "labels.html", q="", keys=keys, key=key, order=order, board=board)


router.include_router(account.router)  # /account: sign in, SSH keys, API tokens
