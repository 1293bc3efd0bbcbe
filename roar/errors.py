"""The one error type the CLI knows how to show: a message for the user and a hint."""

from __future__ import annotations


class RoarError(Exception):
    """An error the user can act on. ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class NotInitializedError(RoarError):
    def __init__(self) -> None:
        super().__init__(
            "roar is not initialized in this directory.",
            hint="Run 'roar init' first to set up roar.",
        )


class NotGitRepoError(RoarError):
    def __init__(self) -> None:
        super().__init__(
            "Not in a git repository.",
            hint="roar records the code version from git: run 'git init' (and commit your code) first.",
        )


class StoreError(RoarError):
    """The store cannot be opened or is from a newer roar."""
