"""The service layer: everything the routes do, over SQLAlchemy sessions."""

from __future__ import annotations


class NotFound(Exception):
    """Nothing matches the hash or prefix."""


class Ambiguous(Exception):
    """A prefix matches more than one record."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class BadPrefix(ValueError):
    """Not a hex hash prefix of at least MIN_PREFIX characters."""
