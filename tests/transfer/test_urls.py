"""What roar records of a URL: never credentials (user info, presigned signatures, tokens)."""

from __future__ import annotations

from roar.transfer import urls


def test_user_info_and_secret_query_values_are_not_recorded() -> None:
    url = (
        "https://alice:hunter2@example.com/w.pt?X-Amz-Signature=abc123&X-Amz-Credential=AKIA1"
        "&X-Amz-Security-Token=tok&versionId=7&sig=s3cr3t"
    )
    kept = urls.recordable(url)
    for secret in ("alice", "hunter2", "abc123", "AKIA1", "tok", "s3cr3t"):
        assert secret not in kept
    assert kept.startswith("https://example.com/w.pt?") and "versionId=7" in kept


def test_parse_names_prefixes_and_objects() -> None:
    obj = urls.parse("s3://bucket/models/model.pt")
    assert (obj.scheme, obj.path, obj.is_prefix) == ("s3", "bucket/models/model.pt", False)
    prefix = urls.parse("gcs://bucket/run-42/")
    assert (prefix.scheme, prefix.url, prefix.is_prefix) == ("gs", "gs://bucket/run-42/", True)
    assert urls.parse("s3://bucket").is_prefix  # a whole bucket
    assert not urls.is_url("/data/s3://x") and urls.is_url("HTTPS://example.com/a")
    local = urls.parse("relative/file.txt")
    assert local.scheme == "file" and local.path.endswith("/relative/file.txt")
