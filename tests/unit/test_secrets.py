"""Secret masking (roar/record/secrets.py): a table of shapes, each input with the masked output
expected, negatives (which must come back untouched) included.

The values are fakes in the real formats (issue 13, item 13): what was stored in clear before
(`env A=… cmd`, `sh -c '…'`, `Authorization: Bearer …`, `-k value`, SLACK_WEBHOOK,
AZURE_STORAGE_CONNECTION_STRING, MYSQL_PWD) and the known token formats.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from roar.record.envinfo import recorded_environment
from roar.record.secrets import (
    _NAME_HINTS,
    MASK,
    mask_argv,
    mask_cell_source,
    mask_text,
    mask_value,
    secret_name,
)

M = MASK
# Fakes in the real shapes (none of them is a live credential).
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2  # GitHub classic PAT: ghp_ + 36+
GH_FINE = "github_pat_11ABCDEFG0123456789_" + "abcdefghijKLMNOPQRST" * 3
GLPAT = "glpat-" + "AbCdEfGhIjKlMnOpQrSt"
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
OPENAI = "sk-proj-" + "Abc123Def456Ghi789Jkl012Mno345"
ANTHROPIC = "sk-ant-api03-" + "AbCdEfGh12345678" * 5 + "-AAAA"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SLACK_BOT = "xoxb-123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
SLACK_HOOK = "https://hooks.slack.com/services/T00000000/B00000000/" + "XXXXXXXXXXXXXXXXXXXXXXXX"
AKIA = "AKIAIOSFODNN7EXAMPLE"
ASIA = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
AZURE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_CONN = (
    "DefaultEndpointsProtocol=https;AccountName=devacct;AccountKey="
    + AZURE_KEY
    + ";EndpointSuffix=core.windows.net"
)
AZURE_CLIENT_SECRET = "abc8Q~" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
GCP_KEY = "AIzaSyA-" + "1234567890abcdefghijklmnopqrstu"
GCP_OAUTH = "ya29.a0AfH6SMB" + "x" * 20 + "Yz09"
NPM = "npm_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PYPI = "pypi-AgEIcHlwaS5vcmcCJDEyMzQ1Njc4LTEyMzQtMTIzNC0xMjM0LTEyMzQ1Njc4OTAxMgACKlsz"
VAULT = "hvs.CAESIAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq9\nQ2Fz+9Zx\n-----END RSA PRIVATE KEY-----"
)
BLAKE3 = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
GIT_SHA = "3f786850e387550fdab836ed7e6dc881de23001b"

ARGV_CASES: list[tuple[str, list[str], list[str]]] = [
    # --- assignments before the program -------------------------------------------------
    ("env assignments",
     ["env", "HIDDEN_TOKEN=s3cr3t-hidden", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "python", "t.py"],
     ["env", f"HIDDEN_TOKEN={M}", f"AWS_SECRET_ACCESS_KEY={M}", "python", "t.py"]),
    ("env with options",
     ["env", "-i", "-u", "HOME", "MYSQL_PWD=dbpw", "LR=0.1", "./run.sh"],
     ["env", "-i", "-u", "HOME", f"MYSQL_PWD={M}", "LR=0.1", "./run.sh"]),
    ("leading assignments",
     ["DB_PASSWORD=hunter2", "EPOCHS=3", "./run.sh"],
     [f"DB_PASSWORD={M}", "EPOCHS=3", "./run.sh"]),
    ("docker -e NAME=value",
     ["docker", "run", "-e", f"GITHUB_TOKEN={GHP}", "-e", "DEBUG=1", "-p", "8080:80", "img"],
     ["docker", "run", "-e", f"GITHUB_TOKEN={M}", "-e", "DEBUG=1", "-p", "8080:80", "img"]),
    # --- shell strings and code strings ------------------------------------------------------
    ("sh -c bearer header",
     ["sh", "-c", "curl -H 'Authorization: Bearer abc.def.ghi123' https://api.example.com/v1"],
     ["sh", "-c", f"curl -H 'Authorization: Bearer {M}' https://api.example.com/v1"]),
    ("bash -lc export",
     ["bash", "-lc", f"export HF_TOKEN={HF} && python train.py --epochs 3"],
     ["bash", "-lc", f"export HF_TOKEN={M} && python train.py --epochs 3"]),
    ("sh -c assignment before a command",
     ["sh", "-c", "PGPASSWORD=pgpw psql -h db -U app -c 'select 1'"],
     ["sh", "-c", f"PGPASSWORD={M} psql -h db -U app -c 'select 1'"]),
    ("sh -c mysql attached -p",
     ["sh", "-c", "mysql -u root -pS3cretPw db < dump.sql"],
     ["sh", "-c", f"mysql -u root -p{M} db < dump.sql"]),
    ("nested sh -c",
     ["sh", "-c", 'sh -c "curl -u bob:bobpw https://x.io"'],
     ["sh", "-c", f'sh -c "curl -u bob:{M} https://x.io"']),
    ("sh -c variable references stay",
     ["sh", "-c", 'echo "$API_TOKEN" | tool --token "$API_TOKEN" -H "Authorization: Bearer ${TOK}"'],
     ["sh", "-c", 'echo "$API_TOKEN" | tool --token "$API_TOKEN" -H "Authorization: Bearer ${TOK}"']),
    ("sh -c token format in a pipeline",
     ["sh", "-c", f"echo {GHP} | gh auth login --with-token; ls -la"],
     ["sh", "-c", f"echo {M} | gh auth login --with-token; ls -la"]),
    ("python -c",
     ["python", "-c", f"import os; os.environ['OPENAI_API_KEY'] = '{OPENAI}'; run()"],
     ["python", "-c", f"import os; os.environ['OPENAI_API_KEY'] = '{M}'; run()"]),
    ("python -c quoted assignment",
     ["python3", "-c", "import x; x.login(password='pw-in-code', user='me')"],
     ["python3", "-c", f"import x; x.login(password='{M}', user='me')"]),
    ("node -e header",
     ["node", "-e", "fetch(u, {headers: {Authorization: 'Bearer abcdef123456'}})"],
     ["node", "-e", f"fetch(u, {{headers: {{Authorization: 'Bearer {M}'}}}})"]),
    ("psql -c SQL password",
     ["psql", "-c", "ALTER USER app WITH PASSWORD 'n3wpw'"],
     ["psql", "-c", f"ALTER USER app WITH PASSWORD '{M}'"]),
    ("mysql -e SQL password",
     ["mysql", "-e", "CREATE USER 'a'@'%' IDENTIFIED WITH mysql_native_password BY 'pw1'; "
                     "SET PASSWORD = PASSWORD('pw2')"],
     ["mysql", "-e", f"CREATE USER 'a'@'%' IDENTIFIED WITH mysql_native_password BY '{M}'; "
                     f"SET PASSWORD = PASSWORD('{M}')"]),
    # --- headers ----------------------------------------------------------------------------
    ("curl bearer JWT",
     ["curl", "-H", f"Authorization: Bearer {JWT}", "https://x.io"],
     ["curl", "-H", f"Authorization: Bearer {M}", "https://x.io"]),
    ("x-api-key header",
     ["curl", "--header", "X-Api-Key: 0a1b2c3d4e5f", "https://x.io"],
     ["curl", "--header", f"X-Api-Key: {M}", "https://x.io"]),
    ("git -c extraHeader",
     ["git", "-c", "http.extraHeader=Authorization: Basic dXNlcjpwYXNz", "fetch"],
     ["git", "-c", f"http.extraHeader=Authorization: Basic {M}", "fetch"]),
    # --- flags ------------------------------------------------------------------------------
    ("long secret flags",
     ["python", "train.py", "--api-key", "abc123", "--wandb-token=xyz789", "--lr=0.01"],
     ["python", "train.py", "--api-key", M, f"--wandb-token={M}", "--lr=0.01"]),
    ("go-style single-dash flag",
     ["./server", "-password", "pw123", "-port", "80"],
     ["./server", "-password", M, "-port", "80"]),
    ("java system property",
     ["java", "-Djavax.net.ssl.keyStorePassword=changeit", "-jar", "app.jar"],
     ["java", f"-Djavax.net.ssl.keyStorePassword={M}", "-jar", "app.jar"]),
    ("helm --set list", ["helm", "install", "x", "c", "--set", "db.password=pgpw,db.user=app"],
     ["helm", "install", "x", "c", "--set", f"db.password={M},db.user=app"]),
    ("-k of an unknown program", ["./tool", "-k", "Zx9-secret-value"], ["./tool", "-k", M]),
    ("-p of an unknown program", ["./deploy.sh", "-p", "prod-pw-99"], ["./deploy.sh", "-p", M]),
    ("curl -u", ["curl", "-u", "alice:pa55word", "https://x.io"],
     ["curl", "-u", f"alice:{M}", "https://x.io"]),
    ("mysql -pPASSWORD", ["mysql", "-u", "root", "-pS3cretPw", "mydb"],
     ["mysql", "-u", "root", f"-p{M}", "mydb"]),
    ("sshpass -p", ["sshpass", "-p", "rootpw123", "ssh", "user@host"],
     ["sshpass", "-p", M, "ssh", "user@host"]),
    ("redis-cli -a", ["redis-cli", "-a", "redispw", "ping"], ["redis-cli", "-a", M, "ping"]),
    ("openssl -k", ["openssl", "enc", "-aes-256-cbc", "-k", "mypassphrase", "-in", "a"],
     ["openssl", "enc", "-aes-256-cbc", "-k", M, "-in", "a"]),
    ("openssl -passin pass:", ["openssl", "rsa", "-passin", "pass:hunter22", "-in", "key.pem"],
     ["openssl", "rsa", "-passin", f"pass:{M}", "-in", "key.pem"]),
    ("ssh-keygen -N", ["ssh-keygen", "-t", "ed25519", "-N", "newphrase", "-f", "id"],
     ["ssh-keygen", "-t", "ed25519", "-N", M, "-f", "id"]),
    ("unzip -P", ["unzip", "-P", "zippw", "a.zip"], ["unzip", "-P", M, "a.zip"]),
    ("htpasswd -b", ["htpasswd", "-bc", ".htpasswd", "admin", "adminpw"],
     ["htpasswd", "-bc", ".htpasswd", "admin", M]),
    ("gh secret --body", ["gh", "secret", "set", "DEPLOY_KEY", "--body", "keyvalue123"],
     ["gh", "secret", "set", "DEPLOY_KEY", "--body", M]),
    ("aws configure set", ["aws", "configure", "set", "aws_secret_access_key", "plainvalue123"],
     ["aws", "configure", "set", "aws_secret_access_key", M]),
    ("git config token", ["git", "config", "--global", "github.token", "plainvalue123"],
     ["git", "config", "--global", "github.token", M]),
    # --- values anywhere --------------------------------------------------------------------
    ("url password", ["git", "clone", f"https://oauth2:{GLPAT}@gitlab.com/g/p.git"],
     ["git", "clone", f"https://oauth2:{M}@gitlab.com/g/p.git"]),
    ("query token", ["python", "get.py", "https://ex.com/d.csv?token=abcd1234efgh&format=csv"],
     ["python", "get.py", f"https://ex.com/d.csv?token={M}&format=csv"]),
    ("connection string positional", ["python", "up.py", AZURE_CONN],
     ["python", "up.py", AZURE_CONN.replace(AZURE_KEY, M)]),
    ("connection string flag", ["az", "storage", "blob", "list", "--connection-string", AZURE_CONN],
     ["az", "storage", "blob", "list", "--connection-string", M]),
    ("roar run inside a shell string",
     ["sh", "-c", "roar run -n fetch --allow-dirty ./get.sh -k Zx9-secret-value"],
     ["sh", "-c", f"roar run -n fetch --allow-dirty ./get.sh -k {M}"]),
    ("positional token format", ["python", "push.py", HF, "--repo", "me/model"],
     ["python", "push.py", M, "--repo", "me/model"]),
    # --- negatives: nothing to mask ---------------------------------------------------------
    ("plain training run",
     ["python", "train.py", "--lr=0.01", "--epochs", "10", "--data", "data/train.csv"],
     ["python", "train.py", "--lr=0.01", "--epochs", "10", "--data", "data/train.csv"]),
    ("curl -k is --insecure", ["curl", "-k", "https://self-signed.local/"],
     ["curl", "-k", "https://self-signed.local/"]),
    ("pytest -k expression", ["python", "-m", "pytest", "-k", "test_v2_token and not slow"],
     ["python", "-m", "pytest", "-k", "test_v2_token and not slow"]),
    ("pytest -k word", ["pytest", "-k", "test_login_token2"], ["pytest", "-k", "test_login_token2"]),
    ("sort -k", ["sort", "-k", "2,2", "data.tsv"], ["sort", "-k", "2,2", "data.tsv"]),
    ("gzip -k keeps", ["gzip", "-k", "results2024.csv"], ["gzip", "-k", "results2024.csv"]),
    ("mkdir -p", ["mkdir", "-p", "outputs"], ["mkdir", "-p", "outputs"]),
    ("ssh -p port", ["ssh", "-p", "2222", "host"], ["ssh", "-p", "2222", "host"]),
    ("server -p port", ["./serve", "-p", "8080"], ["./serve", "-p", "8080"]),
    ("mysql -p prompts", ["mysql", "-u", "root", "-p", "mydb"], ["mysql", "-u", "root", "-p", "mydb"]),
    ("docker --password-stdin", ["docker", "login", "-u", "me", "--password-stdin", "reg.io"],
     ["docker", "login", "-u", "me", "--password-stdin", "reg.io"]),
    ("boolean token flag", ["python", "t.py", "--use-auth-token", "--model", "bert"],
     ["python", "t.py", "--use-auth-token", "--model", "bert"]),
    ("token file path", ["roar", "login", "--token-file", "~/.config/roar/auth.json"],
     ["roar", "login", "--token-file", "~/.config/roar/auth.json"]),
    ("git commit hash", ["git", "checkout", GIT_SHA], ["git", "checkout", GIT_SHA]),
    ("blake3 digest", ["b3sum", "--check", BLAKE3], ["b3sum", "--check", BLAKE3]),
    ("long file name",
     ["python", "t.py", "--ckpt", "runs/exp_2024-01-01_lr0.01/model_epoch10_Final.ckpt"],
     ["python", "t.py", "--ckpt", "runs/exp_2024-01-01_lr0.01/model_epoch10_Final.ckpt"]),
    ("readable run name", ["python", "t.py", "--run-name", "exp_lr0.001_bs32_ep100_seed42_AdamW"],
     ["python", "t.py", "--run-name", "exp_lr0.001_bs32_ep100_seed42_AdamW"]),
    ("ml config names", ["python", "t.py", "max_new_tokens=512", "tokenizer.pad_token=[PAD]"],
     ["python", "t.py", "max_new_tokens=512", "tokenizer.pad_token=[PAD]"]),
    ("ssh url without password", ["git", "clone", "ssh://git@github.com/org/repo.git"],
     ["git", "clone", "ssh://git@github.com/org/repo.git"]),
    ("python -c harmless", ["python", "-c", "print(1 + 1)"], ["python", "-c", "print(1 + 1)"]),
    ("heredoc config lines",
     ["sh", "-c", "cat <<EOF > cfg.ini\n[auth]\npassword = hunter2\nuser = me\nEOF"],
     ["sh", "-c", f"cat <<EOF > cfg.ini\n[auth]\npassword = {M}\nuser = me\nEOF"]),
    ("sh -c harmless", ["sh", "-c", "cat a.txt > b.txt && echo done"],
     ["sh", "-c", "cat a.txt > b.txt && echo done"]),
]  # fmt: skip

ENV_CASES: list[tuple[str, str, str]] = [
    ("SLACK_WEBHOOK", SLACK_HOOK, M),
    ("AZURE_STORAGE_CONNECTION_STRING", AZURE_CONN, M),
    ("MYSQL_PWD", "mysqlpw", M),
    ("PGPASSWORD", "pgpw", M),
    ("HIDDEN_TOKEN", "whatever", M),
    ("HF_TOKEN", HF, M),
    ("AWS_ACCESS_KEY_ID", AKIA, M),
    ("NOTIFY_URL", SLACK_HOOK, f"https://hooks.slack.com/services/{M}"),
    ("STORAGE", AZURE_CONN, AZURE_CONN.replace(AZURE_KEY, M)),
    ("DATABASE_URL", "postgres://app:pgpw@db:5432/app", f"postgres://app:{M}@db:5432/app"),
    ("BLOB_URL", "https://a.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=abc%2Bdef%3D",
     f"https://a.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig={M}"),
    ("SERVICE_ACCOUNT_INFO", f'{{"private_key": "{PEM}", "client_email": "x@p.iam"}}',
     f'{{"private_key": "{M}", "client_email": "x@p.iam"}}'),
    ("SOME_VALUE", GCP_KEY, M),
    ("APP_CONFIG", "db:\n  host: db\n  password: pgpw99\napi_key: k-123\n",
     f"db:\n  host: db\n  password: {M}\napi_key: {M}\n"),
    ("UNKNOWN_FORMAT", "xK9mP2qR7sT4uV6wY8zA1bC3dE5fG0hJ2kL4", M),
    # negatives
    ("TOKENIZERS_PARALLELISM", "false", "false"),
    ("MAX_TOKENS", "512", "512"),
    ("GIT_AUTHOR_NAME", "Jane Doe", "Jane Doe"),
    ("SSH_KEY_PATH", "/home/u/.ssh/id_ed25519", "/home/u/.ssh/id_ed25519"),
    ("RUN_ID", GIT_SHA, GIT_SHA),
    ("HOME", "/root", "/root"),
    ("PATH", "/usr/local/bin:/usr/bin", "/usr/local/bin:/usr/bin"),
    ("CUDA_VISIBLE_DEVICES", "0,1", "0,1"),
    ("PWD", "/work/project", "/work/project"),
    ("XDG_SESSION_ID", "3", "3"),
    ("RUN_NAME", "MyExperimentRun2024January15thFinal", "MyExperimentRun2024January15thFinal"),
    ("RUN_DIR_NAME", "runs_2024-01-15T10-30-00Z_seed1234_Ab", "runs_2024-01-15T10-30-00Z_seed1234_Ab"),
    ("MODEL", "Qwen2.5-7B-Instruct-GPTQ-Int4-v2-final", "Qwen2.5-7B-Instruct-GPTQ-Int4-v2-final"),
]  # fmt: skip

TEXT_CASES: list[tuple[str, str]] = [
    (PEM, f"-----BEGIN RSA PRIVATE KEY-----{M}-----END RSA PRIVATE KEY-----"),
    ("key: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA", f"key: -----BEGIN OPENSSH PRIVATE KEY-----{M}"),
    (SLACK_BOT, M),
    (f"id {AKIA} secret {AWS_SECRET}", f"id {M} secret {M}"),
    (f"aws_secret_access_key = {AWS_SECRET}", f"aws_secret_access_key = {M}"),
    (f"session {ASIA}", f"session {M}"),
    (STRIPE, M),
    (NPM, M),
    (PYPI, M),
    (ANTHROPIC, M),
    (GH_FINE, M),
    (GCP_OAUTH, M),
    (AZURE_CLIENT_SECRET, M),
    (VAULT, M),
    (f"token {JWT} end", f"token {M} end"),
    ("https://discord.com/api/webhooks/123456789012345678/AbCdEf-GhIjKl_MnOp",
     f"https://discord.com/api/webhooks/123456789012345678/{M}"),
    ("Cookie: session=abc123; theme=dark", f"Cookie: {M}"),
    ("https://maps.googleapis.com/maps/api/geocode/json?address=x&key=" + GCP_KEY,
     f"https://maps.googleapis.com/maps/api/geocode/json?address=x&key={M}"),
    ("redis://:r3dispw@cache:6379/0", f"redis://:{M}@cache:6379/0"),
    # negatives
    ("loss=0.123 acc=0.98 lr=1e-4", "loss=0.123 acc=0.98 lr=1e-4"),
    ("see https://example.com/docs?page=2#top", "see https://example.com/docs?page=2#top"),
    ("mail user@example.com about model.safetensors", "mail user@example.com about model.safetensors"),
    ("Basic usage: run the tool", "Basic usage: run the tool"),
    ("https://user:$PASSWORD@host/x", "https://user:$PASSWORD@host/x"),
    ("http://localhost:8888/tree", "http://localhost:8888/tree"),
    (f"blake3:{BLAKE3}", f"blake3:{BLAKE3}"),
]  # fmt: skip


def test_corpus_size():
    assert len(ARGV_CASES) + len(ENV_CASES) + len(TEXT_CASES) >= 40


@pytest.mark.parametrize(("what", "argv", "expected"), ARGV_CASES, ids=[c[0] for c in ARGV_CASES])
def test_argv(what, argv, expected):
    assert mask_argv(argv) == expected


@pytest.mark.parametrize(("name", "value", "expected"), ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_env_value(name, value, expected):
    assert mask_value(name, value) == expected


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES)
def test_text(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("HF_TOKEN", True), ("SLACK_WEBHOOK_URL", True), ("MYSQL_PWD", True),
        ("AccountKey", True), ("--api-key", True), ("x-amz-security-token", True),
        ("keyStorePassword", True), ("FTP_PASS", True), ("AZURE_DEVOPS_PAT", True),
        ("SENTRY_DSN", True), ("AUTHORIZATION", True),
        ("TOKENIZERS_PARALLELISM", False), ("MAX_NEW_TOKENS", False), ("PAD_TOKEN", False),
        ("GIT_AUTHOR_EMAIL", False), ("PASSWORD_FILE", False), ("--password-stdin", False),
        ("--no-auth", False), ("PWD", False), ("OLDPWD", False), ("PUBLIC_KEY", False),
        ("SORT_KEY", False), ("GIT_ASKPASS", False), ("PGPASSFILE", False),
    ],
)  # fmt: skip
def test_secret_name(name, secret):
    assert secret_name(name) is secret
    if secret:  # mask_text skips the name rules for text holding none of these literals
        assert any(h in name.lower() for h in _NAME_HINTS)


def test_masking_is_idempotent():
    for _, _argv, expected in ARGV_CASES:
        assert mask_argv(expected) == expected
    for name, _, expected in ENV_CASES:
        assert mask_value(name, expected) == expected


def test_recorded_environment_uses_the_rules():
    env = recorded_environment(
        {"SLACK_WEBHOOK": SLACK_HOOK, "MYSQL_PWD": "x", "NOTE": f"use {GHP}", "EPOCHS": "3"}
    )
    assert env == {"EPOCHS": "3", "MYSQL_PWD": M, "NOTE": f"use {M}", "SLACK_WEBHOOK": M}


def test_cell_source():
    src = (
        f"!curl -H 'Authorization: Bearer {JWT}' https://x.io\n"
        f"%env HF_TOKEN {HF}\n"
        "api_key = 'k-123-secret'\n"
        "n_tokens = 3\n"
        "@dataclass\nclass C:\n    token: str\n"
    )
    assert mask_cell_source(src) == (
        f"!curl -H 'Authorization: Bearer {M}' https://x.io\n"
        f"%env HF_TOKEN {M}\n"
        f"api_key = '{M}'\n"
        "n_tokens = 3\n"
        "@dataclass\nclass C:\n    token: str\n"
    )
    assert mask_cell_source("%roar run env API_TOKEN=t0ken sh -c 'tool -k kv-123'") == (
        f"%roar run env API_TOKEN={M} sh -c 'tool -k {M}'"
    )
    assert mask_cell_source("%%bash\nexport DB_PASSWORD=pw1\n./run.sh\n") == (
        f"%%bash\nexport DB_PASSWORD={M}\n./run.sh\n"
    )


def test_unbalanced_shell_string_still_masked():
    assert mask_argv(["sh", "-c", f"echo 'unterminated {GHP}"]) == [
        "sh", "-c", f"echo 'unterminated {M}"
    ]  # fmt: skip


def test_import_is_cheap():
    """Importing the module compiles nothing, nor does masking text without a secret's
    literals: `roar run` pays only for the rules the recorded values need."""
    code = (
        "import roar.record.secrets as s\n"
        "assert s._re.cache_info().currsize == 0\n"
        "print(s.mask_argv(['env', 'A_TOKEN=x', 'sh', '-c', 'echo hi; ls -la /tmp']))\n"
        "assert s._re.cache_info().currsize == 0\n"
        "print(s.mask_argv(['curl', '-H', 'Authorization: Bearer abcdefgh12']))\n"
        "assert 1 <= s._re.cache_info().currsize <= 3, s._re.cache_info()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "['env', 'A_TOKEN=***', 'sh', '-c', 'echo hi; ls -la /tmp']",
        "['curl', '-H', 'Authorization: Bearer ***']",
    ]
