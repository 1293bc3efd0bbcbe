"""Secret masking: the one place that decides what of a command line, an environment or a
notebook cell must not be stored.

Three kinds of evidence, used together:

* **Names.** A variable, `--flag`, `NAME=value`, JSON/YAML key, header or config key named like
  a credential (`HF_TOKEN`, `--api-key`, `MYSQL_PWD`, `AccountKey`, `SLACK_WEBHOOK`, `X-Api-Key`)
  has its whole value replaced. Names are split into parts (`_ - .` and camelCase) and judged
  part by part, so `TOKENIZERS_PARALLELISM`, `MAX_NEW_TOKENS`, `GIT_AUTHOR_NAME`,
  `PASSWORD_FILE`, `--password-stdin`, `--no-auth` and `PUBLIC_KEY` stay readable.
* **Formats.** Values shaped like a known credential are replaced wherever they appear: GitHub,
  GitLab, Hugging Face, OpenAI/Anthropic `sk-…`, Stripe, Slack tokens and webhooks, Discord and
  Teams webhooks, AWS key ids (and a 40-character secret key next to one, or after
  "secret"/"aws"), JWTs, GCP API keys and OAuth tokens, Azure client secrets and account keys,
  npm, PyPI, Docker Hub, Vault, Databricks and a few more, PEM private-key blocks (header and
  footer kept), URL passwords, `?token=`/`&sig=`-style query values, the values of
  `Authorization:`/`X-Api-Key:`/`Cookie:` headers and of `Bearer …`, connection-string
  secrets (`AccountKey=`, `SharedAccessSignature=`, `Password=`), SQL `PASSWORD '…'`.
  A whole value (not a word in text) that is long and random-looking is replaced too.
* **Command lines, read the way the program reads them.** Leading `NAME=value` assignments and
  wrappers (`env`, `sudo`, `nice`, `timeout`, `sshpass`, `uv run`, …); `sh -c`/`bash -lc`
  scripts, re-parsed into commands and masked inside with the same rules while the rest keeps
  its text and quoting; `python -c`/`node -e`/`perl -e`/`psql -c` code; the flags of known tools
  that take a password (`mysql -pX`, `sshpass -p`, `curl -u user:pw`, `redis-cli -a`,
  `openssl -k`/`-passin pass:…`, `ssh-keygen -N/-P`, `zip/unzip -P`, `ldapsearch -w`,
  `sqlcmd -P`, `htpasswd -b`, `gh secret set --body`); `config set KEY VALUE` forms.

`-k`, `-p` and `-P` are the short flags most often given a key or password by scripts
(`./deploy -p prod-pw`), and also the ones most often meaning something harmless: `curl -k`
(insecure), `pytest -k EXPR`, `sort -k 2,2`, `gzip -k`, `make -k`, `mkdir -p`, `ssh -p 22`,
`cp -p`. So: for a program known to use them harmlessly they are left alone, for a known tool
that takes a password they are always masked, and for any other program the value is masked
unless it plainly is no secret (a number, size or port spec, a path, a file name with an
extension, an option, a `$VARIABLE`, an expression with spaces).

Deliberately not masked: hexadecimal strings (SHA/BLAKE3 digests, git commits, UUIDs): a
provenance record names things by them, and random-looking hex is far more often a digest than a
key (a hex key named like one, `WANDB_API_KEY=…`, `--key …`, is masked by its name); paths;
numbers; `$VARIABLE` references (the name of a secret is not a secret); e-mail addresses;
URLs without a password.

Importing this module compiles nothing: each rule is compiled on first use (`_re`), and only
for text holding a literal its matches need, so `roar run` pays for few of them, when it records.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Sequence

MASK = "***"

# --- names ---------------------------------------------------------------------------------

_NAME_SUBSTRINGS = ("SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "PRIVATE",
                    "WEBHOOK", "COOKIE", "SIGNATURE", "BEARER")  # fmt: skip
_NAME_PARTS = frozenset(
    "PASS PWD PAT SAS SIG DSN APIKEY ACCESSKEY SECRETKEY AUTHKEY MASTERKEY ACCOUNTKEY SIGNINGKEY "
    "STOREPASS KEYPASS SRCSTOREPASS DESTSTOREPASS SRCKEYPASS DESTKEYPASS PASSIN PASSOUT CONNSTR "
    "CONNECTIONSTRING HTPASSWD".split()
)
# KEY is a secret when it ends the name (API_KEY, --key) or is followed by one of these.
_KEY_NEXT = frozenset("ID SECRET VALUE DATA B64 BASE64 PEM CONTENT CONTENTS STRING HEX".split())
_KEY_PREV_HARMLESS = frozenset(
    "PUBLIC PUB SORT PARTITION CACHE GROUP JOIN FOREIGN RANGE ROW DICT MAP LOOKUP HASH".split()
)
_TOKEN_PREV_HARMLESS = frozenset(
    "MAX MIN NUM N PAD BOS EOS UNK SEP CLS MASK SPECIAL START END STOP NEW TOTAL PROMPT INPUT "
    "OUTPUT CONTEXT DECODER ENCODER IMAGE VISION AUDIO BATCH FIRST LAST NEXT PREV".split()
)
_TOKEN_NEXT_HARMLESS = frozenset("DIM DIMS ID IDS INDEX EMBEDDING EMBEDDINGS BUDGET".split())
# A name ending in one of these holds where a secret is, or something about it, not the secret.
_TAILS_HARMLESS = frozenset(
    "FILE FILES PATH PATHS DIR DIRS STDIN FD ENV VAR TYPE TYPES MODE METHOD HOST HOSTNAME PORT "
    "REGION ENDPOINT DOMAIN TTL EXPIRY EXPIRES EXPIRATION LEN LENGTH SIZE LIMIT COUNT NAME USER "
    "USERNAME PROVIDER SCOPE SCOPES PREFIX FORMAT VERSION ENABLED DISABLED REQUIRED SOCK SOCKET "
    "CMD COMMAND HELPER PROGRAM PROMPT POLICY ALGORITHM ALG TIMEOUT".split()
)
# A name starting with one of these is a switch about a secret (--no-password, --use-auth-token).
_HEADS_HARMLESS = frozenset(
    "NO DISABLE ENABLE USE WITH WITHOUT SKIP REQUIRE ASK PROMPT SHOW PRINT HIDE IGNORE ALLOW "
    "GENERATE GEN ROTATE MAX MIN NUM".split()
)


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a variable, flag, key or header called ``name`` holds a secret."""
    parts = _name_parts(name)
    if not parts or parts in (["PWD"], ["OLDPWD"]) or parts[0] == "XDG":
        return False
    if parts[-1] in _TAILS_HARMLESS or (len(parts) > 1 and parts[0] in _HEADS_HARMLESS):
        return False
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i else ""
        nxt = parts[i + 1] if i + 1 < len(parts) else ""
        if part in _NAME_PARTS or any(s in part for s in _NAME_SUBSTRINGS):
            return True
        if part.endswith("TOKEN"):
            if prev not in _TOKEN_PREV_HARMLESS and nxt not in _TOKEN_NEXT_HARMLESS:
                return True
        elif part in ("KEY", "KEYS"):
            if (not nxt or nxt in _KEY_NEXT) and prev not in _KEY_PREV_HARMLESS:
                return True
        elif part.startswith(("AUTH", "OAUTH")):
            if not part.startswith("AUTHOR") or part.startswith(("AUTHORIZ", "AUTHORIS")):
                return True
        elif part == "SESSION":
            if not nxt or nxt in ("ID", "KEY", "SECRET", "COOKIE"):
                return True
        elif part in ("CONNECTION", "CONN") and nxt in ("STRING", "STR"):
            return True
    return False


