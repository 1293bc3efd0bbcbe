"""Neovim (the Debian package, 0.7) drives the real server: K shows the provenance float,
code lenses carry "produced by …", gd jumps to the producing script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.editors.conftest import require

SCRIPT = Path(__file__).with_name("nvim") / "provenance.lua"
TEXT = 'import pickle\nmodel = pickle.load(open("out/model.pkl", "rb"))\n'


def test_neovim_hover_lens_and_definition(pipeline):
    require(shutil.which("nvim") is not None, "nvim", "make system-deps, or apt-get install neovim")
    doc = pipeline.root / "nvim_check.py"
    doc.write_text(TEXT)
    env = {
        **os.environ,
        "ROAR_LSP_CMD": f"{sys.executable} -m lsp_server",
        "ROAR_FILE": str(doc),
        "ROAR_ROOT": str(pipeline.root),
        "ROAR_LINE": "2",  # 1-based line, 0-based column: inside "out/model.pkl"
        "ROAR_COL": str(TEXT.splitlines()[1].index("model.pkl")),
    }
    out = subprocess.run(
        ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {SCRIPT}"],
        cwd=pipeline.root, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    hover = next(line for line in lines if line.startswith("HOVER: "))
    assert "model.pkl" in hover and "current" in hover
    assert "Produced by" in hover and "@2" in hover and "python train.py" in hover
    assert pipeline.digest("out/model.pkl")[:12] in hover
    lenses = [line for line in lines if line.startswith("LENS: ")]
    assert lenses and lenses[0].startswith("LENS: 1 produced by @2 · train.py · ")
    assert f"DEFINITION: {pipeline.root / 'train.py'}" in lines
