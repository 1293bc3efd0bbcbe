"""A job uses a distribution when it loads its code or data, not when it reads metadata: an
entry-point scan reads every installed distribution's `*.dist-info`."""

from __future__ import annotations

import sys

SCAN_THEN_IMPORT = (
    "import importlib.metadata as m; "
    "names = [d.metadata['Name'] for d in m.distributions()]; "
    "m.entry_points(); "
    "import blake3; blake3.blake3(b'x')"
)


def test_metadata_scans_are_not_use(repo, run_roar):
    run_roar("run", sys.executable, "-c", SCAN_THEN_IMPORT, cwd=repo)
    (job,) = run_roar("log", "--json", cwd=repo).json()["jobs"]
    used = job["metadata"]["packages"].get("pip", {})
    assert "blake3" in used  # its extension module was loaded
    for scanned_only in ("pytest", "pygls", "SQLAlchemy", "jupyterlab"):
        assert scanned_only not in used, used
