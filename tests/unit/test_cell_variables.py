"""Which names a cell reads and binds: a table of cell sources against what the flow-aware
pass (roar_kernel.variables.names_in) must answer.

A read is a load that can see the value an earlier cell left: one that comes before any store
of the name in the cell's own flow. Builtins are left out of the table (a cell's reads are
later cut down to names that held a value in the namespace anyway)."""

from __future__ import annotations

import builtins

import pytest

from roar_kernel.variables import cell_names, names_in, snapshot

BUILTINS = set(dir(builtins))

# (source, reads, binds); binds are the names bound, deleted or mutated at top level.
CASES = [
    # The issue: names a cell assigns before it reads them are not reads.
    (
        "with open('out.csv', 'w', newline='') as f:\n"
        "    w = csv.writer(f)\n"
        "    for i in range(N):\n"
        "        r = [i, i * i]\n"
        "        w.writerow(r)",
        {"csv", "N"},
        {"f", "w", "i", "r"},
    ),
    (
        "import csv\nN = 10\nwith open('a.csv', 'w') as f:\n    w = csv.writer(f)\n"
        "    w.writerow([N])",
        set(),
        {"csv", "N", "f", "w"},
    ),
    # Order within a statement: what it evaluates comes before what it binds.
    ("x = x + 1", {"x"}, {"x"}),
    ("y = 1\nz = y", set(), {"y", "z"}),
    ("print(x)\nx = 1", {"x"}, {"x"}),
    ("x = 1 if cond else other", {"cond", "other"}, {"x"}),
    ("a, *rest = items\nprint(rest)", {"items"}, {"a", "rest"}),
    ("x: int = 5\ny: int", set(), {"x"}),
    ("f'{name}!'", {"name"}, set()),
    ("result = await fetch(url)", {"fetch", "url"}, {"result"}),
    # Augmented assignment reads first.
    ("n += 1", {"n"}, {"n"}),
    ("total = 0\ntotal += 5", set(), {"total"}),
    ("counts[k] += 1", {"counts", "k"}, {"counts"}),
    # Attribute and subscript stores load the object: a read, and a mutation, not a binding.
    ("df['c'] = 1", {"df"}, {"df"}),
    ("obj.attr.deep = 2", {"obj"}, {"obj"}),
    ("df = load()\ndf['c'] = 1\ndf", {"load"}, {"df"}),
    ("nums.append(4)", {"nums"}, set()),
    # del needs the name: a read, then it is gone.
    ("del gone", {"gone"}, {"gone"}),
    ("x = 1\ndel x", set(), {"x"}),
    ("del d['k']", {"d"}, {"d"}),
    ("del a, b[0]", {"a", "b"}, {"a", "b"}),
    # Comprehensions: their own scope; the first iterable is evaluated outside.
    ("squares = [k * k for k in range(n)]", {"n"}, {"squares"}),
    ("k = [k for k in ks]", {"ks"}, {"k"}),
    ("[x for x in x]", {"x"}, set()),
    ("pairs = [(a, b) for a in A for b in B if a != b]", {"A", "B"}, {"pairs"}),
    ("{k: v for k, v in d.items()}", {"d"}, set()),
    ("[w for w in words]\nw", {"words", "w"}, set()),
    ("any((m := v) > 3 for v in vals)\nprint(m)", {"vals"}, {"m"}),
    ("x = [y := 5, y ** 2]", set(), {"x", "y"}),
    ("if (n := len(xs)) > 3:\n    print(n)", {"xs"}, {"n"}),
    # Branches: bound afterwards only if every branch that carries on binds it.
    ("if flag:\n    a = 1\nelse:\n    a = 2\nprint(a)", {"flag"}, {"a"}),
    ("if flag:\n    a = 1\nprint(a)", {"flag", "a"}, {"a"}),
    ("if x:\n    raise ValueError\nelse:\n    y = 1\nprint(y)", {"x"}, {"y"}),
    ("try:\n    import numpy as np\nexcept ImportError:\n    np = None\nnp", set(), {"np"}),
    (
        "try:\n    v = compute()\nexcept Exception as e:\n    print(e)\n    raise\nprint(v)",
        {"compute"},
        {"v", "e"},
    ),
    ("try:\n    v = compute()\nexcept ValueError:\n    pass\nprint(v)", {"compute", "v"}, {"v"}),
    ("try:\n    v = 1\nfinally:\n    done = True\nprint(v, done)", set(), {"v", "done"}),
    ("try:\n    pass\nexcept E as err:\n    pass\nerr", {"E", "err"}, {"err"}),
    (
        "match cmd:\n    case ['go', where]:\n        dest = where\n    case _:\n"
        "        dest = None\nprint(dest)",
        {"cmd"},
        {"where", "dest"},
    ),
    (
        "match point:\n    case Point(x=0):\n        label = 'origin'\nprint(label)",
        {"point", "Point", "label"},
        {"label"},
    ),
    # Loops are taken to run at least once; a load before the store in the body is a read.
    ("for i in range(3):\n    pass\nprint(i)", set(), {"i"}),
    ("for row in rows:\n    last = row\nprint(last)", {"rows"}, {"row", "last"}),
    ("for x in xs:\n    acc = acc + x", {"xs", "acc"}, {"x", "acc"}),
    ("while cond():\n    n = step(n)", {"cond", "step", "n"}, {"n"}),
    (
        "for x in xs:\n    if not x:\n        continue\n    seen = x\nprint(seen)",
        {"xs"},
        {"x", "seen"},
    ),
    (
        "for i, (k, v) in enumerate(d.items()):\n    out[k] = v",
        {"d", "out"},
        {"i", "k", "v", "out"},
    ),
    # with / async with bind their targets in order.
    (
        "with open(p) as fh, open(fh.name + '.bak', 'w') as out:\n    out.write(fh.read())",
        {"p"},
        {"fh", "out"},
    ),
    ("async with lock:\n    await job()", {"lock", "job"}, set()),
    # Imports bind.
    ("import os.path\nfrom json import dumps as d\nd(os.sep)", set(), {"os", "d"}),
    ("from m import *", set(), set()),
    ("global g\ng = 1\ng", set(), {"g"}),
    # Functions and lambdas: defaults and decorators now; the body's free names, unless the
    # cell binds them somewhere (the call sees the cell's own), are reads.
    ("def f(a):\n    return a + scale", {"scale"}, {"f"}),
    ("def f(a):\n    return a * k\nk = 2", set(), {"f", "k"}),
    ("def f(x=default):\n    return x", {"default"}, {"f"}),
    ("@decorate\ndef f(): pass", {"decorate"}, {"f"}),
    ("def f(x: Frame) -> Result:\n    pass", {"Frame", "Result"}, {"f"}),
    ("g = lambda v: v * factor", {"factor"}, {"g"}),
    ("(lambda: x)()\nx = 1", set(), {"x"}),
    ("def counter():\n    global hits\n    hits += 1", {"hits"}, {"counter"}),
    ("def f():\n    local = 1\n    return local", set(), {"f"}),
    (
        "def outer():\n    y = 1\n    def inner():\n        return y + z\n    return inner",
        {"z"},
        {"outer"},
    ),
    ("def f():\n    return [v * scale for v in values]", {"scale", "values"}, {"f"}),
    ("def f():\n    import json\n    return json.dumps(data)", {"data"}, {"f"}),
    # Class bodies run now, in their own scope; methods run later.
    (
        "class Model(Base):\n    size = 3\n    doubled = size * 2\n    def fit(self):\n"
        "        return self.size + lr",
        {"Base", "lr"},
        {"Model"},
    ),
    ("n = 3\nclass C:\n    m = n", set(), {"n", "C"}),
    # What IPython makes of magics and shell escapes: calls, nothing bound.
    ("get_ipython().system('ls')", {"get_ipython"}, set()),
]


@pytest.mark.parametrize(("source", "reads", "binds"), CASES, ids=[c[0][:40] for c in CASES])
def test_reads_and_binds(source, reads, binds):
    got_reads, got_binds = names_in(source)
    assert got_reads - BUILTINS == reads
    assert got_binds == binds


def test_unparsable_code_yields_nothing():
    assert names_in("x = = 1") == (set(), set())


def test_the_issue_cell_does_not_read_what_it_defines_itself():
    """Cell 2 of the report: `@2 ← @1 (N, csv, f, w)` listed f and w, which it binds."""
    first = {"csv": object(), "N": 10, "f": object(), "w": object(), "i": 9}
    before = snapshot(first)
    after = snapshot({**first, "f": object(), "w": object(), "i": 3, "r": [3, 9]})
    cell = (
        "with open('b.csv', 'w') as f:\n    w = csv.writer(f)\n    for i in range(N):\n"
        "        r = [i, i * i]\n        w.writerow(r)"
    )
    names = cell_names(cell, before, after)
    assert names.read == ["N", "csv"]
    assert names.defined == ["f", "i", "r", "w"]
