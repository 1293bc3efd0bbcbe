"""From a tracer's access summary to a job's inputs and outputs (paths only, before hashing).

Rules, in order:
- noise (system, packages, caches, /tmp, dotfiles, `.git/`, `.roar/`) is never lineage;
- an output is a file the job wrote or created that still exists when it ends; an in-place
  open (read+write) whose file kept its mtime was not modified, so it is an input only;
- an input is a file whose pre-existing content the job read (or an untracked script it ran);
  one it read and then modified in place is an input with the content it had *before* the job
  (``in_place`` keeps its mtime from before, to find that content; see recorder.pre_images);
- git-tracked code is represented by the commit, not listed (unless output.track_repo_files);
- a deleted file is one the job removed that existed before it (not a temporary it created
  and removed) and that is gone when it ends: a removed file or the old name of a rename
  (a removed directory is recorded through the files in it that the job removed);
- a directory the job listed and whose every file it read is one composite input; a
  directory it created and filled is one composite output, and so is one an earlier job
  recorded as a composite output when the job wrote every file in it again (a rerun into the
  existing directory records the same artifact, not its files: same command, same tree, same
  shape).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from roar.record.filters import NoiseFilter, is_code
from roar.records import field, record
from roar.tracing.run import FileAccess


@record
class PlannedFiles:
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    composite_inputs: dict[str, list[str]] = field(default_factory=dict)  # dir → member paths
    composite_outputs: dict[str, list[str]] = field(default_factory=dict)
    package_reads: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # path → its mtime_ns before the job (None: not reported) for inputs the job modified
    in_place: dict[str, int | None] = field(default_factory=dict)


def plan(
    files: Iterable[FileAccess],
    noise: NoiseFilter,
    *,
    tracked: Callable[[Iterable[str]], set[str]],
    track_repo_files: bool = False,
    composites_before: Callable[[Iterable[str]], set[str]] | None = None,
) -> PlannedFiles:
    """``composites_before``: which of the given directories earlier jobs recorded as
    composite outputs (the store knows; asked once, about the directories holding outputs)."""
    planned = PlannedFiles()
    reads: list[str] = []
    writes: list[str] = []
    listed: list[str] = []
    created_dirs: list[str] = []
    deleted: list[str] = []
    for f in files:
        if f.read and NoiseFilter.is_package(f.path):
            planned.package_reads.append(f.path)
        if noise.is_noise(f.path):
            continue
        if f.is_dir:
            if f.dir_list and not f.delete:
                listed.append(f.path)
            if f.create and not f.delete:
                created_dirs.append(f.path)
            continue
        if f.delete and not f.create and not os.path.lexists(f.path):
            deleted.append(f.path)
        wrote = (f.write or f.create) and not f.delete and _was_modified(f)
        if wrote:
            writes.append(f.path)
        if f.read or (f.exec and _under(f.path, noise.project_root)):
            reads.append(f.path)
            if wrote and f.read and not f.create:
                planned.in_place[f.path] = f.mtime_ns_before
    in_repo_code = [p for p in reads if is_code(p) and _under(p, noise.project_root)]
    code = tracked(in_repo_code) if in_repo_code and not track_repo_files else set()
    planned.inputs = sorted(p for p in reads if p not in code)
    planned.outputs = sorted(writes)
    planned.deleted = sorted(deleted)
    _fold_composites(planned.inputs, listed, planned.composite_inputs, noise)
    if composites_before is not None and planned.outputs:
        created_dirs += composites_before(_parents(planned.outputs, noise.project_root))
    _fold_composites(planned.outputs, created_dirs, planned.composite_outputs, noise)
    return planned


def _parents(paths: Iterable[str], root: str) -> set[str]:
    """The directories holding ``paths`` up to (not including) the project root."""
    found: set[str] = set()
    for path in paths:
        if not _under(path, root):
            continue
        parent = os.path.dirname(path)
        while parent != root and _under(parent, root) and parent not in found:
            found.add(parent)
            parent = os.path.dirname(parent)
    return found


def _was_modified(f: FileAccess) -> bool:
    """An in-place open only counts as a write if the file changed (mtime moved)."""
    if f.mtime_ns_before is None or f.create:
        return True
    try:
        return os.stat(f.path).st_mtime_ns != f.mtime_ns_before
    except OSError:
        return False


def _fold_composites(
    paths: list[str], dirs: list[str], composites: dict[str, list[str]], noise: NoiseFilter
) -> None:
    """Replace the files of each directory handled as a whole by the directory itself."""
    chosen = set(paths)
    for directory in sorted(set(dirs), key=len):  # outermost first
        if any(_under(directory, d) for d in composites):
            continue
        members = _files_under(directory, noise)
        if len(members) >= 2 and all(m in chosen for m in members):
            composites[directory] = members
    if composites:
        inside = {m for members in composites.values() for m in members}
        paths[:] = [p for p in paths if p not in inside]


def _files_under(directory: str, noise: NoiseFilter) -> list[str]:
    """Regular files below ``directory`` (symlinks to files count), skipping noise.

    ``scandir`` answers file-or-directory from the directory entry itself, so a directory of
    thousands of files costs no stat calls.
    """
    found: list[str] = []
    pending = [directory]
    while pending:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if not noise.is_noise(entry.path + "/x"):
                    pending.append(entry.path)
            elif entry.is_file() and not noise.is_noise(entry.path):
                found.append(entry.path)
    return sorted(found)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
