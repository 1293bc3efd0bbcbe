"""What the publishing commands (register, put, label sync) share: the visibility flags and the
choice of scope they make, with the seeds' warning when public visibility comes from config."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from roar.cli.console import Console

_FLAGS = ("anonymous", "public", "private")


def add_visibility_flags(p: argparse.ArgumentParser) -> None:
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--public", action="store_true", help="publish publicly")
    vis.add_argument("--private", action="store_true", help="publish in your private scope")
    vis.add_argument(
        "--anonymous",
        action="store_true",
        help="force public anonymous publication even when GLaaS auth is configured",
    )


def publication_scope(
    args: argparse.Namespace, config_path: Any, url: str | None, console: Console
) -> tuple[str, dict[str, Any] | None]:
    """The scope to publish in and the stored login to publish with: a flag, else the repo's
    ``roar scope``, else ``registration.public_by_default`` (warned about: the seeds say roar
    warns when public visibility comes from config rather than an explicit flag)."""
    from roar.registry import account

    flag = next((f for f in _FLAGS if getattr(args, f)), None)
    scope, source, login = account.publication(config_path, url, flag)
    if source == "registration.public_by_default":
        console.err(
            "Warning: publishing publicly because registration.public_by_default is true in "
            f"{config_path} (pass --private to override)."
        )
    return scope, login
