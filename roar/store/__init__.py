"""The store: the only package that speaks SQL. See docs/store.md for the schema contract.

- ``connection.connect``: open (and migrate) ``.roar/roar.db``.
- ``writer``: the job write path and other mutations (stdlib sqlite3, one transaction each).
- ``queries``: reads through the SQLAlchemy models, returning plain views.
"""
