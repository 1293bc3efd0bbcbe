"""The loopback S3 server (moto) and the project fixture of tests/transfer, shared (imported,
not copied): `roar run` of Python programs that read and write S3 objects through boto3/s3fs."""

from tests.transfer.conftest import S3, Project, project, s3  # noqa: F401

__all__ = ["S3", "Project", "project", "s3"]
