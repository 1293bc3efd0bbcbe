"""roar's anonymous product telemetry: the allowlisted payload, storing it, counting it.

The payload model accepts exactly the seed's allowlist ("Product Telemetry" in
/work/shared/seeds/001_*.txt) and nothing else: any other field, any name outside the
allowlists, any free text, is a 422. roar/telemetry/allowlist.py holds the client's copy of the
same names; tests/telemetry/test_payload.py holds the two together.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as Db

from glaas import models as m
from glaas.db import WRITE

OS_FAMILIES = ("linux", "darwin", "windows", "freebsd", "other")
ARCHES = ("x86_64", "arm64", "x86", "arm", "ppc64le", "s390x", "riscv64", "other")
SHELLS = ("bash", "zsh", "fish", "sh", "dash", "ksh", "tcsh", "csh", "nu", "pwsh", "other")
INSTALLERS = ("pip", "uv", "pipx", "conda", "poetry", "editable", "other", "unknown")
COMMANDS = (
    # roar's verbs (roar/cli/commands/__init__.py), the ones announced by issue 17/18, and
    # "other" for a verb newer than this list (the client never sends a name it does not know).
    "init", "run", "build", "log", "status", "dag", "show", "lineage", "diff", "inputs",
    "reproduce", "register", "make", "workflow", "pop", "reset", "session", "label", "config",
    "env", "tracer", "kernel", "telemetry", "get", "put", "auth", "login", "logout", "scope",
    "other",
)  # fmt: skip
OUTCOMES = ("run_success", "run_failure", "build_success", "build_failure")
TRACERS = ("default", "auto", "ebpf", "preload", "ptrace")
FEATURES = ("rust_extension", "glaas_configured", "ebpf_ready", "preload_ready", "ptrace_ready")
KINDS = {"command": COMMANDS, "outcome": OUTCOMES, "tracer": TRACERS}

Uuid = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
Day = Annotated[str, Field(pattern=r"^20[0-9]{2}-[01][0-9]-[0-3][0-9]$")]  # coarse: a UTC date
Count = Annotated[int, Field(ge=0, le=1_000_000)]


class TelemetryIn(BaseModel):
    """One upload: exactly the allowlisted fields (extra fields: 422)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    install_id: Uuid  # random, made once by the client
    event_id: Uuid  # the same event uploaded again is stored once
    sequence: Annotated[int, Field(ge=0, le=2**31 - 1)]
    period_start: Day
    period_end: Day
    roar_version: Annotated[str, Field(pattern=r"^[0-9A-Za-z.+-]{1,40}$")]
    os: Literal[OS_FAMILIES]  # type: ignore[valid-type]
    arch: Literal[ARCHES]  # type: ignore[valid-type]
    python: Annotated[str, Field(pattern=r"^3\.[0-9]{1,2}$")]
    shell: Literal[SHELLS]  # type: ignore[valid-type]
    installer: Literal[INSTALLERS]  # type: ignore[valid-type]
    containerized: bool
    commands: dict[Literal[COMMANDS], Count]  # type: ignore[valid-type]
    outcomes: dict[Literal[OUTCOMES], Count]  # type: ignore[valid-type]
    tracers: dict[Literal[TRACERS], Count]  # type: ignore[valid-type]
    features: dict[Literal[FEATURES], bool]  # type: ignore[valid-type]


class TelemetryOut(BaseModel):
    stored: bool  # False: this (install_id, event_id) was stored before


def store(db: Db, event: TelemetryIn) -> TelemetryOut:
    """Insert the event and its counters, once per (install_id, event_id)."""
    try:
        return _store(db, event)
    except IntegrityError:  # the same event, uploaded twice at once: the other one stored it
        return TelemetryOut(stored=False)


def _store(db: Db, event: TelemetryIn) -> TelemetryOut:
    with db.begin():
        db.connection(execution_options=WRITE)
        seen = db.scalar(
            select(m.TelemetryEvent.id).where(
                m.TelemetryEvent.install_id == event.install_id,
                m.TelemetryEvent.event_id == event.event_id,
            )
        )
        if seen is not None:
            return TelemetryOut(stored=False)
        row = m.TelemetryEvent(
            **event.model_dump(exclude={"commands", "outcomes", "tracers", "features"}),
            received_at=time.time(),
        )
        db.add(row)
        db.flush()
        counters: list[tuple[str, str, int]] = [
            *(("command", k, v) for k, v in event.commands.items()),
            *(("outcome", k, v) for k, v in event.outcomes.items()),
            *(("tracer", k, v) for k, v in event.tracers.items()),
            *(("feature", k, int(v)) for k, v in event.features.items()),
        ]
        db.add_all(
            m.TelemetryCounter(event=row.id, kind=kind, name=name, count=count)
            for kind, name, count in counters
        )
    return TelemetryOut(stored=True)


def summary(db: Db) -> dict[str, Any]:
    """What the admin page shows: events and installs, counters summed by kind and name,
    installs per version, per OS/arch, per Python, shell, installer and container."""
    events = db.scalar(select(func.count()).select_from(m.TelemetryEvent)) or 0
    installs = db.scalar(select(func.count(func.distinct(m.TelemetryEvent.install_id)))) or 0
    counters: dict[str, dict[str, int]] = {kind: {} for kind in ("command", "outcome", "tracer")}
    features: dict[str, int] = {}  # installs reporting the capability
    rows = db.execute(
        select(m.TelemetryCounter.kind, m.TelemetryCounter.name, func.sum(m.TelemetryCounter.count))
        .where(m.TelemetryCounter.kind != "feature")
        .group_by(m.TelemetryCounter.kind, m.TelemetryCounter.name)
    )
    for kind, name, total in rows:
        counters.setdefault(kind, {})[name] = int(total or 0)
    feature_rows = db.execute(
        select(m.TelemetryCounter.name, func.count(func.distinct(m.TelemetryEvent.install_id)))
        .join(m.TelemetryEvent, m.TelemetryEvent.id == m.TelemetryCounter.event)
        .where(m.TelemetryCounter.kind == "feature", m.TelemetryCounter.count > 0)
        .group_by(m.TelemetryCounter.name)
    )
    for name, n in feature_rows:
        features[name] = int(n)
    out: dict[str, Any] = {
        "events": int(events),
        "installs": int(installs),
        "commands": _sorted(counters["command"]),
        "outcomes": _sorted(counters["outcome"]),
        "tracers": _sorted(counters["tracer"]),
        "features": _sorted(features),
    }
    for column in ("roar_version", "os", "arch", "python", "shell", "installer", "containerized"):
        col = getattr(m.TelemetryEvent, column)
        by = db.execute(
            select(col, func.count(func.distinct(m.TelemetryEvent.install_id))).group_by(col)
        )
        out[f"installs_by_{column}"] = _sorted({str(v).lower(): int(n) for v, n in by})
    platform = db.execute(
        select(
            m.TelemetryEvent.os,
            m.TelemetryEvent.arch,
            func.count(func.distinct(m.TelemetryEvent.install_id)),
        ).group_by(m.TelemetryEvent.os, m.TelemetryEvent.arch)
    )
    out["installs_by_platform"] = _sorted({f"{o}/{a}": int(n) for o, a, n in platform})
    return out


def _sorted(counts: dict[str, int]) -> dict[str, int]:
    """Largest first, then by name: the page's and the JSON's order."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
