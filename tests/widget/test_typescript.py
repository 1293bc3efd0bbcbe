"""The viewer's TypeScript type-checks (strict ``tsc --noEmit``), so CI catches what the
bundler (esbuild strips types without checking them) would let through."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.widget.browser import skip_unless_ready

JS = Path(__file__).resolve().parents[2] / "jupyter_ext" / "js"
TSC = JS / "node_modules" / ".bin" / "tsc"
why = None if TSC.exists() and shutil.which("node") else "run make widget (npm ci) first"


@skip_unless_ready(why)
def test_viewer_sources_type_check():
    result = subprocess.run([str(TSC), "--noEmit", "-p", str(JS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
