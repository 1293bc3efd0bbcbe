"""roar: Run Observation & Artifact Registration.

Put ``roar run`` in front of a command and roar records which files it read and wrote
(identified by content hash), the code version, environment and timing, and derives the
lineage DAG from those records.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roar")
except PackageNotFoundError:  # running from a source tree without install metadata
    __version__ = "0.0.0"
