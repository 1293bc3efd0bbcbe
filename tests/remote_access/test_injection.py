"""What roar's S3 hooks must not change: a program that never uses boto3 does not import
botocore, a user's sitecustomize still runs, and a script whose own S3 call fails exits with
its own code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.remote_access.conftest import S3, Project

pytest.importorskip("boto3")

PROBE = """
import sys
finders = [type(f).__name__ for f in sys.meta_path]
print("botocore imported:", "botocore" in sys.modules)
print("roar hook waiting:", "_RoarS3Finder" in finders)
"""

FAILING = """
import sys
import boto3
client = boto3.client("s3")
print("before the call")
try:
    client.get_object(Bucket=sys.argv[1], Key="no/such/key")
except client.exceptions.NoSuchKey as exc:
    print("caught:", exc.response["Error"]["Code"])
    sys.stderr.write("the script's own error line\\n")
    sys.exit(3)
"""

UNCAUGHT = """
import sys
import boto3
boto3.client("s3").put_object(Bucket="no-such-bucket-roar", Key="k", Body=b"x")
"""


def test_a_program_that_does_not_use_boto3_does_not_import_botocore(project: Project):
    (project.root / "probe.py").write_text(PROBE)
    done = project.roar("run", "--allow-dirty", "python", "probe.py")
    assert "botocore imported: False" in done.stdout
    assert "roar hook waiting: True" in done.stdout  # the hook was there, and stayed idle


def test_a_user_sitecustomize_on_pythonpath_still_runs(project: Project, tmp_path: Path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "sitecustomize.py").write_text("import os\nos.environ['USER_SITE_RAN'] = 'yes'\n")
    (project.root / "probe.py").write_text(
        PROBE + "import os, sitecustomize\nprint('user site:', os.environ.get('USER_SITE_RAN'),"
        " sitecustomize.__file__)\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(own), os.environ.get("PYTHONPATH", "")])}
    done = project.roar("run", "--allow-dirty", "python", "probe.py", env=env)
    assert f"user site: yes {own / 'sitecustomize.py'}" in done.stdout
    assert "roar hook waiting: True" in done.stdout


@pytest.mark.parametrize("script", [FAILING, UNCAUGHT], ids=["caught", "uncaught"])
def test_a_failing_s3_call_leaves_exit_code_and_output_unchanged(
    project: Project, s3: S3, script: str
):
    bucket = s3.bucket()
    (project.root / "fails.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if k not in ("ROAR_S3_OUT",)}
    bare = subprocess.run(
        [sys.executable, "fails.py", bucket],
        cwd=project.root,
        env={**env, **s3.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    traced = project.roar("run", "--allow-dirty", "python", "fails.py", bucket, check=False)
    assert bare.returncode in (1, 3)
    assert traced.returncode == bare.returncode
    assert traced.stdout.startswith(bare.stdout)
    last = bare.stderr.strip().splitlines()[-1]
    assert last in traced.stderr.splitlines()
