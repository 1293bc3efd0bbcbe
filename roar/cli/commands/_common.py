"""Small pieces the history commands share."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from roar.workspace import Workspace, require_workspace

if TYPE_CHECKING:
    from roar.store.queries import Reader


def add_json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


@contextmanager
def open_reader() -> Iterator[tuple[Workspace, Reader]]:
    from roar.store.queries import reader

    ws = require_workspace()
    with reader(ws.db_path) as r:
        yield ws, r


def status_word(exit_code: int | None, interrupted: bool = False) -> str:
    if interrupted:
        return "INT"
    if exit_code is None:
        return "?"  # roar did not see how it ended
    return "OK" if exit_code == 0 else "FAIL"
