"""Fixtures for `roar get` / `roar put`: moto's standalone server (an S3 emulator, from PyPI's
moto[server]) on 127.0.0.1 as the object store, the registry server (glaas, on SQLite) from
tests/registry, and a project whose roar commands see only the emulator's test credentials."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROAR, Result, commit_all, make_repo, serving_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3:
    """The emulator's address, the environment that points roar (s3fs) and boto3 at it, and a
    boto3 client for setting up and checking buckets."""

    def __init__(self, endpoint: str, home: Path) -> None:
        self.endpoint = endpoint
        self.env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "aws-config"),  # no profile of the machine's
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        }
        import boto3

        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def bucket(self) -> str:
        name = f"roar-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.fixture(scope="package")
def s3(tmp_path_factory) -> Iterator[S3]:
    """`python -m moto.server` (moto, an S3 emulator) on a free loopback port, for the package."""
    home = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = home / "moto.log"
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with serving_process(argv, log, endpoint + "/", "moto.server"):
        yield S3(endpoint, home)


@pytest.fixture(scope="package")
def registry(tmp_path_factory) -> Iterator[Any]:
    """The registry server (glaas on SQLite) of tests/registry, one for the package."""
    from tests.registry.conftest import running_server

    tmp = tmp_path_factory.mktemp("glaas")
    with running_server(f"sqlite:///{tmp / 'glaas.db'}", tmp / "server.log") as api:
        yield api


class Project:
    """A git repo with roar initialised whose roar commands talk to the emulator."""

    def __init__(self, root: Path, s3: S3) -> None:
        self.root = root
        self.s3 = s3

    def roar(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> Result:
        environ = {k: v for k, v in os.environ.items() if k != "ROAR_GLAAS_URL"}
        proc = subprocess.run(
            [*ROAR, *args],
            cwd=self.root,
            env={**environ, **self.s3.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"roar {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return result

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.roar("log", "--json").json()["jobs"]) if self.has_jobs() else []

    def has_jobs(self) -> bool:
        return (self.root / ".roar" / "roar.db").exists()


@pytest.fixture
def project(tmp_path: Path, s3: S3) -> Project:
    root = make_repo(tmp_path / "project")
    (root / "README.md").write_text("transfer test project\n")
    subprocess.run([*ROAR, "init", "-y"], cwd=root, check=True, capture_output=True)
    commit_all(root, "initial")
    return Project(root, s3)


class GCS:
    """gcp-storage-emulator (a Google Cloud Storage emulator from PyPI, pure Python) on
    127.0.0.1: the environment that points gcsfs at it (STORAGE_EMULATOR_HOST), and its JSON
    API for setting up and checking buckets."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.env = {"STORAGE_EMULATOR_HOST": endpoint}

    def _call(self, method: str, path: str, body: bytes | None = None) -> Any:
        import json

        request = urllib.request.Request(self.endpoint + path, data=body, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
        return json.loads(raw) if raw.strip().startswith(b"{") else raw

    def bucket(self) -> str:
        import json

        name = f"roar-{uuid.uuid4().hex[:12]}"
        self._call("POST", "/storage/v1/b?project=test", json.dumps({"name": name}).encode())
        return name

    def put(self, bucket: str, key: str, data: bytes) -> dict[str, Any]:
        """Upload an object; its metadata (generation, md5Hash, …)."""
        from urllib.parse import quote

        request = urllib.request.Request(
            f"{self.endpoint}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={quote(key, '')}",
            data=data,
            method="POST",
        )
        request.add_header("Content-Type", "application/octet-stream")
        import json

        with urllib.request.urlopen(request, timeout=30) as answer:
            return dict(json.loads(answer.read()))

    def meta(self, bucket: str, key: str) -> dict[str, Any]:
        from urllib.parse import quote

        return dict(self._call("GET", f"/storage/v1/b/{bucket}/o/{quote(key, '')}"))

    def read(self, bucket: str, key: str) -> bytes:
        from urllib.parse import quote

        return bytes(self._call("GET", f"/storage/v1/b/{bucket}/o/{quote(key, '')}?alt=media"))


@pytest.fixture(scope="package")
def gcs(tmp_path_factory) -> Iterator[GCS]:
    """`python -m gcp_storage_emulator start --in-memory` on a free loopback port."""
    pytest.importorskip("gcp_storage_emulator")
    home = tmp_path_factory.mktemp("gcs")
    port = free_port()
    log = home / "emulator.log"
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
            "--port", str(port), "--in-memory"]  # fmt: skip
    with serving_process(argv, log, endpoint + "/storage/v1/b?project=test", "the GCS emulator"):
        yield GCS(endpoint)
