#!/usr/bin/env python3
"""The DAG viewer on a 2,000-job session, rendered in headless Chromium.

Not a pytest test. Usage:

    python benchmarks/bench_widget.py                 # 2,000 jobs, 3 rounds
    python benchmarks/bench_widget.py --jobs 500 --rounds 5

A throw-away project gets a hyper-parameter sweep written through the real store writer
(``writer.record_job``; no tracing): ``prepare``, then ``train --seed N`` / ``evaluate`` pairs,
then one ``report`` over every metric file. Python builds the graph payload
(``roar.query.graph.load_graph``, timed), and Debian's Chromium (Playwright, ``executable_path``)
opens a page with the standalone bundle (``jupyter_ext/static/dag_view.js``, what the
widget and the VS Code webview run), each round in a fresh page:

- default view: what a user sees first (repeats collapsed automatically past 150 nodes),
  timed from navigation start to the drawing being on screen (bundle parse, WebAssembly
  start, layout, SVG). Target: <= 2 s.
- focus: the neighbourhood of one model file, drawn from the full payload.
- everything: the same session with collapsing off (every job and file a node), for scale.

Ratios are printed against the 2 s target.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from roar.query import graph  # noqa: E402
from tests.widget.browser import ARGS, chromium_path, missing_prerequisite, standalone_page  # noqa: E402
from tests.widget.synthetic import SyntheticStore, sweep  # noqa: E402

TARGET_MS = 2000.0


def build_store(root: pathlib.Path, jobs: int) -> tuple[dict, float, float]:
    store = SyntheticStore(root)
    t0 = time.perf_counter()
    sweep(store, jobs)
    written = time.perf_counter() - t0
    store.close()
    t0 = time.perf_counter()
    payload = graph.load_graph(root)
    return payload, written, time.perf_counter() - t0


def render(browser, page_path: pathlib.Path) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(page_path.as_uri())
        # "everything" lays out 4,000 nodes: 60-80 s on an idle 2-core machine, more when busy
        page.wait_for_function("window.stats || window.failure", timeout=300_000)
        failure = page.evaluate("window.failure")
        if failure:
            raise RuntimeError(failure)
        stats = page.evaluate("window.stats")
        stats["drawn"] = page.locator("svg.roar-dag g.node").count()
        return stats
    finally:
        page.close()


def measure(browser, directory: pathlib.Path, payload: dict, options: str, rounds: int) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    page = standalone_page(directory, payload, options)
    runs = [render(browser, page) for _ in range(rounds)]
    return {
        "since_start_ms": statistics.median(r["sinceStart"] for r in runs),
        "render_ms": statistics.median(r["totalMs"] for r in runs),
        "layout_ms": statistics.median(r["layoutMs"] for r in runs),
        "nodes": runs[0]["nodes"],
        "edges": runs[0]["edges"],
        "drawn": runs[0]["drawn"],
        "rounds": [r["sinceStart"] for r in runs],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-everything", action="store_true", help="skip the uncollapsed view")
    args = parser.parse_args()
    why = missing_prerequisite()
    if why:
        print(f"bench_widget: cannot run: {why}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="roar-bench-widget-") as tmp:
        root = pathlib.Path(tmp)
        payload, written, built = build_store(root / "project", args.jobs)
        model = next(n["id"] for n in payload["nodes"] if n["label"].startswith("m1."))
        views = {
            "default view": {},
            "focus on one model": {"focus": model, "selected": model},
        }
        if not args.skip_everything:
            views["everything"] = {"collapse": False}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
            results = {
                name: measure(browser, root / f"view{i}", payload, json.dumps(options), args.rounds)
                for i, (name, options) in enumerate(views.items())
            }
            browser.close()
    report(args.jobs, payload, written, built, results)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench_widget-{stamp}.json").write_text(json.dumps(results, indent=1))
    return 0


def report(jobs: int, payload: dict, written: float, built: float, results: dict) -> None:
    c = payload["counts"]
    size = len(json.dumps(payload)) / 1e6
    print(f"session: {jobs} jobs written in {written:.2f} s; payload {c['jobs']} jobs, "
          f"{c['artifacts']} artifacts, {len(payload['edges'])} edges, {size:.1f} MB JSON, "
          f"built by Python in {built * 1000:.0f} ms")  # fmt: skip
    print(
        f"{'view':<20} {'nodes drawn':>11} {'layout':>9} {'render':>9} {'on screen':>10} {'/ 2 s':>7}"
    )
    for name, r in results.items():
        ratio = r["since_start_ms"] / TARGET_MS
        print(f"{name:<20} {r['drawn']:>11} {r['layout_ms']:>7.0f}ms {r['render_ms']:>7.0f}ms "
              f"{r['since_start_ms']:>8.0f}ms {ratio:>7.2f}")  # fmt: skip
    print("on screen = navigation start → drawing shown (median); render = the renderer's own time")


if __name__ == "__main__":
    sys.exit(main())
