"""roar run's Ray preparation without tempfile and shutil (roar.ray.session._private_dir and
_remove_tree): what tempfile.mkdtemp and shutil.rmtree(ignore_errors=True) did."""

from __future__ import annotations

import os
import stat

from roar.ray.session import _private_dir, _remove_tree


def test_private_dir_is_a_new_0700_folder_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    a, b = _private_dir("roar-ray-"), _private_dir("roar-ray-")
    assert a != b
    for path in (a, b):
        assert os.path.dirname(path) == str(tmp_path)
        assert os.path.basename(path).startswith("roar-ray-")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        assert os.listdir(path) == []


def test_private_dir_skips_a_tmpdir_that_takes_none(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    monkeypatch.setenv("TEMP", str(tmp_path))
    path = _private_dir("roar-ray-")
    assert os.path.dirname(path) == str(tmp_path)


def test_remove_tree_removes_files_and_folders_and_ignores_what_is_gone(tmp_path):
    out = tmp_path / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "a.json").write_text("{}")
    (out / ".b.json.tmp").write_text("")
    (out / "sub" / "deeper" / "c").write_text("x")
    os.symlink(tmp_path, out / "link")  # removed, not followed
    _remove_tree(str(out))
    assert not out.exists() and tmp_path.exists()
    _remove_tree(str(out))  # already gone: nothing raised
