"""The store: the only package that speaks SQL. See docs/store.md for the schema contract.

- ``connection.connect``: open (and migrate) ``.roar/roar.db``.
- ``writer``: the job write path and other mutations (stdlib sqlite3, one transaction each).
- ``queries``: reads (stdlib sqlite3, batched), returning plain views.
- ``provenance``: the editors' single-statement read-only lookups.
- ``schema``: the tables as SQLAlchemy models, the schema of record the migrations build.
"""
