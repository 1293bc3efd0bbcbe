"""All terminal output goes through here: data to stdout, messages to stderr, colour only on
a terminal (and never with NO_COLOR or --no-color)."""

from __future__ import annotations

import os
import sys

from roar.store.paths import quote_path

# typing and json are imported where used: `roar --help` and `roar --version` need neither.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Console", "display_path", "human_size", "printable", "quote_path"]

_CODES = {
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "magenta": "35",
    "cyan": "36",
    "dim": "2",
    "bold": "1",
}


class Console:
    def __init__(self, *, color: bool | None = None):
        if color is None:
            color = (
                sys.stdout.isatty()
                and "NO_COLOR" not in os.environ
                and os.environ.get("TERM") != "dumb"
            )
        self.color = color

    def style(self, text: str, *names: str) -> str:
        if not self.color or not names:
            return text
        codes = ";".join(_CODES[n] for n in names)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def out(self, text: str = "") -> None:
        print(printable(text), file=sys.stdout)

    def err(self, text: str = "") -> None:
        print(printable(text), file=sys.stderr)

    def json(self, data: Any) -> None:
        import json

        json.dump(data, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")

    def error(self, message: str, hint: str | None = None) -> None:
        err_color = sys.stderr.isatty() and "NO_COLOR" not in os.environ
        label = "\x1b[31mError:\x1b[0m" if err_color else "Error:"
        self.err(f"{label} {message}")
        if hint:
            self.err(f"hint: {hint}")

    def confirm_destructive(self, question: str) -> bool:
        """Ask before an action that deletes or hides data: No unless the user says yes, and
        without a terminal to ask on, no (scripts pass -y)."""
        if not sys.stdin.isatty():
            self.err(f"{question} [y/N] No terminal to ask on: pass -y to go ahead.")
            return False
        return self.confirm(question, default=False)

    def confirm(self, question: str, *, default: bool) -> bool:
        """Ask on the terminal; without one, take the default."""
        if not sys.stdin.isatty():
            return default
        suffix = " [Y/n] " if default else " [y/N] "
        try:
            answer = input(question + suffix).strip().lower()
        except EOFError:
            return default
        return default if not answer else answer in ("y", "yes")


def exit_text(code: int | None) -> str:
    """`exit 3`, or `exit code unknown` for a status roar did not see (a job it recovered)."""
    return "exit code unknown" if code is None else f"exit {code}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def display_path(path: str) -> str:
    """Relative to the current directory when under it, absolute otherwise; quoted when it
    holds bytes that are not UTF-8 or characters that would make it ambiguous (``quote_path``).
    A URL (a job's remote object, ``s3://bucket/key``) is shown as it is."""
    if "://" in path and not path.startswith("/"):
        return quote_path(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = ".."
    return quote_path(path if rel.startswith("..") else rel)


def printable(text: str) -> str:
    """Text any terminal takes: a byte that is not UTF-8 (a surrogate escape) as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
