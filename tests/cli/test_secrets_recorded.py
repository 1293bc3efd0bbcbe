"""Secrets never reach the store (issue 13, item 13): real `roar run`, real traced processes, and
the raw bytes of the SQLite files searched for every secret value, as are the outputs of
`roar run`, `roar log` and `roar show`."""

from __future__ import annotations

from pathlib import Path

# One distinct fake per place a secret can hide; the test asserts none of them is stored.
HIDDEN = "hidden-Tok3n-7f2a9c"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER = "Bearer-Secret-9d8c7b6a"
K_VALUE = "k-Value-Secret-5e4d"
INNER = "inner-Shell-Secret-4c3b"
PASSWORD = "Passw0rd-In-Shell-2b1a"
SLACK = "https://hooks.slack.com/services/T0SECRET0/B0SECRET0/SlackSecretPath1234567"
AZURE_KEY = "QXp1cmVTZWNyZXRLZXlGb3JUZXN0aW5nT25seTEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA=="
AZURE = (
    "DefaultEndpointsProtocol=https;AccountName=devacct;AccountKey="
    + AZURE_KEY
    + ";EndpointSuffix=core.windows.net"
)
MYSQL_PWD = "mysql-Pwd-Secret-1a2b"
TOP_K = "top-K-Secret-8f7e"
TOP_BEARER = "Top-Bearer-Secret-6d5c"

SECRETS = [HIDDEN, AWS_SECRET, BEARER, K_VALUE, INNER, PASSWORD, SLACK, AZURE_KEY, MYSQL_PWD,
           TOP_K, TOP_BEARER, "SlackSecretPath"]  # fmt: skip

TOOL = """\
import os, sys
names = ["HIDDEN_TOKEN", "AWS_SECRET_ACCESS_KEY", "SLACK_WEBHOOK",
         "AZURE_STORAGE_CONNECTION_STRING", "MYSQL_PWD"]
seen = sum(bool(os.environ.get(n)) for n in names)
with open(sys.argv[1], "w") as fh:
    fh.write(f"{len(sys.argv) - 2} args, {seen} secret variables\\n")
"""


def stored_bytes(repo: Path) -> bytes:
    roar_dir = repo / ".roar"
    return b"".join(p.read_bytes() for p in sorted(roar_dir.glob("roar.db*")))


def test_secrets_in_argv_shell_strings_headers_and_env_never_stored(repo, run_roar, write_script):
    write_script("tool.py", TOOL)
    env = {"SLACK_WEBHOOK": SLACK, "AZURE_STORAGE_CONNECTION_STRING": AZURE, "MYSQL_PWD": MYSQL_PWD}
    script = (
        f"export INNER_SECRET={INNER}; "
        f"python tool.py out1.txt -H 'Authorization: Bearer {BEARER}' -k {K_VALUE} "
        f"--password={PASSWORD}"
    )
    first = run_roar(
        "run", "env", f"HIDDEN_TOKEN={HIDDEN}", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
        "sh", "-c", script, cwd=repo, env=env,
    )  # fmt: skip
    second = run_roar(
        "run", "python", "tool.py", "out2.txt", "-H", f"Authorization: Bearer {TOP_BEARER}",
        "-k", TOP_K, cwd=repo, env=env,
    )  # fmt: skip
    # the real processes got the real values
    assert (repo / "out1.txt").read_text() == "5 args, 5 secret variables\n"
    assert (repo / "out2.txt").read_text() == "4 args, 3 secret variables\n"

    outputs = [first.stdout + first.stderr, second.stdout + second.stderr]
    for args in (["log"], ["log", "--json"], ["show", "@1"], ["show", "@1", "--json"],
                 ["show", "@2"], ["show", "@2", "--json"]):  # fmt: skip
        res = run_roar(*args, cwd=repo)
        outputs.append(res.stdout + res.stderr)
    raw = stored_bytes(repo)
    for secret in SECRETS:
        assert secret.encode() not in raw, f"{secret!r} is in the store's files"
        for text in outputs:
            assert secret not in text, f"{secret!r} is printed"

    # what is not secret stays readable
    one = run_roar("show", "@1", "--json", cwd=repo).json()
    assert one["argv"][:3] == ["env", "HIDDEN_TOKEN=***", "AWS_SECRET_ACCESS_KEY=***"]
    assert one["argv"][3:5] == ["sh", "-c"]
    assert one["argv"][5] == (
        "export INNER_SECRET=***; python tool.py out1.txt -H 'Authorization: Bearer ***' -k *** "
        "--password=***"
    )
    env_recorded = one["metadata"]["env"]
    assert env_recorded["SLACK_WEBHOOK"] == "***"
    assert env_recorded["AZURE_STORAGE_CONNECTION_STRING"] == "***"
    assert env_recorded["MYSQL_PWD"] == "***"
    two = run_roar("show", "@2", "--json", cwd=repo).json()
    assert two["argv"] == [
        "python", "tool.py", "out2.txt", "-H", "Authorization: Bearer ***", "-k", "***"
    ]  # fmt: skip
    assert "python tool.py out2.txt" in two["command"]
    assert [Path(f["path"]).name for f in two["outputs"]] == ["out2.txt"]


def test_a_rotated_token_is_the_same_step(repo, run_roar):
    """The step identity is taken from the masked command line: a new token is not a new step
    (and no digest of a secret is kept in the store)."""
    for token in ("s3cr3t-one", "s3cr3t-two"):
        run_roar("run", "python", "-c", "pass", f"--token={token}", cwd=repo)
    jobs = run_roar("log", "--json", cwd=repo).json()["jobs"]
    assert [j["step_ref"] for j in jobs] == ["@1", "@1"]
    assert b"s3cr3t" not in stored_bytes(repo)


def test_a_step_recorded_with_a_masked_secret_is_not_rerun_with_the_mask(repo, run_roar):
    run_roar("run", "python", "-c", "pass", "--token=s3cr3t-one", cwd=repo)
    rerun = run_roar("run", "@1", cwd=repo, check=False)
    assert rerun.returncode == 1
    assert "recorded with secrets masked" in rerun.stderr and "Traceback" not in rerun.stderr
    assert len(run_roar("log", "--json", cwd=repo).json()["jobs"]) == 1
