"""AtomicFile: a download has no name until it is committed whole (real files, no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

from roar.transfer import files
from roar.transfer.files import AtomicFile


def test_nothing_is_named_until_commit_and_discard_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "out" / "model.pt"
    with AtomicFile(str(dest)) as af:
        af.write(b"half")
        assert not dest.exists() and os.listdir(dest.parent) == []
    assert os.listdir(dest.parent) == []  # discarded: no trace
    dest.write_bytes(b"old")
    with AtomicFile(str(dest)) as af:
        af.write(b"new bytes")
        af.commit()
    assert dest.read_bytes() == b"new bytes" and os.listdir(dest.parent) == ["model.pt"]


def test_copy_out_is_the_fallback_where_proc_cannot_name_the_file(tmp_path: Path) -> None:
    af = AtomicFile(str(tmp_path / "x.bin"))
    try:
        af.write(b"payload" * 1000)
        files._copy_out(af.fd, str(tmp_path / "named"))
    finally:
        af.discard()
    assert (tmp_path / "named").read_bytes() == b"payload" * 1000
