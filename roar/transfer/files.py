"""Downloads land whole or not at all.

Bytes go to an unnamed file in the destination's directory (``O_TMPFILE``): a download that
fails, is refused (``--hash`` mismatch) or is killed — even by SIGKILL — leaves nothing behind,
since the file has no name until it is complete, fsynced and checked. Then it gets a name
(``linkat`` through /proc/self/fd) and is renamed over the destination in one step. Where the
filesystem has no ``O_TMPFILE``, a hidden named temporary in the same directory is used and
removed on any failure roar lives to see.
"""

from __future__ import annotations

import os
import secrets

from roar.record import hashing

_TEMP_PREFIX = ".roar-get-"


class AtomicFile:
    """A file being written for ``dest``; ``commit`` puts it in place, ``discard`` drops it."""

    def __init__(self, dest: str) -> None:
        self.dest = dest
        self.directory = os.path.dirname(dest) or "."
        os.makedirs(self.directory, exist_ok=True)
        self.temp_name: str | None = None
        try:
            self.fd = os.open(self.directory, os.O_TMPFILE | os.O_RDWR, 0o644)
        except (AttributeError, OSError):
            self.temp_name = self._fresh_name()
            self.fd = os.open(self.temp_name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        self.closed = False

    def _fresh_name(self) -> str:
        return os.path.join(self.directory, _TEMP_PREFIX + secrets.token_hex(6))

    @property
    def readable_path(self) -> str:
        """A path that opens the bytes written so far (to hash them)."""
        return self.temp_name or f"/proc/self/fd/{self.fd}"

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def pwrite(self, data: bytes, offset: int) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self.fd, view, offset)
            view, offset = view[n:], offset + n

    def truncate(self, size: int) -> None:
        os.ftruncate(self.fd, size)

    def digest(self, algorithm: str = "blake3") -> str:
        os.fsync(self.fd)
        return hashing.hash_file(self.readable_path, algorithm)

    def commit(self, *, synced: bool = False) -> os.stat_result:
        """Name the file ``dest`` (replacing what was there) and make that durable.
        ``synced``: its bytes are on disk already (``sync_filesystem``), and the caller syncs
        the directory (``sync_directories``) once for many files."""
        if not synced:
            os.fsync(self.fd)
        if self.temp_name is None:
            name = self._fresh_name()
            try:
                _link_unnamed(self.fd, name)
            except OSError:  # no /proc here: copy the bytes to a named temporary instead
                _copy_out(self.fd, name)
            self.temp_name = name
        os.replace(self.temp_name, self.dest)
        self.temp_name = None
        st = os.fstat(self.fd)
        self._close()
        if not synced:
            _fsync_dir(self.directory)
        return st

    def discard(self) -> None:
        self._close()
        if self.temp_name is not None:
            try:
                os.unlink(self.temp_name)
            except FileNotFoundError:
                pass
            self.temp_name = None

    def _close(self) -> None:
        if not self.closed:
            os.close(self.fd)
            self.closed = True

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # after commit: only closes (already closed)


def _link_unnamed(fd: int, name: str) -> None:
    """Give the unnamed file ``fd`` the name ``name``: linkat(AT_SYMLINK_FOLLOW) of its
    /proc/self/fd entry (``os.link`` uses plain link(2) unless a dir fd is given, and link(2)
    would not follow that magic link)."""
    proc = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(str(fd), name, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def sync_filesystem(directory: str) -> bool:
    """syncfs(2) on the filesystem holding ``directory``: the data of many files written there
    made durable at once, cheaper than an fsync each. False where there is no syncfs."""
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(directory, os.O_RDONLY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def sync_directories(directories: set[str]) -> None:
    """Make renames into ``directories`` durable (one fsync per directory)."""
    for directory in sorted(directories):
        _fsync_dir(directory)


def _copy_out(fd: int, name: str) -> None:
    size = os.fstat(fd).st_size
    out = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        offset = 0
        while offset < size:
            sent = os.copy_file_range(fd, out, size - offset, offset)
            if sent == 0:
                break
            offset += sent
        os.fsync(out)
    except BaseException:
        os.unlink(name)
        raise
    finally:
        os.close(out)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
