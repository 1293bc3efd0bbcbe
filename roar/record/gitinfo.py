"""Git state for a job, from a handful of git calls (never one per file)."""

from __future__ import annotations

# _signal: the constants without the signal module's enums (built at import).
import _signal as signal
import os

from roar.records import record

TYPE_CHECKING = False  # pathlib is not needed to start git (see prefetch)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

_PATHSPEC_CHUNK = 2000  # keep argv far below the kernel's limit


@record(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    remote: str | None


# git runs through os.posix_spawnp rather than subprocess: importing subprocess (with threading,
# selectors and signal's enums) cost every `roar run` ~10 ms, more than the git call it makes.
# These calls need little: stdin and stderr on /dev/null, stdout read to its end, the exit code.


class _Git:
    """A git process started in ``repo``, its output read by ``result``."""

    def __init__(self, repo: Path | str, *args: str) -> None:
        read_end, write_end = os.pipe()  # both close-on-exec; dup2 gives the child its stdout
        try:
            self.pid = os.posix_spawnp(
                "git",
                # --no-optional-locks: `git status` would otherwise refresh and rewrite the
                # index under .git/index.lock, and a user's git command at the same moment
                # would fail on that lock. roar only reads.
                ["git", "--no-optional-locks", "-C", str(repo), *args],
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, write_end, 1),
                    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
                ],
                setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # as subprocess restores them
            )
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._stdout = read_end

    def result(self) -> tuple[int, bytes]:
        """(exit code, stdout) once the process has ended."""
        chunks = []
        try:
            while chunk := os.read(self._stdout, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._stdout)
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status), b"".join(chunks)


def _git(repo: Path, *args: str) -> bytes:
    """git's stdout (whatever it exited with: callers read what it printed)."""
    return _Git(repo, *args).result()[1]


