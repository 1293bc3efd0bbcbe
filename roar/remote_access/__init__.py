"""The S3 objects a traced Python program reads and writes through boto3 or s3fs (issue 19.3).

``roar run`` puts ``_boot/`` first on the command's ``PYTHONPATH``: its ``sitecustomize`` adds
botocore handlers (``_boot/_roar_s3.py``) when a program imports botocore, and they note each
object read or written (URL, ETag, version, size, the digest of the bytes that passed through)
in a private directory; ``session.py`` turns those notes into the job's remote inputs and
outputs. Ray workers install the same handlers from their setup hook (``roar.ray.worker``) and
send their notes back with the per-worker summaries. See docs/ray.md ("S3 objects").
"""
