"""Variable edges in a real kernel: a cell reads only names it can load from an earlier cell,
so re-executing a cell never makes a cycle or marks the cell that just ran as stale."""

from __future__ import annotations

import nbformat

WRITE_A = (
    "import csv\nN = 3\nwith open('a.csv', 'w', newline='') as f:\n    w = csv.writer(f)\n"
    "    for i in range(N):\n        w.writerow([i])"
)
WRITE_B = (
    "with open('b.csv', 'w', newline='') as f:\n    w = csv.writer(f)\n    for i in range(N):\n"
    "        r = [i, i * i]\n        w.writerow(r)"
)


def _dag(run_roar, repo) -> dict[int, dict]:
    return {n["step_number"]: n for n in run_roar("dag", "--json", cwd=repo).json()["nodes"]}


def test_rerunning_the_first_cell_makes_no_cycle_and_only_the_reader_is_stale(
    notebook, repo, run_roar
):
    nb = notebook()
    first, second = nb.add(WRITE_A), nb.add(WRITE_B)
    nb.run(first)
    nb.run(second)
    assert "← @1 (N, csv)" in run_roar("dag", cwd=repo).stdout  # not f, w, i: its own

    nb.run(first)  # the cell that defined N and csv, again
    dag = _dag(run_roar, repo)
    assert {s: n["dependencies"] for s, n in dag.items()} == {1: [], 2: [1]}
    assert {s: n["state"] for s, n in dag.items()} == {1: "active", 2: "stale"}
    assert run_roar("status", "--json", cwd=repo).json()["stale_steps"] == [2]

    nb.run(second)  # what status asks for clears it
    dag = _dag(run_roar, repo)
    assert {s: n["state"] for s, n in dag.items()} == {1: "active", 2: "active"}
    assert run_roar("status", "--json", cwd=repo).json()["stale_steps"] == []


def test_cells_that_read_each_other_out_of_order_still_make_a_dag(notebook, repo, run_roar):
    nb = notebook()
    a = nb.add("x = 1")
    b = nb.add("y = x + 1")
    nb.run(a)
    nb.run(b)
    nb.nb.cells[a].source = "x = y * 2"  # edited in place: the same cell id
    nbformat.write(nb.nb, nb.path)
    nb.run(a)
    dag = _dag(run_roar, repo)
    assert {s: n["dependencies"] for s, n in dag.items()} == {1: [2], 2: []}
    assert dag[1]["variable_dependencies"] == [{"step_number": 2, "names": ["y"]}]
    assert dag[2]["state"] == "stale"  # it used the x that cell 1 has redefined since
