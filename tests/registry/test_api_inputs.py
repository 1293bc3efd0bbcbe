"""Inputs the OpenAPI fuzzing (test_openapi_fuzz.py) found answered with a 500, now refused with
a 422 that names the field, on SQLite and on PostgreSQL; the largest value that fits still
registers."""

from __future__ import annotations

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
