"""Real editors as clients of roar-lsp: Neovim's built-in LSP client (headless) and VS Code's
workbench (code-server) in headless Chromium. In CI (``CI=true``) a missing editor fails the
test; on a developer's machine it skips with the install command."""

from __future__ import annotations

import os

import pytest

from tests.kernel.conftest import jupyter_path  # noqa: F401  (the shared project's fixtures)
from tests.lsp.conftest import pipeline  # noqa: F401


def require(available: bool, what: str, install: str) -> None:
    if available:
        return
    message = f"{what} is not installed ({install})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: CI must run this test")
    pytest.skip(message)
