"""Project configuration: a typed, documented set of keys in `.roar/config.toml`.

Reads use the stdlib TOML parser, and keep what it parsed in `.roar/cache/config.json` (keyed
by the file's exact text) because importing the parser costs every `roar run` more than the
rest of reading its configuration; ``roar config set`` edits the file with tomlkit so the
user's comments and layout survive.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from roar.errors import RoarError
from roar.records import record

TYPE_CHECKING = False  # typing is not imported at run time: annotations only
if TYPE_CHECKING:
    from typing import Any

TRUE_WORDS = {"true", "1", "yes", "on"}
FALSE_WORDS = {"false", "0", "no", "off"}


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("expected true or false")


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of: {', '.join(allowed)}")
        return value

    return parse


def _url(text: str) -> str:
    value = text.strip()
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError("expected an http:// or https:// URL")
    return value.rstrip("/")


def _scope(text: str) -> str:
    value = text.strip()
    owner, slash, project = value.partition("/")
    if value in ("anonymous", "public", "private") or (
        slash and owner and project and "/" not in project and " " not in value
    ):
        return value
    raise ValueError("expected anonymous, public, private or OWNER/PROJECT")


@record(frozen=True)
class Key:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str


KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        Key("output.quiet", False, _parse_bool, "Suppress the report printed after each run"),
        Key(
            "output.track_repo_files",
            False,
            _parse_bool,
            "List git-tracked code read by a job as inputs too",
        ),
        Key(
            "filters.ignore_system_reads",
            True,
            _parse_bool,
            "Ignore reads under /etc, /usr, /lib, /opt, …",
        ),
        Key(
            "filters.ignore_package_reads",
            True,
            _parse_bool,
            "Ignore reads of installed Python packages",
        ),
        Key("filters.ignore_torch_cache", True, _parse_bool, "Ignore torch/triton compile caches"),
        Key(
            "filters.ignore_tmp_files",
            True,
            _parse_bool,
            "Ignore files under /tmp (unless the project lives there)",
        ),
        Key(
            "hash.primary",
            "blake3",
            _choice("blake3", "sha256"),
            "Algorithm that identifies artifacts",
        ),
        Key(
            "tracer.backend",
            "auto",
            _choice("auto", "ebpf", "preload", "ptrace"),
            "Tracer backend for roar run",
        ),
        Key(
            "registration.omit.enabled",
            True,
            _parse_bool,
            "Mask secrets in recorded environment, argv and cell sources",
        ),
        Key("logging.level", "warning", _choice("debug", "info", "warning", "error"), "Log level"),
        Key(
            "glaas.url",
            "https://api.glaas.ai",
            _url,
            "GLaaS server URL (the lineage registry; used once set here)",
        ),
        Key("glaas.web_url", "https://glaas.ai", _url, "GLaaS web UI URL"),
        Key(
            "glaas.ssh_key",
            "",
            str,
            "SSH private key that signs GLaaS requests (default ~/.ssh/id_*)",
        ),
        Key(
            "registration.scope",
            "",
            _scope,
            "Default publication scope: anonymous, public, private or OWNER/PROJECT (roar scope)",
        ),
        Key(
            "registration.public_by_default",
            False,
            _parse_bool,
            "Default register/put visibility (public when true)",
        ),
        Key("telemetry.enabled", True, _parse_bool, "Send anonymous usage counters (opt-out)"),
        Key(
            "telemetry.endpoint",
            "",
            _url,
            "Telemetry upload URL (empty: glaas.url + /api/v1/telemetry/roar)",
        ),
    ]
}


class ConfigError(RoarError):
    pass


@record
class Config:
    path: Path | None
    values: dict[str, Any]
    env: dict[str, str]

    def get(self, key: str) -> Any:
        return self.values[check_key(key)]


def check_key(key: str) -> str:
    if key not in KEYS:
        raise ConfigError(
            f"Unknown config key: {key}.",
            hint="Valid keys: " + ", ".join(sorted(KEYS)),
        )
    return key


def load(path: Path | None) -> Config:
    """The effective configuration: defaults overlaid with the file, if any."""
    values = {name: key.default for name, key in KEYS.items()}
    env: dict[str, str] = {}
    if path is None or not path.exists():
        return Config(path, values, env)
    data = _read(path)
    for name, key in KEYS.items():
        raw = _dig(data, name)
        if raw is None:
            continue
        try:
            values[name] = raw if isinstance(raw, type(key.default)) else key.parse(str(raw))
        except ValueError as exc:
            raise ConfigError(f"Invalid value for {name} in {path}: {raw!r} ({exc}).") from exc
    table = data.get("env", {})
    if isinstance(table, dict):
        env = {str(k): str(v) for k, v in table.items()}
    return Config(path, values, env)


def explicit(path: Path, key: str) -> bool:
    """Whether the file itself sets ``key`` (not only its default): ``glaas.url`` has the
    seeds' default, but roar talks to a registry only when the user named one."""
    check_key(key)
    return path.exists() and _dig(_read(path), key) is not None


def _read(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict: from the cache when it was made from this very text."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _unreadable(path, exc) from exc
    cache = path.parent / "cache" / f"{path.name}.json"
    try:
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached["text"] == text and isinstance(cached["data"], dict):
            return cached["data"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no cache yet, or another file's: parse
    data = _parse(path, text)
    try:  # JSON gives back exactly what TOML held; dates and times it cannot hold: not kept
        payload = json.dumps({"text": text, "data": data})
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(payload, encoding="utf-8")
        tmp.replace(cache)
    except (OSError, TypeError, ValueError):
        pass  # a cache we cannot write only costs time
    return data


def _parse(path: Path, text: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> ConfigError:
    return ConfigError(
        f"Cannot read {path}: {exc}.",
        hint="Fix the file by hand, or move it aside to get the defaults back.",
    )


def set_value(path: Path, key: str, text: str) -> Any:
    """Validate and write ``key = value``, keeping the file's comments. Returns the value."""
    spec = KEYS[check_key(key)]
    try:
        value = spec.parse(text)
    except ValueError as exc:
        raise ConfigError(f"Invalid value for {key}: {text!r} ({exc}).") from exc
    *tables, leaf = key.split(".")
    _edit(path, tables, leaf, value)
    return value


def unset_value(path: Path, key: str) -> None:
    """Remove ``key`` from the file: its default applies again."""
    *tables, leaf = check_key(key).split(".")
    _edit(path, tables, leaf, None)


def set_env(path: Path, name: str, value: str | None) -> None:
    """Set (or with ``None`` remove) a variable in the ``[env]`` table."""
    _edit(path, ["env"], name, value)


def _edit(path: Path, tables: list[str], leaf: str, value: Any) -> None:
    import tomlkit

    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    node: Any = doc
    for name in tables:
        if name not in node:
            node[name] = tomlkit.table()
        node = node[name]
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    tmp.replace(path)


def _dig(data: dict, dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


TEMPLATE = """\
# roar project configuration. `roar config list` shows every key with its meaning.

[output]
# quiet = false              # suppress the report after each run

[filters]
# ignore_system_reads = true
# ignore_package_reads = true
# ignore_torch_cache = true
# ignore_tmp_files = true    # files under /tmp are noise unless the project lives there

[hash]
# primary = "blake3"         # or "sha256"

[tracer]
# backend = "auto"

# Variables injected into every `roar run` and `roar build` (see `roar env`).
[env]
"""
