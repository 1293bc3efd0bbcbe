"""Secrets in notebook cells never reach the store (issue 13, item 13): a real roar kernel runs
cells that hold secrets in code, in a `!` shell line, in a `%roar run` command and in an error
message; the raw bytes of the SQLite files must hold none of them."""

from __future__ import annotations

from pathlib import Path

from tests.kernel.conftest import jobs_in

API_KEY = "cellApiKey-4f3e2d1c"
BEARER = "cellBearer-9a8b7c6d"
HIDDEN = "cellHidden-5e6f7a8b"
K_VALUE = "cellKValue-1b2c3d4e"
URL_PASSWORD = "cellUrlPw-7c8d9e0f"
SLACK = "https://hooks.slack.com/services/T0CELL000/B0CELL000/CellSlackPath12345678"
SECRETS = [API_KEY, BEARER, HIDDEN, K_VALUE, URL_PASSWORD, SLACK, "CellSlackPath"]


def stored_bytes(repo: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((repo / ".roar").glob("roar.db*")))


def test_secrets_in_cells_and_roar_run_magic_never_stored(notebook, repo):
    nb = notebook(env={"SLACK_WEBHOOK": SLACK})
    nb.cell(f"api_key = '{API_KEY}'\nheaders = {{'Authorization': 'Bearer {BEARER}'}}")
    nb.cell(f"!echo -H 'Authorization: Bearer {BEARER}' > /dev/null")
    nb.cell(f"%roar run env HIDDEN_TOKEN={HIDDEN} sh -c 'echo -k {K_VALUE} > out.txt'")
    nb.cell(f"raise ValueError('cannot reach https://me:{URL_PASSWORD}@db.invalid/x')")

    assert (repo / "out.txt").read_text() == f"-k {K_VALUE}\n"  # the command got the real value
    raw = stored_bytes(repo)
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} is in the store's files"

    jobs = jobs_in(repo)
    cells = [j for j in jobs if j.kind == "cell"]
    (run,) = [j for j in jobs if j.kind == "run"]
    assert run.argv == ["env", "HIDDEN_TOKEN=***", "sh", "-c", "echo -k *** > out.txt"]
    assert cells[0].source == "api_key = '***'\nheaders = {'Authorization': 'Bearer ***'}"
    assert cells[0].command.endswith("api_key = '***'")
    assert cells[1].source == "!echo -H 'Authorization: Bearer ***' > /dev/null"
    assert cells[-1].metadata["error"]["evalue"] == "cannot reach https://me:***@db.invalid/x"
    assert cells[0].metadata["env"]["SLACK_WEBHOOK"] == "***"
