"""Cells are recorded by the launcher after the reply: in order, with nothing lost, and never
with the hash of content a later cell wrote."""

from __future__ import annotations

import time

import pytest

from roar.record.cells import ExecutedCell
from roar.record.hashing import identities
from roar.tracing.run import FileAccess, Summary, parse_summary, summary_json
from roar_kernel.recording import RecordingClient, RecordingService
from tests.kernel.conftest import cell_text, jobs_in, names


@pytest.fixture
def handover():
    service = RecordingService()
    client = RecordingClient(service.path)
    client.hello([])
    yield service, client
    client.close()
    service.drain(10)
    service.close()


def _cell(repo, source: str, **fields) -> ExecutedCell:
    now = time.time()
    return ExecutedCell(source=source, cwd=str(repo), started_at=now, ended_at=now, **fields)


def _wrote(*paths) -> dict:
    files = [FileAccess(str(p), write=True, create=True) for p in paths]
    return summary_json(Summary("audit", 0, None, None, files, [], []))


def test_summary_json_is_the_inverse_of_parse_summary():
    summary = Summary(
        "ebpf", 0, None, None,
        [FileAccess("/p/in", read=True, mtime_ns_before=7), FileAccess("/p/d", is_dir=True,
                                                                       dir_list=True)],
        [("/p/a", "/p/b")], [{"pid": 3}], ["w"],
    )  # fmt: skip
    assert parse_summary(summary_json(summary)) == summary


def test_cells_are_written_in_order_with_variable_links(repo, handover):
    _, client = handover
    (repo / "a.csv").write_text("1,2")
    first = _cell(repo, "rows = load()", execution_count=1, variables_defined=["rows"])
    second = _cell(repo, "total = sum(rows)", execution_count=2, variables_read=["rows"])
    client.submit(first, [_wrote(repo / "a.csv")], identities([str(repo / "a.csv")]))
    client.submit(second, [_wrote()], {})
    assert client.flush() == []
    one, two = jobs_in(repo)
    assert [one.execution_count, two.execution_count] == [1, 2]
    assert names(one.outputs) == ["a.csv"]
    assert [(v.name, v.producer_job_id) for v in two.variables_read] == [("rows", one.id)]


def test_a_file_rewritten_before_hashing_is_left_out_with_a_warning(repo, handover):
    _, client = handover
    kept, rewritten = repo / "kept.txt", repo / "out.txt"
    kept.write_text("stays")
    rewritten.write_text("what the cell wrote")
    seen = identities([str(kept), str(rewritten)])
    rewritten.write_text("what a later cell wrote, longer")  # before the launcher hashed it
    client.submit(_cell(repo, "write()"), [_wrote(kept, rewritten)], seen)
    client.flush()
    (job,) = jobs_in(repo)
    assert names(job.outputs) == ["kept.txt"]
    assert any("changed before roar could hash" in w for w in job.metadata["warnings"])


def test_a_cell_that_cannot_be_recorded_becomes_a_note_and_the_next_still_is(repo, handover):
    _, client = handover
    notes = client.submit(_cell(repo, "broken()", execution_count=4), [{"files": [{}]}], {})
    notes += client.submit(_cell(repo, "fine()", execution_count=5), [_wrote()], {})
    notes += client.flush()  # the note comes with whichever reply follows the failure
    assert len(notes) == 1 and "cell [4] was not recorded" in notes[0]
    assert [j.execution_count for j in jobs_in(repo)] == [5]


def test_drain_writes_what_is_queued_when_the_kernel_has_gone(repo):
    service = RecordingService()
    client = RecordingClient(service.path)
    client.hello([])
    for count in range(1, 4):
        client.submit(_cell(repo, f"x = {count}", execution_count=count), [_wrote()], {})
    client.close()
    assert service.drain(30)
    service.close()
    assert [j.execution_count for j in jobs_in(repo)] == [1, 2, 3]


def test_run_all_then_a_roar_magic_sees_every_cell(notebook, repo):
    nb = notebook()
    for i in range(4):  # as "Run All" does: no waiting for the recorder between cells
        nb.run(nb.add(f"with open('f{i}.txt', 'w') as fh:\n    fh.write('{i}' * 10)"), False)
    log = cell_text(nb.run(nb.add("%roar log"), settle=False))
    assert log.count("cell [") >= 4, log
    assert [names(j.outputs) for j in jobs_in(repo)] == [[f"f{i}.txt"] for i in range(4)]


def test_a_shell_roar_command_in_a_cell_sees_the_cells_before_it(notebook, repo):
    nb = notebook()
    nb.run(nb.add("open('made.txt', 'w').write('x')"), settle=False)
    out = cell_text(nb.run(nb.add("!roar show made.txt"), settle=False))
    assert "made.txt" in out and "not tracked" not in out.lower(), out


def test_the_last_cells_are_written_when_the_kernel_shuts_down(notebook, repo):
    nb = notebook()
    for i in range(3):
        nb.run(nb.add(f"v{i} = {i}"), settle=False)
    nb.client._cleanup_kernel()  # a shutdown request, as Jupyter sends when a notebook closes
    assert [j.execution_count for j in jobs_in(repo)] == [1, 2, 3]
