"""`roar dag --format dot|svg|png|graph-json` on real `roar run`s in a temporary git repo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pydot
import pytest

STEP = """
import sys
src, dst = sys.argv[1], sys.argv[2]
open(dst, "w").write(open(src).read() + (sys.argv[3] if len(sys.argv) > 3 else "x") + "\\n")
"""
# pydot's parser uses pyparsing names that pyparsing 3.3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
HAVE_DOT = shutil.which("dot") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def pipeline(repo, run_roar, write_script) -> Path:
    """raw.txt → @1 → a.txt → @2 → b.txt → @3 → c.txt, then @1 rerun with new bytes."""
    write_script("step.py", STEP)
    (repo / "raw.txt").write_text("raw\n")
    for src, dst in (("raw.txt", "a.txt"), ("a.txt", "b.txt"), ("b.txt", "c.txt")):
        run_roar("run", "-q", "python", "step.py", src, dst, cwd=repo)
    return repo


def parse(dot_text: str) -> pydot.Dot:
    (graph,) = pydot.graph_from_dot_data(dot_text)
    return graph


def real_nodes(graph: pydot.Dot) -> list[pydot.Node]:
    return [n for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")]


def need_dot() -> None:
    if not HAVE_DOT:
        if IN_CI:
            pytest.fail("Graphviz's dot is not installed in CI (make system-deps installs it)")
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")


def test_dot_parses_back_to_jobs_artifacts_and_edges(pipeline, run_roar):
    graph = parse(run_roar("dag", "--format", "dot", cwd=pipeline).stdout)
    nodes = real_nodes(graph)
    shapes = sorted(n.get("shape") for n in nodes)
    assert shapes == ["box"] * 3 + ["note"] * 4  # 3 jobs; raw, a, b, c
    assert len(graph.get_edges()) == 6  # input → job → output, three times
    labels = {n.get("label").strip('"') for n in nodes}
    assert "@2 python step.py a.txt b.txt" in labels
    assert any(label.startswith("c.txt\\n") for label in labels)  # name, then short hash


def test_stale_steps_and_artifacts_are_marked_by_style_and_word(pipeline, run_roar):
    run_roar("run", "-q", "python", "step.py", "raw.txt", "a.txt", "v2", cwd=pipeline)
    (pipeline / "c.txt").unlink()
    graph = parse(run_roar("dag", "--format", "dot", cwd=pipeline).stdout)
    lines = {n.get_name(): n.get("label").strip('"').split("\\n") for n in real_nodes(graph)}
    by_first = {label[0]: name for name, label in lines.items()}
    stale_job = graph.get_node(by_first["@3 python step.py b.txt c.txt"])[0]
    assert "dashed" in stale_job.get("style") and lines[stale_job.get_name()][-1] == "[stale]"
    assert lines[by_first["c.txt"]][-1] == "[stale, missing]"
    # @4 wrote a new a.txt; the a.txt that @2 consumed is the earlier version, superseded.
    a_versions = sorted(label[-1] for label in lines.values() if label[0] == "a.txt")
    assert len(a_versions) == 2 and a_versions[-1] == "[superseded]"


def test_output_file_and_graph_json_agree(pipeline, run_roar):
    out = pipeline / "dag.dot"
    assert run_roar("dag", "--format", "dot", "-o", str(out), cwd=pipeline).stdout == ""
    graph = parse(out.read_text())
    payload = run_roar("dag", "--format", "graph-json", cwd=pipeline).json()
    assert payload["counts"]["jobs"] + payload["counts"]["artifacts"] == len(real_nodes(graph))
    assert len(payload["edges"]) == len(graph.get_edges())
    names = {n.get_name().strip('"') for n in real_nodes(graph)}
    assert names == {n["id"] for n in payload["nodes"]}  # DOT keeps the payload's ids


def test_svg_rendered_by_dot(pipeline, run_roar):
    need_dot()
    svg = run_roar("dag", "--format", "svg", cwd=pipeline).stdout
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count('class="node"') == 7 and svg.count('class="edge"') == 6
    png = pipeline / "dag.png"
    run_roar("dag", "--format", "png", "-o", str(png), cwd=pipeline)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_dot_svg_fails_naming_the_package_and_writes_nothing(pipeline, run_roar):
    out = pipeline / "dag.svg"
    result = run_roar(
        "dag", "--format", "svg", "-o", str(out),
        cwd=pipeline, env={"PATH": "/nonexistent"}, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Error: Rendering SVG needs Graphviz's 'dot' program" in result.stderr
    assert "apt-get install graphviz" in result.stderr
    assert not out.exists() and result.stdout == ""


def test_without_the_python_package_dot_fails_naming_it(pipeline, run_roar, tmp_path):
    fake = tmp_path / "fake" / "graphviz"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no graphviz here')\n")
    result = run_roar(
        "dag", "--format", "dot", cwd=pipeline, env={"PYTHONPATH": str(fake.parent)}, check=False
    )
    assert result.returncode == 1
    assert "needs the Python package 'graphviz'" in result.stderr
    assert "pip install graphviz" in result.stderr and result.stdout == ""


def test_text_only_flags_are_refused_with_a_drawing(pipeline, run_roar):
    result = run_roar("dag", "--format", "dot", "--json", cwd=pipeline, check=False)
    assert result.returncode == 1 and "apply to the text view" in result.stderr
    result = run_roar("dag", "-o", "x.dot", cwd=pipeline, check=False)
    assert result.returncode == 1 and "apply to --format" in result.stderr
