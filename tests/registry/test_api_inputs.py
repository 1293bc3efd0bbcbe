"""Inputs that got a 500 from the registry, now refused with a 422 that says why, on SQLite and
on PostgreSQL. Schemathesis (test_openapi_fuzz.py) found the numbers too large for their
columns; probing the same ground by hand found NUL characters (PostgreSQL's text refuses them)
and NaN/Infinity (not JSON; SQLite stores NaN as NULL; FastAPI could not even echo them back).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.registry.synth import chain, window


@pytest.mark.parametrize(
    ("where", "field", "too_big", "fits"),
    [
        ("artifacts", "size", 2**63, 2**63 - 1),  # BIGINT
        ("jobs", "step_number", 2**31, 2**31 - 1),  # INTEGER
        ("jobs", "exit_code", -(2**31) - 1, -(2**31)),
    ],
)
def test_a_number_too_large_for_its_column_is_a_422(server, where, field, too_big, fits):
    bundle = window(chain(1), 0, 1)
    bundle[where][0][field] = too_big
    status, out = server.post("/api/v1/register", bundle)
    assert status == 422, out
    assert any(field in err["loc"] for err in out["detail"]), out
    bundle[where][0][field] = fits
    registered = server.register(bundle)
    if where == "artifacts":
        art = bundle["artifacts"][0]["hash"]
        assert server.get(f"/api/v1/artifacts/{art}")[1]["size"] == fits
    else:
        job = next(iter(registered["job_hashes"].values()))
        assert server.get(f"/api/v1/jobs/{job}")[1][field] == fits


def post_raw(server, bundle) -> tuple[int, Any]:
    """POST with Python's json, which writes NaN and Infinity as the client's bad JSON would."""
    req = urllib.request.Request(
        server.base + "/api/v1/register", data=json.dumps(bundle).encode(), method="POST"
    )
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda b: b["jobs"][0].update(command="a\x00b"), "NUL character"),
        (lambda b: b["edges"][0].update(path="data\x00.csv"), "NUL character"),
        (lambda b: b["jobs"][0].update(metadata={"k\x00": 1}), "NUL character"),
        (lambda b: b["jobs"][0].update(duration_seconds=float("nan")), "not finite"),
        (lambda b: b["jobs"][0].update(metadata={"x": float("inf")}), "not finite"),
        (
            lambda b: b.update(
                labels=[{"target_kind": "session", "key": "k", "value": "v", "set_at": math.nan}]
            ),
            "not finite",
        ),
    ],
    ids=[
        "nul-command",
        "nul-path",
        "nul-metadata-key",
        "nan-duration",
        "inf-metadata",
        "nan-set-at",
    ],
)
def test_what_no_column_can_store_is_a_422(server, change, words):
    """PostgreSQL's text refuses NUL, SQLite stores NaN as NULL, JSON has no Infinity: each was
    a 500 (on one database or both); now a 422 saying why, and nothing registered."""
    parts = chain(1)
    bundle = window(parts, 0, 1)
    change(bundle)
    status, out = post_raw(server, bundle)
    assert status == 422, out
    assert words in json.dumps(out), out
    art = parts["artifacts"][0]["hash"]
    assert server.get(f"/api/v1/artifacts/{art}")[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/search?q=%00",
        "/api/v1/search?label=key%3D%00",
        "/api/v1/search?file=a%00b",
        "/api/v1/artifacts/%00%00%00%00%00%00%00%00",
        "/api/v1/jobs/%00%00%00%00%00%00%00%00",
        "/?q=%00",
    ],
)
def test_a_nul_in_a_path_or_query_is_a_422(server, path):
    """Each of the API ones was a 500 on PostgreSQL; the web pages are guarded the same way."""
    status, out = server.get(path)
    assert status == 422, out
    assert "NUL character" in out["detail"]


@pytest.mark.parametrize(
    ("field", "width"),
    [
        ("started_at", 40),
        ("ended_at", 40),
        ("tracer", 32),
        ("git.commit", 64),
        ("git.diff_hash", 64),
    ],
)
def test_a_text_wider_than_its_column_is_a_422(server, field, width):
    """PostgreSQL enforces VARCHAR widths (schemathesis found a 41-character ended_at as a 500
    there); SQLite does not. The bundle's own limits now match the columns on both."""
    bundle = window(chain(1), 0, 1)
    job = bundle["jobs"][0]
    target, key = (
        (job.setdefault("git", {}), field[4:]) if field.startswith("git.") else (job, field)
    )
    target[key] = "x" * (width + 1)
    status, out = server.post("/api/v1/register", bundle)
    assert status == 422, out
    assert key in json.dumps([err["loc"] for err in out["detail"]])
    target[key] = "x" * width
    assert server.register(bundle)["jobs"] == 1


@pytest.mark.parametrize("field", ["target", "key", "value"])
def test_a_nul_in_a_label_change_is_a_422(server, field):
    """A label change's texts go to the same columns as a bundle's: a NUL was a 500 on
    PostgreSQL (schemathesis over POST /api/v1/labels)."""
    out = server.register(window(chain(1), 0, 1))
    job = next(iter(out["job_hashes"].values()))
    change = {"target_kind": "job", "target": job, "key": "stage", "value": "prod"}
    change[field] = change[field][:3] + "\x00"
    status, body = server.post("/api/v1/labels", {"changes": [change]})
    assert status == 422, body
    assert "NUL character" in json.dumps(body), body
    assert server.get(f"/api/v1/jobs/{job}")[1]["labels"]["history"] == []
