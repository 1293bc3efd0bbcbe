"""roar: Run Observation & Artifact Registration.

Put ``roar run`` in front of a command and roar records which files it read and wrote
(identified by content hash), the code version, environment and timing, and derives the
lineage DAG from those records.
"""

from __future__ import annotations

# The wheel's version comes from Cargo.toml's `[workspace.package] version` (maturin reads it;
# pyproject.toml declares the version dynamic). It is repeated here because asking
# importlib.metadata costs 30-60 ms, growing with every installed distribution, on every
# command; tests/cli/test_startup.py fails when the two drift apart.
__version__ = "0.1.0"
