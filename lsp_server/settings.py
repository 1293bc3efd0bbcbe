"""The server's options, from ``initializationOptions`` or ``workspace/didChangeConfiguration``.

A bad value falls back to its default with one warning, so a typo in an editor's settings
never stops the server. Keys may be given flat or under ``roar``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    store: str | None = None  # a project root or a .roar/roar.db to use for every document
    poll_interval: float = 1.0  # seconds between checks of the store and the files shown
    diagnostics: bool = True
    code_lens: bool = True


_KEYS = {"store": "store", "pollInterval": "poll_interval", "diagnostics": "diagnostics",
         "codeLens": "code_lens"}  # fmt: skip


def parse(options: Any, base: Settings | None = None) -> Settings:
    settings = base or Settings()
    if not isinstance(options, dict):
        return settings
    options = options.get("roar", options) if isinstance(options.get("roar"), dict) else options
    types = {f.name: f.type for f in fields(Settings)}
    for key, name in _KEYS.items():
        if options.get(key) in (None, ""):  # unset
            continue
        value = _coerce(options[key], str(types[name]))
        if value is None:
            log.warning("roar-lsp: ignoring setting %s=%r (keeping %r)", key, options[key],
                        getattr(settings, name))  # fmt: skip
            continue
        settings = replace(settings, **{name: value})
    return settings


def _coerce(value: Any, kind: str) -> Any:
    if kind.startswith("bool"):
        return value if isinstance(value, bool) else None
    if kind.startswith("float"):
        ok = (
            isinstance(value, (int, float)) and not isinstance(value, bool) and 0.05 <= value <= 600
        )
        return float(value) if ok else None
    return value if isinstance(value, str) and value else None
