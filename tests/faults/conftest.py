"""Real faults for the store: a small tmpfs mounted over `.roar/` (filled up, or remounted
read-only), a damaged file, a store from a newer roar. Mounting needs root, as these machines
run tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BACKENDS = ("ebpf", "preload", "ptrace")


class SmallDisk:
    """A 1 MiB tmpfs holding a copy of a project's `.roar/`."""

    def __init__(self, roar_dir: Path):
        self.path = roar_dir

    def fill(self, leave: int = 0) -> None:
        """Fill the disk up, leaving about ``leave`` bytes."""
        free = shutil.disk_usage(self.path).free
        with open(self.path / "filler", "ab") as fh:
            fh.write(b"\0" * max(0, free - leave))
            fh.flush()

    def free_up(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)


@contextmanager
def small_disk_over(roar_dir: Path, scratch: Path) -> Iterator[SmallDisk]:
    """Mount a 1 MiB tmpfs over ``roar_dir`` holding a copy of what it held (kept meanwhile in
    ``scratch``), unmounted after; skips without root."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    saved = scratch / "roar-saved"
    shutil.copytree(roar_dir, saved)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(roar_dir)], check=True)
    try:
        shutil.copytree(saved, roar_dir, dirs_exist_ok=True)
        yield SmallDisk(roar_dir)
    finally:
        subprocess.run(["umount", "-l", str(roar_dir)], check=False)


@pytest.fixture
def small_disk(repo: Path, tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk_over(repo / ".roar", tmp_path) as disk:
        yield disk
