"""Looking lineage up: by hash, prefix, alias and uid; traversal with a depth; the recipe."""

from __future__ import annotations

from pathlib import Path

from tests.registry.synth import chain, h, window


def by_path(bundle, name):
    return next(e["artifact"] for e in bundle["edges"] if Path(e["path"]).name == name)


def test_artifact_by_hash_prefix_and_alias(server, pipeline_bundle):
    server.register(pipeline_bundle)
    model = by_path(pipeline_bundle, "model.bin")
    for key in (model, model[:8], model[:20].upper()):
        status, out = server.get(f"/api/v1/artifacts/{key}")
        assert status == 200 and out["hash"] == model, (key, out)
    assert len(out["produced_by"]) == 1 and len(out["consumed_by"]) == 1
    bundle = window(chain(1), 0, 1)
    bundle["artifacts"][0]["aliases"] = [
        {"algorithm": "sha256", "digest": h("alias", bundle["artifacts"][0]["hash"])}
    ]
    server.register(bundle)
    digest = bundle["artifacts"][0]["aliases"][0]["digest"]
    assert server.get(f"/api/v1/artifacts/{digest}")[1]["hash"] == bundle["artifacts"][0]["hash"]


def test_job_by_hash_prefix_and_uid(server, pipeline_bundle):
    out = server.register(pipeline_bundle)
    uid, job_hash = next(iter(out["job_hashes"].items()))
    for key in (job_hash, job_hash[:10], uid):
        status, job = server.get(f"/api/v1/jobs/{key}")
        assert status == 200 and job["job_hash"] == job_hash and job["uid"] == uid
    assert out["session_hash"] in job["sessions"]


def test_session_by_prefix(server, pipeline_bundle):
    out = server.register(pipeline_bundle)
    status, session = server.get(f"/api/v1/sessions/{out['session_hash'][:12]}")
    assert status == 200 and session["session_hash"] == out["session_hash"]


def test_ambiguous_prefix_is_a_409_with_the_candidates(server):
    parts = chain(2)
    prefix = "abcdef01" + parts["salt"][:4]
    for i, art in enumerate(parts["artifacts"]):  # force three artifacts onto one prefix
        new = prefix + art["hash"][len(prefix) :]
        for e in parts["edges"]:
            if e["artifact"] == art["hash"]:
                e["artifact"] = new
        parts["artifacts"][i] = {**art, "hash": new}
    server.register(window(parts, 0, 2))
    status, out = server.get(f"/api/v1/artifacts/{prefix}")
    assert status == 409
    assert sorted(out["candidates"]) == sorted(a["hash"] for a in parts["artifacts"])
    assert "matches 3 artifacts: give more digits" in out["detail"]


def test_unknown_and_malformed_keys(server):
    status, out = server.get("/api/v1/artifacts/00000000deadbeef")
    assert status == 404 and "no artifact in this registry matches" in out["detail"]
    assert server.get("/api/v1/jobs/ffffffff0000")[0] == 404
    assert server.get("/api/v1/sessions/ffffffff0000")[0] == 404
    for bad in ("abc", "not-hex-at-all", "g" * 10):
        status, out = server.get(f"/api/v1/artifacts/{bad}")
        assert status == 422 and "prefix" in out["detail"]


def test_traversal_honours_direction_and_depth(server):
    parts = chain(5)
    server.register(window(parts, 0, 5))
    last, first = parts["artifacts"][-1]["hash"], parts["artifacts"][0]["hash"]

    def jobs(art, direction, depth):
        status, out = server.get(
            f"/api/v1/artifacts/{art}/lineage?direction={direction}&depth={depth}"
        )
        assert status == 200, out
        return [j["command"] for j in out["jobs"]], len(out["artifacts"])

    assert jobs(last, "up", 1) == (["step 4"], 2)
    assert jobs(last, "up", 3) == (["step 2", "step 3", "step 4"], 4)
    assert jobs(last, "up", 50) == ([f"step {i}" for i in range(5)], 6)
    assert jobs(first, "down", 2) == (["step 0", "step 1"], 3)
    assert jobs(first, "up", 5) == ([], 1)
    assert server.get(f"/api/v1/artifacts/{last}/lineage?depth=0")[0] == 422


