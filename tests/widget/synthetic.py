"""Known stores written through the real store writer, without tracing anything.

The graph tests and ``benchmarks/bench_widget.py`` build their sessions here: each job is a
``writer.NewJob`` with the files it read and wrote (real files on disk, so "missing" means
something), recorded by ``writer.record_job`` exactly as ``roar run`` records one.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

from roar import config as config_mod
from roar.store import writer
from roar.store.connection import connect
from roar.workspace import Workspace

T0 = 1_700_000_000.0


class SyntheticStore:
    """A roar project at ``root`` (no git needed) whose jobs the test writes one by one."""

    def __init__(self, root: Path):
        self.root = root
        self.ws = Workspace(root)
        self.ws.roar_dir.mkdir(parents=True, exist_ok=True)
        self.ws.config_path.write_text(config_mod.TEMPLATE, encoding="utf-8")
        self.conn = connect(self.ws.db_path)
        self._clock = itertools.count()

    def close(self) -> None:
        self.conn.close()

    def write(self, name: str, content: str) -> str:
        """Create ``name`` under the root with ``content``; its digest."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return digest(content)

    def job(
        self,
        command: str,
        reads: Sequence[str] = (),
        writes: dict[str, str] | None = None,
        *,
        exit_code: int = 0,
        step_identity: str | None = None,
        deletes: dict[str, str | None] | None = None,
        **extra,
    ) -> writer.RecordedJob:
        """Record ``command`` reading the current content of ``reads`` and writing ``writes``
        (name → new content, written to disk first), and removing ``deletes`` (name → what
        it held as recorded, None: unknown; removed from disk). The same command is a rerun
        of its step."""
        files = [self._file(name, "input", (self.root / name).read_text()) for name in reads]
        for name, content in (writes or {}).items():
            self.write(name, content)
            files.append(self._file(name, "output", content))
        for name, held in (deletes or {}).items():
            (self.root / name).unlink(missing_ok=True)
            files.append(
                self._file(name, "deleted", held)
                if held is not None
                else writer.HashedFile(str(self.root / name), "deleted", None, 0)
            )
        started = T0 + next(self._clock)
        job = writer.NewJob(
            kind=extra.pop("kind", "run"),
            command=command,
            argv=command.split(),
            cwd="",
            started_at=started,
            ended_at=started + 0.5,
            exit_code=exit_code,
            tracer="preload",
            step_identity=step_identity or command,
            algorithm="sha256",
            files=files,
            git_commit="c0ffee" * 6 + "abcd",
            **extra,
        )
        return writer.record_job(self.conn, job)

    def _file(self, name: str, role: str, content: str) -> writer.HashedFile:
        return writer.HashedFile(str(self.root / name), role, digest(content), len(content))


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def sweep(store: SyntheticStore, jobs: int) -> None:
    """A hyper-parameter sweep of ``jobs`` jobs: prepare, then train/evaluate pairs per seed,
    then one report over every metric file (what a 2,000-job session looks like in practice)."""
    store.write("raw.csv", "a,b\n1,2\n")
    store.job("python prepare.py", ["raw.csv"], {"data.csv": "prepared\n"})
    pairs = max(1, (jobs - 2) // 2)
    for seed in range(pairs):
        store.job(
            f"python train.py --seed {seed}", ["data.csv"], {f"models/m{seed}.pkl": f"m{seed}"}
        )
        store.job(
            f"python evaluate.py models/m{seed}.pkl",
            [f"models/m{seed}.pkl", "data.csv"],
            {f"metrics/m{seed}.json": f'{{"seed": {seed}}}'},
        )
    store.job("python report.py", [f"metrics/m{s}.json" for s in range(pairs)],
              {"report.html": "<p>done</p>"})  # fmt: skip
