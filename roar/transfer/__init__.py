"""`roar get` / `roar put`: objects in object stores (s3://, gs://, https://, local paths) as
artifacts of the lineage.

``urls`` names locations, ``stores`` opens a store on them (``s3``: botocore for s3://; fsspec
filesystems for gs://, http(s):// and paths; credentials from the standard places only: the
environment, ~/.aws profiles, gcloud's defaults), ``files`` writes downloads atomically,
``staging`` keeps track of a prefix's staging folder, ``get`` and ``put`` carry out a transfer
and record it as a job. Nothing here prints: progress goes through a callback (``progress``),
results are returned.
"""
