"""The roar kernel's pure parts: which names a cell read and defined, the audit-hook fallback,
joining a cell's pieces, and which cells are housekeeping."""

from __future__ import annotations

import os
import subprocess
import sys

from roar.tracing.run import FileAccess, Summary, parse_summary, summary_json
from roar_kernel.session import only_roar_magics
from roar_kernel.tracers import AuditHookTracer, merge
from roar_kernel.variables import cell_names, names_in, snapshot


def test_names_read_are_those_loaded_before_the_cell_binds_them():
    reads, binds = names_in("y = x + 1\nz = y * 2\nprint(z, w)")
    assert reads == {"x", "print", "w"}
    assert binds == {"y", "z"}


def test_binds_cover_imports_defs_loops_and_mutation():
    code = (
        "import numpy as np, os.path\n"
        "from json import dumps as d\n"
        "def f(a):\n    inner = a\n    return inner\n"
        "class C: pass\n"
        "for i in range(3): total += i\n"
        "df['col'] = 1\n"
        "obj.attr.deep = 2\n"
        "del gone\n"
        "squares = [k * k for k in range(3)]\n"
    )
    reads, binds = names_in(code)
    assert binds == {"np", "os", "d", "f", "C", "i", "total", "df", "obj", "gone", "squares"}
    assert {"total", "range"} <= reads and "k" not in binds and "inner" not in binds


def test_cell_names_combine_syntax_and_namespace_identity():
    before_ns = {"x": [1], "y": 2, "_": 5, "In": [], "_i3": "", "__name__": "m"}
    before = snapshot(before_ns)
    after_ns = dict(before_ns, y=3, made_by_exec=4)
    after_ns.pop("x")
    names = cell_names("exec('made_by_exec = 4')\ndel x\ny = y + 1", before, snapshot(after_ns))
    assert names.read == ["x", "y"]  # `del x` needs the x an earlier cell left
    assert names.defined == ["made_by_exec", "x", "y"]
    assert set(before) == {"x", "y"}  # IPython's own names are never variables


def test_unparsable_cells_still_report_namespace_changes():
    names = cell_names("this is not python", {}, {"a": 1})
    assert names.read == [] and names.defined == ["a"]


def test_only_roar_magic_cells_are_housekeeping():
    assert only_roar_magics("%roar log\n# a comment\n%roar status")
    assert only_roar_magics("%load_ext roar_kernel")
    assert not only_roar_magics("%roar log\nx = 1")
    assert not only_roar_magics("")


def test_audit_hooks_see_python_file_access(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("input")
    (tmp_path / "old.txt").write_text("old")
    tracer = AuditHookTracer()
    tracer.begin("cell")
    (tmp_path / "in.txt").read_text()
    with open("out.tmp", "w") as fh:  # relative path, temp + rename
        fh.write("x")
    os.replace("out.tmp", "out.txt")
    os.remove("old.txt")
    with open("scratch", "w"):
        pass
    os.unlink("scratch")
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    summary = parse_summary(tracer.end())
    (tmp_path / "after.txt").write_text("not traced")  # after end: not seen
    flags = {os.path.basename(f.path): f for f in summary.files}
    assert set(flags) == {"in.txt", "out.txt", "old.txt"}
    assert flags["in.txt"].read and not flags["in.txt"].write
    assert flags["out.txt"].write and flags["out.txt"].create
    assert flags["old.txt"].delete
    assert any("subprocess" in w for w in summary.warnings)
    assert summary.backend == "audit"


def _summary(*files: FileAccess) -> dict:
    return summary_json(Summary("ebpf", 0, None, None, list(files), [], []))


def test_merge_joins_the_pieces_of_a_split_cell():
    first = _summary(FileAccess("/p/a", write=True, create=True), FileAccess("/p/in", read=True))
    second = _summary(FileAccess("/p/a", read=True), FileAccess("/p/b", write=True))
    merged = {f.path: f for f in merge([first, second]).files}
    assert merged["/p/a"].write and merged["/p/a"].create
    assert not merged["/p/a"].read  # it read back what it wrote itself
    assert merged["/p/in"].read and merged["/p/b"].write
