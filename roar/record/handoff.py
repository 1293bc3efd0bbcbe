"""What a traced command's in-process helpers hand back to `roar run`.

roar's hooks inside the command (the Ray driver hook, the S3 hooks) write their records into a
private folder named by an environment variable that `roar run` sets before the command starts
and reads after it exits. ``private_dir`` makes that folder, ``remove_dir`` removes it, and
``restore_env`` puts the user's own values of the variables roar set back into the job's
recorded environment (the job ran with the user's variables, not roar's).

No tempfile nor shutil at import or on the common path: every `roar run` comes here, and
tempfile alone (with shutil, random, bz2 and lzma) was ~13 M instructions.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_TEMP_DIRS = ("/tmp", "/var/tmp", "/usr/tmp")


def private_dir(prefix: str) -> str | None:
    """A new 0700 folder where ``tempfile.mkdtemp(prefix=prefix)`` would make it (the first of
    $TMPDIR, $TEMP, $TMP, /tmp, /var/tmp, /usr/tmp that takes one), or None."""
    candidates = [os.environ.get(k) for k in ("TMPDIR", "TEMP", "TMP")]
    for base in [c for c in candidates if c] + list(_TEMP_DIRS):
        for _ in range(8):
            path = os.path.abspath(os.path.join(base, prefix + os.urandom(6).hex()))
            try:
                os.mkdir(path, 0o700)
                return path
            except FileExistsError:
                continue
            except OSError:
                break
    return None


def remove_dir(path: str) -> None:
    """``shutil.rmtree(path, ignore_errors=True)`` for a mostly flat folder (shutil itself only
    for a folder inside it)."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                import shutil

                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def restore_env(metadata: dict[str, Any], before: dict[str, str | None]) -> None:
    """The recorded environment (``metadata["env"]``) as the user had it: each variable of
    ``before`` (roar's, set for the command) back to its value before, or gone if it had none."""
    recorded = metadata.get("env")
    if not isinstance(recorded, dict):
        return
    for name, value in before.items():
        if value is None:
            recorded.pop(name, None)
        elif name in recorded:
            recorded[name] = value
