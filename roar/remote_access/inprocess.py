"""roar's S3 hooks in a process roar did not start with them: a Ray worker (its setup hook,
``roar.ray.worker``) whose records go beside its own preload log and travel back to the driver
with the worker's summary (``roar.ray.collect``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

BOOT_DIR = os.path.join(os.path.dirname(__file__), "_boot")
RECORDS_NAME = "s3.jsonl"


def start(records: str, tagger: Callable[[], dict[str, Any] | None] | None = None) -> None:
    """Note this process's S3 reads and writes in ``records`` (JSON lines), each tagged with
    ``tagger()``; botocore is not imported here (the handlers wait for the program's import)."""
    site = _load("_roar_s3_site", "sitecustomize.py")
    hooks = site._hooks()
    hooks.configure(records)
    if tagger is not None:
        hooks.TAGGER = tagger
    site.watch()


def _load(name: str, filename: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, os.path.join(BOOT_DIR, filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
