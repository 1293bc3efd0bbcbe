"""GLaaS: the lineage registry server (issue 17).

It stores lineage only -- jobs, artifact hashes, edges, labels, sessions -- never artifact bytes.
Routes (``glaas.api``) are thin over the service layer (``glaas.service``), which is the only
code that touches the SQLAlchemy models (``glaas.models``). ``glaas`` never imports ``roar``:
the two meet only in the bundle schema, ``roar.lineage-bundle/1`` (docs/registry-api.md).
"""
