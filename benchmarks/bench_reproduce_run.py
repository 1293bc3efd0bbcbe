#!/usr/bin/env python3
"""Benchmark ``roar reproduce TARGET --run -y`` against running the same steps bare.

Not a pytest test. Usage:

    python benchmarks/bench_reproduce_run.py              # 5 rounds
    python benchmarks/bench_reproduce_run.py --rounds 9 --keep

The pipeline is the one tests/cli/test_reproduce_run.py reproduces: a build step and three
pipeline steps (stdlib Python, small files) over one untracked source input, recorded with a
bare virtualenv's Python first on PATH. The venv cache is warmed by one untimed reproduction,
so every timed one reuses it. Each round times, in rotating order:

- bare:      the four commands run directly (venv Python) in a prepared checkout;
- traced:    the four commands each under ``roar run -q`` / ``roar build -q`` in a prepared,
             ``roar init``-ed checkout (what recording the steps costs by itself);
- reproduce: ``roar reproduce metrics.json --run -y --into NEW_DIR`` end to end (plan,
             worktree, venv lookup, sources, replay of every step under roar, verification).

Figures are medians; reproduce's overhead is given over bare and over traced (the latter is
reproduce's own orchestration). Raw timings go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROAR = [sys.executable, "-m", "roar"]
STEPS = {
    "build.py": "import os\nos.makedirs('build', exist_ok=True)\n"
    "open('build/const.txt', 'w').write('42\\n')\n",
    "prep.py": "rows = open('data/raw.csv').read().splitlines()\n"
    "open('data/clean.csv', 'w').write('\\n'.join(r.upper() for r in rows) + '\\n')\n",
    "train.py": "import sys\nlr = sys.argv[1].split('=', 1)[1]\nc = open('data/clean.csv').read()\n"
    "k = open('build/const.txt').read()\nopen('model.txt', 'w').write(f'{lr} {len(c)} {k}')\n",
    "evaluate.py": "import json\nm = open('model.txt').read()\n"
    "json.dump({'score': sum(map(ord, m))}, open('metrics.json', 'w'))\n",
}
COMMANDS = [
    ("build", ["python", "build.py"]),
    ("run", ["python", "prep.py"]),
    ("run", ["python", "train.py", "--lr=0.1"]),
    ("run", ["python", "evaluate.py"]),
]


def sh(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)


def setup(tmp: Path) -> tuple[Path, dict[str, str]]:
    venv = tmp / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "XDG_CACHE_HOME": str(tmp / "cache"),
    }
    repo = tmp / "project"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "b@roar.invalid"],
                 ["config", "user.name", "bench"]):  # fmt: skip
        sh(["git", *args], repo, env)
    for name, body in STEPS.items():
        (repo / name).write_text(body)
    (repo / ".gitignore").write_text("build/\ndata/clean.csv\nmodel.txt\nmetrics.json\n")
    sh([*ROAR, "init", "-y"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "pipeline"], repo, env)
    (repo / "data").mkdir()
    (repo / "data" / "raw.csv").write_text("a,b\nc,d\n" * 100)
    for kind, argv in COMMANDS:
        sh([*ROAR, kind, "-q", *argv], repo, env)
    return repo, env


def checkout(repo: Path, where: Path, env: dict[str, str], init: bool) -> None:
    sh(["git", "worktree", "add", "--detach", "-q", str(where), "HEAD"], repo, env)
    (where / "data").mkdir()
    shutil.copyfile(repo / "data" / "raw.csv", where / "data" / "raw.csv")
    if init:
        sh([*ROAR, "init", "-y"], where, env)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
    repo, env = setup(tmp)
    venv_python_env = dict(env)
    sh([*ROAR, "reproduce", "metrics.json", "--run", "-y", "--into", str(tmp / "warm")], repo, env)
    times: dict[str, list[float]] = {"bare": [], "traced": [], "reproduce": []}
    for i in range(args.rounds):
        bare, traced, repro = tmp / f"bare{i}", tmp / f"traced{i}", tmp / f"repro{i}"
        checkout(repo, bare, env, init=False)
        checkout(repo, traced, env, init=True)
        variants = {
            "bare": lambda d=bare: [sh(argv, d, venv_python_env) for _k, argv in COMMANDS],
            "traced": lambda d=traced: [
                sh([*ROAR, kind, "-q", *argv], d, env) for kind, argv in COMMANDS
            ],
            "reproduce": lambda d=repro: sh(
                [*ROAR, "reproduce", "metrics.json", "--run", "-y", "--into", str(d)], repo, env
            ),
        }
        names = list(variants)
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            times[name].append(timed(variants[name]))
    med = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "rounds": args.rounds,
        "steps": len(COMMANDS),
        "median_s": med,
        "overhead_over_bare_s": med["reproduce"] - med["bare"],
        "overhead_over_traced_s": med["reproduce"] - med["traced"],
        "raw_s": times,
    }
    print(f"{len(COMMANDS)} steps, {args.rounds} rounds, venv cached (medians):")
    print(f"  bare steps:           {med['bare'] * 1000:8.0f} ms")
    print(f"  steps under roar run: {med['traced'] * 1000:8.0f} ms")
    print(f"  roar reproduce --run: {med['reproduce'] * 1000:8.0f} ms")
    print(f"  overhead over bare:   {report['overhead_over_bare_s'] * 1000:8.0f} ms "
          f"({(report['overhead_over_bare_s'] / len(COMMANDS)) * 1000:.0f} ms per step)")  # fmt: skip
    print(
        f"  reproduce's own:      {report['overhead_over_traced_s'] * 1000:8.0f} ms "
        "(over the steps under roar run)"
    )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (results / f"bench_reproduce_run-{stamp}.json").write_text(json.dumps(report, indent=2))
    if not args.keep:
        for d in sorted(tmp.iterdir()):
            if d.name.startswith(("bare", "traced", "repro", "warm")):
                subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(d)],
                               capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"kept {tmp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
