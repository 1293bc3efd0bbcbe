"""Cells run out of order can read each other's names; the steps' DAG stays acyclic, and the
edge left out is the one to a superseded run."""

from __future__ import annotations

from roar.query.lineage import build_dag
from roar.store.views import JobView, VariableRef


def _cell(job_id: int, step: int, *, reads: dict[str, int] | None = None, defines=()) -> JobView:
    return JobView(
        id=job_id, uid=f"u{job_id}", session_id=1, kind="cell", step_number=step,
        step_name=None, command=f"cell {step}", argv=[], cwd=".", started_at=float(job_id),
        ended_at=job_id + 0.5, exit_code=0, interrupted=False, tracer="audit", git_commit=None,
        git_branch=None, git_remote=None, git_dirty=False, git_diff_hash=None, metadata={},
        variables_read=[VariableRef(n, p) for n, p in (reads or {}).items()],
        variables_defined=list(defines),
    )  # fmt: skip


def _acyclic(deps: dict[int, list[int]]) -> bool:
    seen: set[int] = set()
    done: set[int] = set()

    def visit(step: int) -> bool:
        if step in done:
            return True
        if step in seen:
            return False
        seen.add(step)
        ok = all(visit(d) for d in deps.get(step, []))
        done.add(step)
        return ok

    return all(visit(s) for s in deps)


def test_cells_that_read_each_other_out_of_order_make_no_cycle():
    jobs = [
        _cell(1, 1, defines=["x"]),  # A: x = 1
        _cell(2, 2, reads={"x": 1}, defines=["y"]),  # B: y = x + 1
        _cell(3, 1, reads={"y": 2}, defines=["x"]),  # A edited and rerun: x = y * 2
    ]
    for expanded in (False, True):
        dag = build_dag(1, jobs, expanded=expanded)
        current = {n.job.step_number: n for n in dag.nodes if n.latest}
        deps = {s: n.dependencies for s, n in current.items()}
        assert deps == {1: [2], 2: []} and _acyclic(deps)
        assert current[1].variable_dependencies == {2: ["y"]}
        assert current[2].variable_dependencies == {}
        assert current[2].stale  # B used the x that A has since redefined
        # (in the expanded view that run of B is superseded: it read a superseded x)
        assert current[2].state == ("superseded" if expanded else "stale")


def test_an_edge_to_a_superseded_run_stays_when_it_closes_no_cycle():
    jobs = [
        _cell(1, 1, defines=["n"]),
        _cell(2, 2, reads={"n": 1}),
        _cell(3, 1, defines=["n"]),  # cell 1 rerun: cell 2 read the old n
    ]
    dag = build_dag(1, jobs)
    nodes = {n.job.step_number: n for n in dag.nodes}
    assert nodes[2].dependencies == [1] and nodes[2].variable_dependencies == {1: ["n"]}
    assert (nodes[1].state, nodes[2].state) == ("active", "stale")


def test_a_longer_cycle_is_broken_too():
    jobs = [
        _cell(1, 1, defines=["a"]),
        _cell(2, 2, reads={"a": 1}, defines=["b"]),
        _cell(3, 3, reads={"b": 2}, defines=["c"]),
        _cell(4, 1, reads={"c": 3}, defines=["a"]),
    ]
    deps = {n.job.step_number: n.dependencies for n in build_dag(1, jobs).nodes}
    assert deps == {1: [3], 2: [], 3: [2]}
