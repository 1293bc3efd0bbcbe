"""roar: Run Observation & Artifact Registration.

Put ``roar run`` in front of a command and roar records which files it read and wrote
(identified by content hash), the code version, environment and timing, and derives the
lineage DAG from those records.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Resolved lazily: importlib.metadata costs ~30 ms, a fifth of `roar run true`'s budget.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("roar")
        except PackageNotFoundError:  # a source tree without install metadata
            return "0.0.0"
    raise AttributeError(name)
