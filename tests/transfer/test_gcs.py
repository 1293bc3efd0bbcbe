"""`roar get` / `roar put` on gs:// through gcsfs, against gcp-storage-emulator (a Google Cloud
Storage emulator from PyPI, pure Python, started on 127.0.0.1 by tests/transfer/conftest.py;
gcsfs talks to it through STORAGE_EMULATOR_HOST, anonymously): an object and a prefix are
recorded with their generations, a put lands and is recorded, a --hash mismatch is refused."""

from __future__ import annotations

import os

import blake3

from tests.transfer.conftest import GCS, Project


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def roar(project: Project, gcs: GCS, *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    return project.roar(*args, env=gcs.env, check=check)


def test_get_of_an_object_and_of_a_prefix_records_their_generations(
    project: Project, gcs: GCS
) -> None:
    bucket = gcs.bucket()
    data = os.urandom(200_000)
    meta = gcs.put(bucket, "in/data.bin", data)
    out = roar(project, gcs, "get", f"gs://{bucket}/in/data.bin", "data/", "--json").json()
    assert (project.root / "data" / "data.bin").read_bytes() == data
    assert out["hash"] == b3(data)
    assert out["objects"][0]["version_id"] == meta["generation"]
    [job] = project.jobs()
    assert job["kind"] == "get"
    assert {f["path"]: f["hash"] for f in job["outputs"]} == {
        f"gs://{bucket}/in/data.bin": b3(data),
        str(project.root / "data" / "data.bin"): b3(data),
    }
    shown = roar(project, gcs, "show", f"gs://{bucket}/in/data.bin", "--json").json()
    assert [r["version_id"] for r in shown["remote_objects"]] == [meta["generation"]]

    names = ("a.txt", "sub/b.txt", "sub/c.txt")
    generations = {n: gcs.put(bucket, f"set/{n}", n.encode())["generation"] for n in names}
    out = roar(project, gcs, "get", f"gs://{bucket}/set/", "set/", "--json").json()
    assert out["composite"] and out["downloaded"] == 3
    assert {o["url"]: o["version_id"] for o in out["objects"]} == {
        f"gs://{bucket}/set/{n}": g for n, g in generations.items()
    }
    assert (project.root / "set" / "sub" / "c.txt").read_text() == "sub/c.txt"
    assert len(project.jobs()) == 2


def test_put_to_gcs_lands_and_is_recorded(project: Project, gcs: GCS) -> None:
    bucket = gcs.bucket()
    (project.root / "model.bin").write_bytes(b"weights" * 1000)
    out = roar(project, gcs, "put", "model.bin", f"gs://{bucket}/models/", "-m", "m", "--json")
    [obj] = out.json()["objects"]
    assert gcs.read(bucket, "models/model.bin") == b"weights" * 1000
    meta = gcs.meta(bucket, "models/model.bin")
    assert (obj["url"], obj["hash"]) == (f"gs://{bucket}/models/model.bin", b3(b"weights" * 1000))
    assert obj["version_id"] == meta["generation"]
    [job] = project.jobs()
    assert job["kind"] == "put"
    assert f"gs://{bucket}/models/model.bin" in {f["path"] for f in job["outputs"]}


def test_hash_mismatch_on_gcs_is_refused(project: Project, gcs: GCS) -> None:
    bucket = gcs.bucket()
    gcs.put(bucket, "m.bin", b"model bytes")
    res = roar(project, gcs, "get", f"gs://{bucket}/m.bin", "dl/", "--hash", "0" * 64,
               check=False)  # fmt: skip
    assert res.returncode == 1 and "Hash mismatch" in res.stderr
    assert not (project.root / "dl").exists() or list((project.root / "dl").iterdir()) == []
    assert project.jobs() == []