def _name_parts(name: str) -> list[str]:
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.lstrip("-"))
    return [p for p in re.split(r"[^A-Za-z0-9]+", name.upper()) if p]


# Every name secret_name() accepts, and every query parameter _query_sub masks, holds one.
_NAME_HINTS = ("pass", "pwd", "pat", "sas", "sig", "dsn", "key", "token", "auth", "session",
               "conn", "secret", "credential", "private", "webhook", "cookie", "bearer", "code")  # fmt: skip

# --- values --------------------------------------------------------------------------------

_REFERENCE = r"\$(\w+|\{[^}]*\}|\([^)]*\))"  # compiled (and cached) by re on first use


def _is_reference(value: str) -> bool:
    """`$VAR`, `${VAR}`, `$(cmd)`, `{var}`: says where the secret is, is not one."""
    v = value.strip().strip("\"'")
    return bool(re.fullmatch(_REFERENCE, v) or re.fullmatch(r"\{\w*\}|%\(?\w+\)?s?|<\w+>", v))


def looks_random(value: str) -> bool:
    """A whole value that is a long run of mixed letters and digits with no words in it: an
    API key of a format nobody listed. Not hex (digests), not a path or a file name, not a
    readable name (`exp_lr0.01_bs32_AdamW`, `MyExperimentRun2024Final`, `Qwen2.5-7B-Instruct`).
    """
    n = len(value)
    if n < 32 or n > 4096:
        return False
    if "/" in value and not (n == 40 and re.fullmatch(r"[A-Za-z0-9/+]{40}", value)):
        return False  # a path; but an AWS secret key is 40 base64 characters with slashes
    if not re.fullmatch(r"[A-Za-z0-9+/=_.~-]+", value) or re.fullmatch(r"[0-9a-fA-F-]+", value):
        return False
    if re.search(r"\.[A-Za-z][A-Za-z0-9]{0,6}$", value):
        return False  # model_epoch10.ckpt
    if max(len(part) for part in re.split(r"[_.~-]", value)) < 20:
        return False  # short pieces joined by separators: a readable name
    classes = sum(bool(re.search(p, value)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    if classes < 2:
        return False
    # letters in words (a capital and 2+ lowercase letters with a vowel): ~20% of a random
    # base62 string, over 60% of a readable one
    words = re.finditer(r"[A-Z]?[a-z]{2,}", value)
    in_words = sum(len(w.group()) for w in words if re.search(r"[aeiouy]", w.group().lower()))
    if in_words > 0.55 * n:
        return False
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
    if classes == 3:
        return entropy >= 3.7
    return n >= 40 and entropy >= 4.2


def looks_secret(name: str, value: str) -> bool:
    """Whether ``value``, found under ``name``, is a secret as a whole."""
    if secret_name(name):
        return True
    return _mask_tokens(value) == MASK or looks_random(value)


def mask_value(name: str, value: str) -> str:
    """The value of a variable or assignment called ``name``, secrets masked."""
    if not value:
        return value
    if secret_name(name):
        return value if _is_reference(value) else MASK
    if looks_random(value):
        return MASK
    return mask_text(value)


def mask_text(text: str) -> str:
    """Free text (a shell string, code, a variable's value): every secret inside masked, the
    rest as it was."""
    if len(text) < 6:
        return text
    # Each rule runs (and is compiled, once) only when the text holds the literals its matches
    # need: most values hold none, so recording a job compiles few patterns and runs fewer.
    low = text.lower()
    named = any(h in low for h in _NAME_HINTS)  # a secret's name may be in the text
    if "PRIVATE KEY" in text:
        text = _re("pem").sub(_pem_sub, text)
    if ":" in text and named:
        text = _re("header").sub(_header_sub, text)
    if "://" in text:
        text = _re("url_password").sub(lambda m: m.group(1) + _keep_ref(m.group(2)), text)
        text = _re("url_user").sub(_url_user_sub, text)
        if "hook" in low:
            text = _re("webhook").sub(lambda m: m.group(1) + MASK, text)
    if "Bearer" in text:
        text = _re("bearer").sub(lambda m: m.group(1) + _keep_ref(m.group(2)), text)
    if "=" in text and named:
        if "?" in text or "&" in text:
            text = _re("query").sub(_query_sub, text)
        if ";" in text:
            text = _re("connstr").sub(_connstr_sub, text)
    if "'" in text and ("password" in low or "identified" in low):
        text = _re("sql_password").sub(lambda m: m.group(1) + MASK + m.group(3), text)
    if len(text) >= 40 and ("secret" in low or "aws" in low or "AKIA" in text or "ASIA" in text):
        text = _re("aws_secret").sub(_aws_secret_sub, text)
    text = _mask_tokens(text)
    if named and ("'" in text or '"' in text):
        text = _re("quoted_assignment").sub(_quoted_sub, text)
    if named and "=" in text:
        text = _re("assignment").sub(_assignment_sub, text)
    if named and "\n" in text:
        text = _re("config_line").sub(_config_line_sub, text)
    return text


def _config_line_sub(m: re.Match[str]) -> str:
    """`password = hunter2` / `api_key: abc123` lines of INI/YAML/.env text (a heredoc, a
    variable holding a config file). With `:`, not a value of letters only: `token: str` is
    Python."""
    value = m.group("val")
    if value == MASK or _is_reference(value) or not secret_name(m.group("name")):
        return m.group(0)
    if m.group("op") == ":" and re.fullmatch(r"[A-Za-z_][A-Za-z_.]*", value):
        return m.group(0)
    return m.group("pre") + MASK


def _keep_ref(value: str) -> str:
    return value if _is_reference(value) or value == MASK else MASK


def _pem_sub(m: re.Match[str]) -> str:
    return m.group(1) + MASK + (m.group(3) or "")


def _header_sub(m: re.Match[str]) -> str:
    value = m.group("val").rstrip()
    if value == MASK or _is_reference(value) or (m.group("scheme") is None and value == ""):
        return m.group(0)
    return m.group("pre") + MASK + m.group("val")[len(value) :]


def _url_user_sub(m: re.Match[str]) -> str:
    user = m.group(2)
    if _is_reference(user) or not (_mask_tokens(user) == MASK or looks_random(user)):
        return m.group(0)
    return m.group(1) + MASK


_QUERY_NAMES = frozenset(
    "sig code key token access_token refresh_token id_token auth apikey api_key secret "
    "client_secret password passwd pwd pass x-amz-signature x-amz-credential "
    "x-amz-security-token x-goog-signature x-goog-credential".split()
)


def _query_sub(m: re.Match[str]) -> str:
    name, value = m.group(2), m.group(3)
    if (name.lower() in _QUERY_NAMES or secret_name(name)) and not _is_reference(value):
        return m.group(1) + MASK
    return m.group(0)


def _connstr_sub(m: re.Match[str]) -> str:
    """`…;AccountKey=…;…`: connstr has two alternatives, a `;` after the pair or before it."""
    first = m.group("pre") is not None
    pre, key, value = (m.group("pre"), m.group("key"), m.group("val")) if first else (
        m.group("pre2"), m.group("key2"), m.group("val2"))  # fmt: skip
    if key.strip().lower() in ("pwd", "password") or secret_name(key):
        return pre + _keep_ref(value)
    return m.group(0)


def _aws_secret_sub(m: re.Match[str]) -> str:
    """A 40-character AWS secret key: mixed case and digits, after "secret", "aws" or a key id."""
    value = m.group(0)
    if value.startswith("/") or "//" in value:
        return value
    if not all(re.search(p, value) for p in ("[a-z]", "[A-Z]", "[0-9]")):
        return value
    start = m.start()
    context = m.string[max(0, start - 48) : start]
    if re.search(r"(?i)secret|aws|\*\*\*", context) or re.search(
        r"(?:AKIA|ASIA)[A-Z0-9]{16}", context
    ):
        return MASK
    return value


def _quoted_sub(m: re.Match[str]) -> str:
    value = m.group("v1") if m.group("v1") is not None else m.group("v2")
    if not value or value == MASK or _is_reference(value) or not secret_name(m.group("name")):
        return m.group(0)
    if re.fullmatch(r"(?i)(?:bearer|basic|token|digest|bot)\s+\*\*\*", value):
        return m.group(0)  # {Authorization: 'Bearer ***'}: the header rule kept the scheme
    return m.group("pre") + m.group("q") + MASK + m.group("q")


def _assignment_sub(m: re.Match[str]) -> str:
    value = m.group("val")
    if value == MASK or _is_reference(value) or not secret_name(m.group("name")):
        return m.group(0)
    end = m.end()
    if end < len(m.string) and m.string[end] in "([":
        return m.group(0)  # token=get_token(): code, not a value
    return m.group("pre") + MASK


# Known token formats: (literals one of which every match contains, pattern). A format is
# compiled, once, and tried only on text that holds one of its literals.
_TOKEN_FORMATS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"gh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    (("github_pat_",), r"github_pat_[A-Za-z0-9_]{20,}"),
    (
        tuple(f"gl{k}-" for k in "pat dt ptt rt cbt soat ft imt oas agent".split()),
        r"gl(?:pat|dt|ptt|rt|cbt|soat|ft|imt|oas|agent)-[\w-]{20,}",
    ),  # GitLab
    (("GR1348941",), r"GR1348941[\w-]{20,}"),
    (("hf_",), r"hf_(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{30,}"),  # Hugging Face
    (("sk-",), r"sk-(?:proj|svcacct|admin|ant|or)-[\w-]{20,}"),  # OpenAI, Anthropic, OpenRouter
    (("sk-",), r"sk-(?=[\w-]*[0-9])(?=[\w-]*[A-Za-z])[\w-]{20,}"),
    (("k_live_", "k_test_"), r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    (("whsec_",), r"whsec_[A-Za-z0-9+/=]{24,}"),
    (("xox",), r"xox[abposre](?:\.xox[bp])?-[A-Za-z0-9-]{10,}"),  # Slack
    (("xapp-",), r"xapp-\d-[A-Za-z0-9-]{10,}"),
    (
        ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
    ),  # AWS access key ids
    (("eyJ",), r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]*"),  # JWT
    (("AIza",), r"AIza[0-9A-Za-z_-]{35}"),  # GCP API key
    (("GOCSPX-",), r"GOCSPX-[\w-]{20,}"),  # GCP OAuth client secret
    (("ya29.",), r"ya29\.[\w-]{20,}"),  # GCP OAuth access token
    (("1//0",), r"1//0[\w-]{40,}"),  # GCP OAuth refresh token
    (("Q~",), r"[\w~.-]{3}\dQ~[\w~.-]{31,40}"),  # Azure AD client secret
    (("==",), r"[A-Za-z0-9+/]{86}=="),  # Azure storage account key
    (("AZDO",), r"[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4}"),  # Azure DevOps PAT
    (("npm_",), r"npm_[A-Za-z0-9]{36,}"),  # npm
    (("pypi-Ag",), r"pypi-Ag[\w-]{50,}"),  # PyPI
    (("dckr_pat_",), r"dckr_pat_[\w-]{20,}"),  # Docker Hub
    (("hvs.", "hvb.", "hvr."), r"hv[sbr]\.[\w-]{20,}"),  # Vault
    (("dapi",), r"dapi[0-9a-f]{32}(?:-\d)?"),  # Databricks
    (("SG.",), r"SG\.[\w-]{16,}\.[\w-]{16,}"),  # SendGrid
    (("shp",), r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),  # Shopify
    (("gsk_",), r"gsk_[A-Za-z0-9]{40,}"),  # Groq
    (("xai-",), r"xai-[A-Za-z0-9]{40,}"),  # xAI
    (("r8_",), r"r8_[A-Za-z0-9]{30,}"),  # Replicate
    (("lin_api_",), r"lin_api_[A-Za-z0-9]{30,}"),  # Linear
    (("pplx-",), r"pplx-[A-Za-z0-9]{40,}"),  # Perplexity
    (("key-",), r"key-[0-9a-f]{32}"),  # Mailgun
    ((":AA",), r"\d{8,10}:AA[\w-]{33}"),  # Telegram bot
    (("AGE-SECRET-KEY-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),  # age
    (("ATATT3",), r"ATATT3[\w=-]{50,}"),  # Atlassian
    (("ntn_", "secret_"), r"(?:ntn_|secret_)[A-Za-z0-9]{40,}"),  # Notion
    (("_v1_",), r"do[opr]_v1_[a-f0-9]{64}"),  # DigitalOcean
    (("glsa_", "glc_"), r"gl(?:sa|c)_[\w+/=]{32,}"),  # Grafana
    (("sntry",), r"sntry[su]_[\w+/=]{40,}"),  # Sentry
    (("pscale_",), r"pscale_(?:tkn|pw|oauth)_[\w.-]{32,}"),  # PlanetScale
    (("dp.",), r"dp\.(?:st|ct|sa|scim|audit)\.[\w.-]{40,}"),  # Doppler
    (("PMAK-",), r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),  # Postman
    (("NRAK-",), r"NRAK-[A-Z0-9]{27}"),  # New Relic
)
_EDGE = r"(?<![\w.~+/=-])"  # a token is not the tail of a longer word ...
_END = r"(?![\w~+/=-])"  # ... nor its head
_HEADER_NAMES = (
    r"authorization|proxy-authorization|x-api-key|api-key|apikey|x-auth-token|x-access-token"
    r"|private-token|job-token|x-vault-token|x-goog-api-key|ocp-apim-subscription-key"
    r"|x-functions-key|cookie|set-cookie|x-[\w-]*(?:token|secret|key|auth|password)[\w-]*"
)
_PATTERNS = {
    "header": r"(?i)(?P<pre>(?<![\w-])(?:" + _HEADER_NAMES + r")[\"']?\s*:\s*(?:[rbf]{0,2}[\"'])?"
    r"(?P<scheme>(?:bearer|basic|token|digest|bot|negotiate|ntlm|apikey|sso-key)\s+)?)"
    r"(?P<val>[^\r\n'\"]*)",
    "aws_secret": r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
    "pem": r"(-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)"
    r"([\s\S]*?)(-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)",
    "bearer": r"(?<![\w-])(Bearer\s+)([A-Za-z0-9._~+/=-]{8,}|\$\{?\w+\}?)",
    "url_password": r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)([^@\s/'\"]+)(?=@)",
    "url_user": r"(\b[A-Za-z][A-Za-z0-9+.-]*://)([^/\s:@'\"]{20,})(?=@)",
    "webhook": r"(https?://(?:hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/"
    r"|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/"
    r"|[\w.-]+\.webhook\.office\.com/webhookb2/))"
    r"[A-Za-z0-9/_+@.-]+",
    "query": r"([?&]([A-Za-z0-9_.\-\[\]]+)=)([^&#\s'\"]+)",
    "connstr": r"(?P<pre>(?:(?<=;)|(?<=^)|(?<=[\"'\s]))(?P<key>[A-Za-z][A-Za-z0-9 ]*?)\s*=\s*)"
    r"(?P<val>[^;\"'\r\n]+)(?=;)"
    r"|(?P<pre2>(?<=;)(?P<key2>[A-Za-z][A-Za-z0-9 ]*?)\s*=\s*)"
    r"(?P<val2>[^;\"'\r\n]+)",
    "sql_password": r"(?i)(\b(?:password|identified(?:\s+with\s+\w+)?\s+by)(?:\s*=\s*|\s+)"
    r"(?:password\s*\(\s*)?')([^']*)(')",
    "quoted_assignment": r"(?P<pre>(?P<q0>[\"']?)(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)(?P=q0)\]?\s*"
    r"(?::|=|:=|=>)\s*)(?P<q>[\"'])(?:(?<=\")(?P<v1>[^\"\r\n]*)|(?<=')(?P<v2>[^'\r\n]*))"
    r"(?P=q)",
    "config_line": r"(?m)(?P<pre>^[ \t]*(?P<name>[A-Za-z_][\w.-]*)[ \t]*(?P<op>[:=])[ \t]*)"
    r"(?P<val>[^\s\"'`(){}\[\]#;][^\s\"'`(){}\[\];]*)[ \t]*$",
    "assignment": r"(?P<pre>(?<![\w.$/=-])-{0,2}(?P<name>[A-Za-z_][\w.-]*)=)"
    r"(?P<val>[^\s\"'`;&|<>(){}\[\],=][^\s\"'`;&|<>(){}\[\],]*)",
}


@functools.cache
def _re(name: str) -> re.Pattern[str]:
    """A rule of _PATTERNS, or a token format, compiled on first use (not at import: see the
    module's docstring)."""
    if name in _PATTERNS:
        return re.compile(_PATTERNS[name])
    return re.compile(_EDGE + "(?:" + name + ")" + _END)


def _mask_tokens(text: str) -> str:
    if len(text) < 15:  # shorter than any format
        return text
    for hints, pattern in _TOKEN_FORMATS:
        for hint in hints:
            if hint in text:
                text = _re(pattern).sub(MASK, text)
                break
    return text


# --- command lines -------------------------------------------------------------------------


def mask_argv(argv: Sequence[str]) -> list[str]:
    """A command line with its secrets masked, item by item (see the module's docstring)."""
    return _mask_words(list(argv), 0)


def _mask_word(word: str) -> str:
    """One argument with no flag before it that tells what it is."""
    if len(word) < 6:
        return word
    m = re.fullmatch(r"([A-Za-z_][\w.-]*)=(.*)", word, re.DOTALL)
    if m and not word.startswith("-"):
        name, value = m.group(1), m.group(2)
        if re.fullmatch(r"[A-Za-z_]\w*", name):  # NAME=value: the whole value is the variable's
            return f"{name}={mask_value(name, value)}"
        return mask_text(word)  # db.password=x,db.user=y: values end at a comma
    if looks_random(word):
        return MASK
    return mask_text(word)


_SHELLS = frozenset("sh bash zsh dash ksh mksh ash fish rbash busybox".split())
_WRAPPERS: dict[str, tuple[dict[str, str], int]] = {
    # wrapper: (its options that take a value → what the value is, positional parameters)
    "env": ({"u": "keep", "C": "keep", "S": "shell", "unset": "keep", "chdir": "keep",
             "split-string": "shell"}, 0),
    "sudo": ({"u": "keep", "g": "keep", "h": "keep", "p": "keep", "C": "keep", "D": "keep",
              "R": "keep", "T": "keep", "U": "keep", "r": "keep", "t": "keep", "user": "keep",
              "group": "keep"}, 0),
    "doas": ({"u": "keep", "C": "keep"}, 0),
    "nice": ({"n": "keep", "adjustment": "keep"}, 0),
    "ionice": ({"c": "keep", "n": "keep", "p": "keep"}, 0),
    "nohup": ({}, 0),
    "time": ({"f": "keep", "o": "keep", "format": "keep", "output": "keep"}, 0),
    "command": ({}, 0),
    "exec": ({"a": "keep"}, 0),
    "timeout": ({"s": "keep", "k": "keep", "signal": "keep", "kill-after": "keep"}, 1),
    "stdbuf": ({"i": "keep", "o": "keep", "e": "keep"}, 0),
    "xargs": ({"a": "keep", "d": "keep", "E": "keep", "I": "keep", "L": "keep", "n": "keep",
               "P": "keep", "s": "keep", "max-procs": "keep"}, 0),
    "sshpass": ({"p": "hide", "f": "keep", "d": "keep", "P": "keep"}, 0),
    "run": ({"n": "keep", "p": "keep", "name": "keep", "prefix": "keep", "with": "keep",
             "python": "keep", "env-file": "keep", "e": "keep", "environment": "keep",
             "hash": "keep", "tracer": "keep"}, 0),
}  # fmt: skip
# `uv run CMD`, `poetry run CMD`, `roar run CMD`, `%roar build CMD`…: then comes the program.
_RUNNERS = frozenset(
    "uv poetry pipenv pdm hatch pixi rye conda mamba micromamba roar %roar".split()
)
_MYSQLS = frozenset(
    "mysql mysqldump mysqladmin mysqlimport mysqlshow mysqlcheck mysqlpump mysqlslap mariadb "
    "mariadb-dump mariadb-admin mariadb-import".split()
)
_MONGOS = frozenset(
    "mongo mongosh mongodump mongorestore mongoexport mongoimport mongostat mongotop mongofiles"
    .split()
)  # fmt: skip
_LDAPS = frozenset(
    "ldapsearch ldapadd ldapmodify ldapdelete ldapwhoami ldappasswd ldapcompare ldapmodrdn "
    "ldapexop".split()
)
# Short flags of known tools: "hide" (the value is a secret), "attached" (only `-pVALUE` is:
# a lone `-p` prompts), "userpass" (`user:password`), "userpct" (`user%password`), "code".
_SHORT: dict[str, dict[str, str]] = {
    "curl": {"u": "userpass", "U": "userpass"},
    "redis-cli": {"a": "hide"}, "valkey-cli": {"a": "hide"}, "keydb-cli": {"a": "hide"},
    "sqlcmd": {"P": "hide"}, "bcp": {"P": "hide"}, "osql": {"P": "hide"}, "isql": {"P": "hide"},
    "smbclient": {"U": "userpct"}, "rpcclient": {"U": "userpct"}, "smbget": {"U": "userpct"},
    "zip": {"P": "hide"}, "unzip": {"P": "hide"}, "zipcloak": {"P": "hide"},
    "7z": {"p": "attached"}, "7za": {"p": "attached"}, "7zr": {"p": "attached"},
    "ssh-keygen": {"P": "hide", "N": "hide"},
    "openssl": {"k": "hide", "K": "hide"},
    "gh": {"b": "hide"},
    "psql": {"c": "code"},
    "node": {"e": "code", "p": "code"}, "deno": {"e": "code"}, "bun": {"e": "code"},
    "ruby": {"e": "code"}, "Rscript": {"e": "code"}, "julia": {"e": "code", "E": "code"},
    "php": {"r": "code"}, "osascript": {"e": "code"},
    **{h: {"a": "userpass"} for h in ("http", "https", "httpie", "xh", "xhs")},
    **{m: {"p": "attached", "e": "code"} for m in _MYSQLS},
    **{m: {"p": "hide"} for m in _MONGOS},
    **{m: {"w": "hide"} for m in _LDAPS},
}  # fmt: skip
_LONG: dict[str, dict[str, str]] = {
    "curl": {"user": "userpass", "proxy-user": "userpass"},
    "gh": {"body": "hide"},
    "psql": {"command": "code"},
    "node": {"eval": "code", "print": "code"}, "deno": {"eval": "code"}, "bun": {"eval": "code"},
    "openssl": {"pass": "openssl", "passin": "openssl", "passout": "openssl"},
    **{h: {"auth": "userpass"} for h in ("http", "https", "httpie", "xh", "xhs")},
    **{m: {"execute": "code"} for m in _MYSQLS},
}  # fmt: skip
# Programs whose -k / -p / -P value is no secret (or that take no value there).
_COMPRESSORS = ("gzip gunzip bzip2 bunzip2 xz unxz zstd unzstd lz4 pigz unpigz pbzip2 lzma "
                "brotli")  # fmt: skip
_FILE_TOOLS = "cp mv rm ls du df mkdir install rsync ln chmod chown touch tar find cat diff"
_HARMLESS_SHORT: dict[str, frozenset[str]] = {
    "k": frozenset(
        f"pytest py.test sort make gmake curl wget ps kill ssh scp uniq git {_COMPRESSORS} "
        f"{_FILE_TOOLS}".split()
    ),
    "p": frozenset(
        "ssh scp sftp nc ncat netcat socat psql pg_dump pg_dumpall pg_restore pg_isready "
        "createdb dropdb createuser ps pgrep pkill renice strace ltrace perf gdb lsof py-spy "
        f"taskset xargs parallel patch git pytest py.test curl wget make perl ruby read date "
        f"top htop kubectl jupyter pip {_COMPRESSORS} {_FILE_TOOLS}".split()
        + list(_MYSQLS)
    ),
    "P": frozenset(f"scp ssh xargs parallel grep rg wget curl git ls {_FILE_TOOLS}".split()),
}
_CONFIG_VERBS = frozenset(
    "set config configure add put store --global --local --system --worktree --add "
    "--replace-all".split()
)
_PYTHON = r"(?:python|pypy)[\d.]*(?:-dbg)?|ipython\d?"
_NUMBERISH = r"[0-9][0-9.,:x_/-]*[A-Za-z%]{0,3}"


def _plainly_harmless(value: str) -> bool:
    """For `-k VALUE` / `-p VALUE` of a program we know nothing about: no secret for sure."""
    v = value
    return (
        not v
        or v == MASK
        or v.startswith(("-", ".", "~", "/"))
        or "/" in v
        or any(c.isspace() for c in v)
        or _is_reference(v)
        or bool(re.fullmatch(_NUMBERISH, v))
        or bool(re.search(r"\.[A-Za-z][A-Za-z0-9]{0,6}$", v))
        or v.startswith("no:")
    )


def _apply(kind: str, word: str, depth: int) -> str:
    if kind == "keep":
        return word
    if kind == "hide":
        return word if _is_reference(word) or not word else MASK
    if kind == "maybe":
        return _mask_word(word) if _plainly_harmless(word) else MASK
    if kind in ("userpass", "userpct"):
        sep = ":" if kind == "userpass" else "%"
        user, found, password = word.partition(sep)
        if found and password and not _is_reference(password):
            return f"{user}{sep}{MASK}"
        return _mask_word(word)
    if kind == "openssl":
        if word.startswith("pass:") and len(word) > 5:
            return "pass:" + MASK
        return word if word.startswith(("env:", "file:", "fd:", "stdin")) else MASK
    if kind == "shell":
        return mask_shell(word, depth + 1)
    if kind == "code":
        return mask_text(word)
    return _mask_word(word)


def _mask_words(words: list[str], depth: int) -> list[str]:
    out = list(words)
    prog: str | None = None  # the program the following flags belong to
    wrapper: tuple[dict[str, str], int] | None = None
    wrapper_params = 0
    pending: str | None = None  # what the next word is, told by the flag before it
    only_positional = False
    htpasswd_batch = False
    i = 0
    while i < len(words):
        w = words[i]
        if pending is not None:
            kind, pending = pending, None
            if kind in ("hide", "maybe") and w.startswith("-") and len(w) > 1 and w != MASK:
                continue  # the flag took no value: read this word as a flag
            if kind == "program":
                prog = os.path.basename(w)
                i += 1
                continue
            out[i] = _apply(kind, w, depth)
            i += 1
            continue
        if prog is None:  # before the program: assignments and wrappers
            i += 1
            m = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", w, re.DOTALL)
            if m:
                out[i - 1] = f"{m.group(1)}={mask_value(m.group(1), m.group(2))}"
                continue
            if wrapper is not None and w.startswith("-") and len(w) > 1:
                options = wrapper[0]
                if w.startswith("--"):
                    name, eq, value = w[2:].partition("=")
                    takes = options.get(name)
                    if eq:
                        out[i - 1] = f"--{name}=" + _apply(takes or "word", value, depth)
                    else:
                        pending = takes
                else:
                    takes = options.get(w[1])
                    if takes and len(w) > 2:  # -n10, -uroot
                        out[i - 1] = w[:2] + _apply(takes, w[2:], depth)
                    else:
                        pending = takes
                continue
            if wrapper is not None and wrapper_params > 0:
                wrapper_params -= 1
                continue
            base = os.path.basename(w)
            if base in _WRAPPERS and base != "run":
                wrapper, wrapper_params = _WRAPPERS[base], _WRAPPERS[base][1]
                continue
            prog, wrapper = base, None
            continue
        # the program's own arguments
        if w == "--" and not only_positional:
            only_positional = True
            i += 1
            continue
        if w.startswith("-") and len(w) > 1 and not only_positional and w != MASK:
            pending, out[i] = _flag(prog, w, depth)
            if prog == "htpasswd" and not w.startswith("--") and "b" in w:
                htpasswd_batch = True
            i += 1
            continue
        # a positional argument
        if prog in _RUNNERS and (w == "run" or (w == "build" and prog.endswith("roar"))):
            prog, wrapper, wrapper_params = None, _WRAPPERS["run"], 0
            i += 1
            continue
        prev = words[i - 1] if i else ""
        out[i] = _mask_word(w)
        if prog is not None and _interpreter(prog):
            prog = os.path.basename(w)  # python t.py -k X: the flags are the script's
        if prev in _CONFIG_VERBS and i + 1 < len(words) and _config_key(w):
            pending = "hide"
        i += 1
    if htpasswd_batch and len(out) > 2:
        out[-1] = MASK
    return out


_SCRIPT_RUNNERS = frozenset("node deno bun perl ruby Rscript julia php".split())


def _interpreter(prog: str) -> bool:
    return bool(re.fullmatch(_PYTHON, prog)) or prog in _SHELLS or prog in _SCRIPT_RUNNERS


def _config_key(word: str) -> bool:
    """`aws_secret_access_key`, `github.token`, `//registry.npmjs.org/:_authToken`."""
    if not re.fullmatch(r"[\w./:@-]+", word) or re.search(r"\.(txt|json|ya?ml|pem|env)$", word):
        return False
    return bool(re.search(r"[._:/-]|[a-z][A-Z]", word)) and secret_name(word)


def _flag(prog: str | None, w: str, depth: int) -> tuple[str | None, str]:
    """(what the next word is, the flag as stored) for an option word ``w`` of ``prog``."""
    p = prog or ""
    if w.startswith("--"):
        name, eq, value = w[2:].partition("=")
        kind = _LONG.get(p, {}).get(name) or ("hide" if secret_name(name) else None)
        if eq:
            return None, f"--{name}=" + _apply(kind or "word", value, depth)
        return kind, w
    body = w[1:]
    if "=" in body:  # -Dname=value, -password=x
        name, _, value = body.partition("=")
        return None, f"-{name}=" + (MASK if secret_name(name) and value else _mask_word(value))
    if re.fullmatch(_PYTHON, p):
        if body == "c" or (body.isalpha() and body.endswith("c")):
            return "code", w
        if body == "m":
            return "program", w
        return ("keep" if body in ("W", "X") else None), w
    if p in _SHELLS:
        if body in ("o", "O"):
            return "keep", w  # bash -o pipefail
        return ("shell" if body.isalpha() and "c" in body else None), w
    if p in ("perl", "ruby") and body.isalpha() and body[-1] in "eE":
        return "code", w
    long_kind = _LONG.get(p, {}).get(body)
    if long_kind:
        return long_kind, w
    if len(body) > 2 and body.isalpha() and p not in _SHORT:  # -password (Go), -storepass
        return ("hide" if secret_name(body) else None), w
    letter, rest = body[:1], body[1:]
    kind = _SHORT.get(p, {}).get(letter)
    if kind == "attached":
        return None, (w[:2] + MASK if rest and rest != MASK else w)
    if kind:
        if rest:
            return None, w[:2] + _apply(kind, rest, depth)
        return kind, w
    if len(body) == 1 and letter in _HARMLESS_SHORT and p not in _HARMLESS_SHORT[letter]:
        return "maybe", w
    return None, w


def mask_shell(script: str, depth: int = 0) -> str:
    """A shell script (`sh -c '…'`) with its secrets masked: each command in it is masked like
    a command line, the script keeping its text and quoting elsewhere."""
    commands = _shell_commands(script) if depth < 5 else None
    if commands is None:
        return mask_text(script)
    edits: list[tuple[int, int, str]] = []
    for words in commands:
        masked = _mask_words([value for _, _, value in words], depth)
        for (start, end, value), new in zip(words, masked, strict=True):
            if new != value:
                edits.append((start, end, _requote(script[start:end], value, new)))
    pieces, at = [], 0
    for start, end, text in edits:  # in order, none overlapping: one pass
        pieces += [script[at:start], text]
        at = end
    return mask_text("".join(pieces) + script[at:])


def _requote(raw: str, value: str, new: str) -> str:
    """The masked word written back the way it was typed, quotes and all."""
    if raw == value:
        return new
    # replace only what changed: the rest of ``raw`` keeps its quoting
    head = 0
    while head < min(len(value), len(new)) and value[head] == new[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(value), len(new)) - head and value[-1 - tail] == new[-1 - tail]
    ):  # fmt: skip
        tail += 1
    old_part = value[head : len(value) - tail]
    new_part = new[head : len(new) - tail]
    if old_part and raw.count(old_part) == 1:
        return raw.replace(old_part, new_part)
    import shlex

    return shlex.quote(new)


def _shell_commands(s: str) -> list[list[tuple[int, int, str]]] | None:
    """The simple commands of a shell script: each a list of (start, end, unquoted value) of
    its words. None when the quoting is unbalanced."""
    commands: list[list[tuple[int, int, str]]] = [[]]
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t\r":
            i += 1
        elif c == "\\" and i + 1 < n and s[i + 1] == "\n":
            i += 2
        elif c in ";&|()\n":
            if commands[-1]:
                commands.append([])
            i += 1
        elif c in "<>":
            i += 1
        elif c == "#":
            j = s.find("\n", i)
            i = n if j < 0 else j
        else:
            start, buf = i, []
            while i < n and s[i] not in " \t\r\n;&|()<>":
                c = s[i]
                if c == "'":
                    j = s.find("'", i + 1)
                    if j < 0:
                        return None
                    buf.append(s[i + 1 : j])
                    i = j + 1
                elif c == '"':
                    j = i + 1
                    while j < n and s[j] != '"':
                        if s[j] == "\\" and j + 1 < n and s[j + 1] in '"\\$`':
                            buf.append(s[j + 1])
                            j += 2
                            continue
                        buf.append(s[j])
                        j += 1
                    if j >= n:
                        return None
                    i = j + 1
                elif c == "\\" and i + 1 < n:
                    buf.append(s[i + 1])
                    i += 2
                elif c == "$" and s.startswith("$(", i):
                    depth, j = 0, i + 1
                    while j < n:
                        depth += {"(": 1, ")": -1}.get(s[j], 0)
                        if depth == 0:
                            break
                        j += 1
                    if j >= n:
                        return None
                    buf.append(s[i : j + 1])
                    i = j + 1
                elif c == "`":
                    j = s.find("`", i + 1)
                    if j < 0:
                        return None
                    buf.append(s[i : j + 1])
                    i = j + 1
                else:
                    buf.append(c)
                    i += 1
            commands[-1].append((start, i, "".join(buf)))
    return [c for c in commands if c]


# --- notebook cells ------------------------------------------------------------------------

_SHELL_MAGICS = ("%%bash", "%%sh", "%%script", "%%zsh")


def mask_cell_source(source: str) -> str:
    """A notebook cell's source: code masked as text, `!cmd`, `%magic` lines and `%%bash`
    bodies as shell commands."""
    first, _, body = source.partition("\n")
    if first.strip().startswith(_SHELL_MAGICS):
        return first + "\n" + mask_shell(body) if body or source.endswith("\n") else source
    lines = []
    for line in source.split("\n"):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("!"):
            bang = "!!" if stripped.startswith("!!") else "!"
            line = indent + bang + mask_shell(stripped[len(bang) :])
        elif stripped.startswith("%") and not stripped.startswith("%%"):
            m = re.fullmatch(r"(%env\s+)(\S+)(\s+)(.+)", stripped)
            if m and secret_name(m.group(2)) and not _is_reference(m.group(4)):
                line = indent + m.group(1) + m.group(2) + m.group(3) + MASK
            else:
                line = indent + mask_shell(stripped)
        lines.append(line)
    return mask_text("\n".join(lines))
