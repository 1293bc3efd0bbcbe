"""roar run's hand-off folders without tempfile and shutil (roar.record.handoff, used by the Ray
and S3 preparations): what tempfile.mkdtemp and shutil.rmtree(ignore_errors=True) did; and the
job's recorded environment given back the user's values of the variables roar set."""

from __future__ import annotations

import os
import stat

from roar.record.handoff import private_dir, remove_dir, restore_env


def test_private_dir_is_a_new_0700_folder_in_tmpdir(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    a, b = private_dir("roar-ray-"), private_dir("roar-ray-")
    assert a != b
    for path in (a, b):
        assert os.path.dirname(path) == str(tmp_path)
        assert os.path.basename(path).startswith("roar-ray-")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        assert os.listdir(path) == []


def test_private_dir_skips_a_tmpdir_that_takes_none(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    monkeypatch.setenv("TEMP", str(tmp_path))
    path = private_dir("roar-ray-")
    assert os.path.dirname(path) == str(tmp_path)


def test_remove_tree_removes_files_and_folders_and_ignores_what_is_gone(tmp_path):
    out = tmp_path / "out"
    (out / "sub" / "deeper").mkdir(parents=True)
    (out / "a.json").write_text("{}")
    (out / ".b.json.tmp").write_text("")
    (out / "sub" / "deeper" / "c").write_text("x")
    os.symlink(tmp_path, out / "link")  # removed, not followed
    remove_dir(str(out))
    assert not out.exists() and tmp_path.exists()
    remove_dir(str(out))  # already gone: nothing raised


def test_restore_env_gives_the_job_the_users_variables_not_roars():
    metadata = {"env": {"PYTHONPATH": "/roar/boot:/user", "ROAR_S3_OUT": "/tmp/x", "HOME": "/h"}}
    restore_env(metadata, {"PYTHONPATH": "/user", "ROAR_S3_OUT": None, "UNSET_BY_ALL": None})
    assert metadata["env"] == {"PYTHONPATH": "/user", "HOME": "/h"}
    restore_env({"env": None}, {"PYTHONPATH": "/user"})  # no environment recorded: nothing
