"""Notebook cells replayed in a fresh roar kernel, started in the worktree.

A cell job is reproduced by running, in a new roar kernel (``python -m roar_kernel``, which
records every cell in the worktree's store), the recorded sources of the cells it depends
on — the cells that defined the variables it read, and theirs, in recorded order — and then
its own. One kernel per notebook, kept for the whole replay: a later cell may need what an
earlier one defined. When the notebook is not in the checkout (it was never committed), a
notebook holding the replayed cells, with their recorded ids, is written at its path so the
replayed cells are recorded under the same notebook and cell ids.

Jupyter is imported here only: the core does not need it unless a plan has cells.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from roar.errors import RoarError
from roar.store.views import JobView

KERNEL_NAME = "roar-reproduce"
START_TIMEOUT = 120.0
CELL_TIMEOUT = 3600.0
# Waits until the cells run so far are in the store (the roar kernel's handover flushed).
SETTLE = "(lambda k: hasattr(k, 'cells') and k.cells.flush())(get_ipython().kernel)"


def dependencies(cell: JobView, lookup: Callable[[str], JobView | None]) -> list[JobView]:
    """The cells whose variables ``cell`` read, transitively, in recorded order (oldest first)."""
    found: dict[str, JobView] = {}
    pending = [cell]
    while pending:
        job = pending.pop()
        for var in job.variables_read:
            uid = var.producer_job_uid
            if not uid or uid in found or uid == cell.uid:
                continue
            producer = lookup(uid)
            if producer is not None:
                found[uid] = producer
                pending.append(producer)
    return sorted(found.values(), key=lambda j: (j.started_at, j.id))


class KernelReplay:
    """A roar kernel per notebook, executing recorded cell sources in the worktree."""

    def __init__(self, worktree: Path, env: dict[str, str], log: Path):
        self.worktree = worktree
        self.env = env
        self.log = log
        self._kernels: dict[str, tuple[Any, Any]] = {}  # notebook path -> (manager, client)
        self._spec_dir = worktree / ".roar" / "kernels"

    def run_cell(self, notebook: str, cwd: str, source: str) -> tuple[bool, str]:
        """Execute ``source`` in the notebook's kernel and wait until it is recorded;
        (succeeded, the error if not)."""
        _km, kc = self._kernel(notebook, cwd)
        errors: list[str] = []

        def output(msg: dict) -> None:
            kind, content = msg.get("msg_type"), msg.get("content", {})
            with self.log.open("a", encoding="utf-8") as fh:
                if kind == "stream":
                    fh.write(content.get("text", ""))
                elif kind == "error":
                    errors.append(f"{content.get('ename')}: {content.get('evalue')}")
                    fh.write(errors[-1] + "\n")
                elif kind in ("execute_result", "display_data"):
                    fh.write(content.get("data", {}).get("text/plain", "") + "\n")

        reply = kc.execute_interactive(source, timeout=CELL_TIMEOUT, output_hook=output)
        ok = reply["content"]["status"] == "ok"
        self._settle(kc)
        return ok, "; ".join(errors) or reply["content"].get("evalue", "")

    def close(self) -> None:
        for km, kc in self._kernels.values():
            try:
                kc.stop_channels()
                km.shutdown_kernel(now=False)
            except Exception:  # noqa: BLE001 - a kernel that is gone already is fine
                pass
        self._kernels.clear()

    def _settle(self, kc: Any) -> None:
        reply = kc.execute_interactive(SETTLE, silent=True, timeout=120)
        if reply["content"]["status"] != "ok":
            raise RoarError("The roar kernel could not record the replayed cells.")

    def _kernel(self, notebook: str, cwd: str) -> tuple[Any, Any]:
        if notebook in self._kernels:
            return self._kernels[notebook]
        try:
            from jupyter_client.kernelspec import KernelSpecManager
            from jupyter_client.manager import KernelManager
        except ImportError as exc:
            raise RoarError(
                "Replaying notebook cells needs Jupyter's client library.",
                hint="pip install 'roar[jupyter]'",
            ) from exc
        self._write_spec()
        env = {**self.env, "JPY_SESSION_NAME": notebook}
        env.pop("JPY_PARENT_PID", None)
        ksm = KernelSpecManager(kernel_dirs=[str(self._spec_dir)])
        km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=ksm)
        km.start_kernel(cwd=cwd, env=env)
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=START_TIMEOUT)
        except RuntimeError as exc:
            km.shutdown_kernel(now=True)
            raise RoarError(f"The roar kernel did not start: {exc}") from exc
        self._kernels[notebook] = (km, kc)
        return km, kc

    def _write_spec(self) -> None:
        spec = self._spec_dir / KERNEL_NAME
        spec.mkdir(parents=True, exist_ok=True)
        (spec / "kernel.json").write_text(
            json.dumps(
                {
                    "argv": [sys.executable, "-m", "roar_kernel", "-f", "{connection_file}"],
                    "display_name": "Python 3 (roar, reproduce)",
                    "language": "python",
                    "interrupt_mode": "signal",
                }
            ),
            encoding="utf-8",
        )


def write_notebook(path: str, cells: list[JobView]) -> bool:
    """A notebook with ``cells``' sources and ids at ``path``, unless one is there already
    (the committed notebook); whether it was written."""
    if os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": c.cell_id or f"cell-{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": c.source or "",
            }
            for i, c in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"name": "roar", "display_name": "Python 3 (roar)", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(nb, fh, indent=1)
    return True
