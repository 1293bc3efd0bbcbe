"""`roar put` and remote artifacts in the lineage, against moto (an S3 emulator on 127.0.0.1) and
a real registry server (glaas on SQLite): `get` → `roar run` → `put` makes one DAG from the
bucket object through the job to the uploaded object, in `roar dag`, `show`, `lineage`, the
widget's graph, `roar register s3://…` and the registry; an unreachable registry leaves the
upload and its record standing."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import blake3

from tests.conftest import commit_all
from tests.transfer.conftest import Project, free_port

STEP = """
import sys
rows = open(sys.argv[1]).read().splitlines()
open(sys.argv[2], "w").write("\\n".join(r.upper() for r in rows) + "\\n")
"""


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def pipeline(project: Project, raw: bytes = b"a,1\nb,2\n") -> tuple[str, str]:
    """raw.csv in a bucket → roar get → roar run step.py → (bucket, the output's hash)."""
    s3, bucket = project.s3, project.s3.bucket()
    s3.client.put_object(Bucket=bucket, Key="in/raw.csv", Body=raw)
    (project.root / "step.py").write_text(STEP)
    (project.root / ".gitignore").write_text("data/\nclean.csv\n")
    commit_all(project.root, "step")
    project.roar("get", f"s3://{bucket}/in/raw.csv", "data/raw.csv")
    project.roar("run", "python", "step.py", "data/raw.csv", "clean.csv")
    return bucket, b3((project.root / "clean.csv").read_bytes())


def test_get_run_put_is_one_lineage_to_the_registry(project: Project, registry) -> None:
    bucket, clean = pipeline(project)
    up = project.roar(
        "put", "clean.csv", f"s3://{bucket}/out/", "-m", "cleaned", "-y", "--json",
        env={"ROAR_GLAAS_URL": registry.base},
    ).json()  # fmt: skip
    url = f"s3://{bucket}/out/clean.csv"
    assert (
        project.s3.client.get_object(Bucket=bucket, Key="out/clean.csv")["Body"].read()
        == (project.root / "clean.csv").read_bytes()
    )
    assert up["registration"]["status"] == "registered"
    [obj] = up["objects"]
    assert (obj["url"], obj["hash"]) == (url, clean) and obj["etag"]

    # roar lineage / show of the uploaded object: put ← run ← get (← the bucket object)
    lineage = project.roar("lineage", url, "--json").json()
    assert [j["kind"] for j in lineage["jobs"]] == ["get", "run", "put"]
    get_job = lineage["jobs"][0]
    assert f"s3://{bucket}/in/raw.csv" in {f["path"] for f in get_job["outputs"]}
    shown = project.roar("show", url, "--json").json()
    assert shown["artifact"]["hash"] == clean and shown["remote_objects"][0]["url"] == url
    dag = project.roar("dag").stdout
    assert f"(s3://{bucket}/in/raw.csv)" in dag or f"s3://{bucket}/in/raw.csv" in dag
    assert f"({url})" in dag

    # the widget's graph: the uploaded bytes' node names its URL
    from roar.query.graph import session_graph
    from roar.store.queries import reader

    with reader(project.root / ".roar" / "roar.db") as r:
        graph = session_graph(r)
    [node] = [n for n in graph["nodes"] if n.get("hash") == clean]
    assert node["remote"] == [url] and not node["missing"]

    # roar register s3://… resolves the tracked remote artifact
    dry = project.roar("register", url, "--dry-run", "--json").json()
    assert url in {e["path"] for e in dry["bundle"]["edges"]}
    assert {j["kind"] for j in dry["bundle"]["jobs"]} == {"get", "run", "put"}

    # the registry has the lineage of the uploaded object, remote paths and ETags included
    with urllib.request.urlopen(f"{registry.base}/api/v1/artifacts/{clean}/lineage") as resp:
        served = resp.read().decode()
    assert url in served and f"s3://{bucket}/in/raw.csv" in served


def test_unreachable_registry_keeps_the_upload_and_says_how_to_retry(project: Project) -> None:
    bucket, _clean = pipeline(project)
    dead = f"http://127.0.0.1:{free_port()}"
    res = project.roar(
        "put", "clean.csv", f"s3://{bucket}/out/", "-m", "m", "-y",
        env={"ROAR_GLAAS_URL": dead}, check=False,
    )  # fmt: skip
    assert res.returncode == 1
    assert project.s3.keys(bucket, "out/") == ["out/clean.csv"]
    put_job = project.jobs()[-1]
    assert put_job["kind"] == "put"
    assert "Registration failed" in res.stderr
    assert f"roar register {put_job['job_uid']}" in res.stderr


def test_without_a_terminal_put_asks_and_uploads_nothing(project: Project, registry) -> None:
    bucket = project.s3.bucket()
    (project.root / "model.pt").write_bytes(b"weights")
    res = project.roar(
        "put", "model.pt", f"s3://{bucket}/m/", "-m", "m",
        env={"ROAR_GLAAS_URL": registry.base}, check=False,
    )  # fmt: skip
    assert res.returncode == 1 and "pass -y" in res.stderr
    assert project.s3.keys(bucket) == [] and project.jobs() == []


def test_put_of_a_step_and_of_the_session(project: Project) -> None:
    bucket, clean = pipeline(project)
    step = project.roar("put", "@2", f"s3://{bucket}/step/", "-m", "s", "--json").json()
    assert [(o["url"], o["hash"]) for o in step["objects"]] == [
        (f"s3://{bucket}/step/clean.csv", clean)
    ]
    assert step["registration"]["status"] == "not configured"
    session = project.roar("put", f"s3://{bucket}/all/", "-m", "all", "--json").json()
    assert sorted(o["url"] for o in session["objects"]) == [
        f"s3://{bucket}/all/clean.csv",
        f"s3://{bucket}/all/data/raw.csv",
    ]
    put_job = project.jobs()[-1]
    assert sorted(Path(f["path"]).name for f in put_job["inputs"]) == ["clean.csv", "raw.csv"]
    assert json.dumps(put_job["metadata"]["transfer"]["remote"])  # ETags kept in the job too
