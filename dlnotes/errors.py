"""Errors the engine reports to people as one line (or one short block), never as a traceback."""

from __future__ import annotations

from typing import Any


class DlnotesError(Exception):
    """A problem with the input (a name, a path, a directive) that the user can fix."""


class BuildFailed(DlnotesError):
    """One or more snippets failed; the message names each one, its error and its pages."""

    def __init__(self, failures: dict[str, str], outcomes: list[Any] | None = None) -> None:
        self.names = list(failures)
        self.failures = failures
        # Every run's outcome, the successful ones too: a caller that ran many (the test
        # fixture) can still use the ones that worked.
        self.outcomes = outcomes or []
        count = len(failures)
        head = f"{count} snippet{'s' if count != 1 else ''} failed; previous outputs were kept."
        super().__init__("\n\n".join([head, *failures.values()]))