def modified_tracked_files(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes (untracked files do not count)."""
    return _status(repo)[2]


_STATUS = ("status", "--porcelain=v2", "--branch", "--no-ahead-behind", "-z",
           "--untracked-files=no")  # fmt: skip
_REMOTE = ("config", "--get", "remote.origin.url")

# Variables git reads paths from, which could be relative to the directory it starts in.
_LOCATION_VARS = frozenset(
    "GIT_DIR GIT_WORK_TREE GIT_COMMON_DIR GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_CONFIG"
    " GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_CEILING_DIRECTORIES GIT_CONFIG_GLOBAL"
    " GIT_CONFIG_SYSTEM GIT_CONFIG_COUNT GIT_CONFIG_PARAMETERS GIT_NAMESPACE".split()
)
# The two git processes of a snapshot, started early by prefetch: (directory, remote, status).
_prefetched: tuple[str, _Git, _Git] | None = None


def prefetch(cwd: str) -> None:
    """Start the git processes ``snapshot(repo, cwd=cwd)`` will read, now.

    `roar run` calls this before importing the recorder: git then works on the machine's other
    core while Python imports (~60 % of roar's start-up), instead of after. git finds the
    repository from ``cwd`` as it does from its root (the recorder's ``repo`` is the nearest
    folder above ``cwd`` with a ``.git``), and ``--porcelain`` paths are relative to the root
    either way. Not done when a variable that locates the repository or its files is set (a
    relative GIT_DIR would be read against ``-C DIR``); an unused prefetch is a process that
    exits on its own."""
    global _prefetched
    if _prefetched is None and not _LOCATION_VARS.intersection(os.environ):
        _prefetched = (cwd, _Git(cwd, *_REMOTE), _Git(cwd, *_STATUS))


def snapshot(repo: Path, cwd: str | None = None) -> tuple[GitState, list[str]]:
    """Commit, branch, origin URL and the modified tracked files (as ``modified_tracked_files``).

    One ``git status`` answers all but the URL, which a second git process looks up side by
    side with it: `roar run` pays for one git call before its command starts and none after.
    ``cwd`` (inside ``repo``): the git processes ``prefetch(cwd)`` started, if it did.
    """
    global _prefetched
    if _prefetched is not None and cwd is not None and _prefetched[0] == cwd:
        _cwd, remote, status = _prefetched
        _prefetched = None
    else:
        remote, status = _Git(repo, *_REMOTE), _Git(repo, *_STATUS)
    commit, branch, modified = _parse_status(status.result()[1])
    url = remote.result()[1]
    return GitState(commit, branch, url.decode().strip() or None), modified


def _status(repo: Path) -> tuple[str | None, str | None, list[str]]:
    return _parse_status(_git(repo, *_STATUS))


def _parse_status(out: bytes) -> tuple[str | None, str | None, list[str]]:
    """(commit, branch, modified tracked files) from ``git status --porcelain=v2 --branch``.

    Commit and branch are what ``git rev-parse HEAD --abbrev-ref HEAD`` gives: both None before
    the first commit, branch "HEAD" when detached. Each modified file is "XY path" with the
    status letters of ``git status --short`` (v2 writes "." where --short writes a space).
    """
    commit = branch = None
    files: list[str] = []
    entries = iter(out.decode("utf-8", "backslashreplace").split("\0"))
    for entry in entries:
        kind = entry[:2]
        if entry.startswith("# branch.oid "):
            commit = entry[13:]
        elif entry.startswith("# branch.head "):
            branch = entry[14:]
        elif kind in _FIELDS_BEFORE_PATH:
            fields = entry.split(" ", _FIELDS_BEFORE_PATH[kind])
            if len(fields) > _FIELDS_BEFORE_PATH[kind]:
                files.append(f"{fields[1].replace('.', ' ').strip() or '?'} {fields[-1]}")
            if kind == "2 ":
                next(entries, None)  # the source name of a rename/copy record
    if commit == "(initial)":  # no commit yet: rev-parse HEAD fails, so neither is known
        return None, None, files
    return commit, "HEAD" if branch == "(detached)" else branch, files


# Space-separated fields before the path in each kind of ``--porcelain=v2`` record:
# changed, renamed or copied (followed by the source name), unmerged.
_FIELDS_BEFORE_PATH = {"1 ": 8, "2 ": 9, "u ": 10}


def capture_state(repo: Path) -> GitState:
    """Commit, branch and origin URL, with two git processes running side by side."""
    head = _Git(repo, "rev-parse", "HEAD", "--abbrev-ref", "HEAD")
    remote = _git(repo, "config", "--get", "remote.origin.url").decode().strip() or None
    returncode, out = head.result()
    lines = out.decode().split()
    commit = lines[0] if returncode == 0 and lines else None
    branch = lines[1] if returncode == 0 and len(lines) > 1 else None
    return GitState(commit=commit, branch=branch, remote=remote)


def tracked_among(repo: Path, paths: Iterable[str]) -> set[str]:
    """Which of the absolute ``paths`` (inside ``repo``) git tracks — one call per 2,000 paths."""
    rel = {os.path.relpath(p, repo): p for p in paths}
    tracked: set[str] = set()
    names = sorted(rel)
    for start in range(0, len(names), _PATHSPEC_CHUNK):
        chunk = names[start : start + _PATHSPEC_CHUNK]
        out = _git(repo, "ls-files", "-z", "--full-name", "--", *[f":(literal){n}" for n in chunk])
        for name in out.decode("utf-8", "surrogateescape").split("\0"):
            if name in rel:
                tracked.add(rel[name])
    return tracked


def diff_hash(repo: Path) -> str:
    """SHA-256 of the uncommitted changes: what a job records for a dirty tree."""
    import hashlib  # only a dirty tree needs it: a clean `roar run` need not load OpenSSL

    return hashlib.sha256(diff_bytes(repo)).hexdigest()


def diff_bytes(repo: Path) -> bytes:
    """The uncommitted changes to tracked files, as one binary diff (hashed for --allow-dirty)."""
    return _git(repo, "diff", "HEAD", "--binary", "--no-color", "--no-ext-diff")