def test_recipe_lists_steps_in_dependency_order_and_the_sources(server, pipeline, pipeline_bundle):
    server.register(pipeline_bundle)
    metrics = by_path(pipeline_bundle, "metrics.json")
    status, recipe = server.get(f"/api/v1/artifacts/{metrics[:16]}/recipe")
    assert status == 200, recipe
    assert [s["command"] for s in recipe["steps"]] == [
        j["command"] for j in pipeline["session"]["jobs"]
    ]
    step = recipe["steps"][0]
    assert step["git"]["commit"] and step["cwd"] == str(pipeline["root"]) and step["env_names"]
    sources = {Path(s["path"]).name: s for s in recipe["sources"]}
    assert "raw.csv" in sources  # (step.py is tracked code: roar records it as the git commit)
    assert "clean.csv" not in sources  # made by the lineage itself
    raw = pipeline["root"] / "raw.csv"
    assert sources["raw.csv"]["size"] == raw.stat().st_size
    assert sources["raw.csv"]["hash"] == by_path(pipeline_bundle, "raw.csv")


def test_openapi_document(server):
    status, doc = server.get("/openapi.json")
    assert status == 200
    assert {"/api/v1/register", "/api/v1/artifacts/{hash_or_prefix}/recipe"} <= set(doc["paths"])
    assert "Bundle" in doc["components"]["schemas"]


def test_a_targets_upstream_lineage_registers_as_its_own_session(server, pipeline, pipeline_bundle):
    """What `roar register model.bin` will send: `roar lineage --json`'s jobs, as a bundle."""
    import json

    from roar.registry.bundle import bundle_from_jobs
    from tests.registry.conftest import roar

    lineage = json.loads(roar("lineage", "model.bin", "--json", cwd=pipeline["root"]))
    bundle = bundle_from_jobs(lineage["jobs"], registered_by="tests")
    out = server.register(bundle)
    assert out["jobs"] == 2
    full = server.register(pipeline_bundle)
    assert out["session_hash"] != full["session_hash"]
    assert set(out["job_hashes"].values()) < set(full["job_hashes"].values())  # shared jobs
    model = by_path(pipeline_bundle, "model.bin")
    recipe = server.get(f"/api/v1/artifacts/{model}/recipe")[1]
    assert [s["command"] for s in recipe["steps"]] == [j["command"] for j in lineage["jobs"]]


def test_a_whole_hash_that_is_also_an_alias_or_a_uid_answers_as_before(server):
    """An alias digest wins over an artifact hash, and a job hash that is also another job's
    uid is ambiguous, when the text is a whole hash too (PostgreSQL reads a whole hash's
    document in one statement; these are the cases it must leave to the key's statement)."""
    parts = chain(2)
    target, other = parts["artifacts"][0], parts["artifacts"][1]
    other["aliases"] = [{"algorithm": "sha256", "digest": target["hash"]}]
    first = server.register(window(parts, 0, 2))
    assert server.get(f"/api/v1/artifacts/{target['hash']}")[1]["hash"] == other["hash"]
    job = first["job_hashes"][parts["jobs"][0]["uid"]]
    twin = window(chain(1), 0, 1)
    old_uid = twin["jobs"][0]["uid"]
    twin["jobs"][0]["uid"] = job  # a uid that is another job's whole hash
    for e in twin["edges"]:
        e["job"] = job
    second = server.register(twin)
    status, out = server.get(f"/api/v1/jobs/{job}")
    assert status == 409, out
    assert sorted(out["candidates"]) == sorted([job, second["job_hashes"][job]])
    assert old_uid != job
