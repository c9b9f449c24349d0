"""Numbers in the prose come from `metrics.json`, never typed by hand.

A page writes `{{ losses.final_error_rate:.1% }}`: snippet name, a (dotted) key of its
`metrics.json`, and an optional Python format spec. The build replaces it with the value the
last run produced; a reference to a missing snippet or key is an error naming page and key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from dlnotes.errors import DlnotesError
from dlnotes.project import Workspace
from dlnotes.snippet import lookup

PLACEHOLDER = re.compile(
    r"\{\{\s*(?P<name>[A-Za-z_]\w*)\.(?P<key>[\w.]+?)(?::(?P<spec>[^}\s]+))?\s*\}\}"
)


class Metrics:
    """Reads each snippet's `metrics.json` once per build."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._loaded: dict[str, dict[str, Any] | None] = {}

    def of(self, name: str) -> dict[str, Any] | None:
        if name not in self._loaded:
            path = self.workspace.output_dir(name) / "metrics.json"
            try:
                self._loaded[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._loaded[name] = None
        return self._loaded[name]

    def substitute(self, text: str, page: str,
                   on_error: Callable[[str], str] | None = None) -> str:
        """Replace every placeholder; errors raise, or go to `on_error` for its stand-in text."""

        def replace(match: re.Match[str]) -> str:
            try:
                return self._format(match)
            except DlnotesError as err:
                if on_error is None:
                    raise DlnotesError(f"{page}: {err}") from None
                return on_error(f"{page}: {err}")

        return PLACEHOLDER.sub(replace, text)

    def _format(self, match: re.Match[str]) -> str:
        name, key, spec = match["name"], match["key"], match["spec"] or ""
        metrics = self.of(name)
        if metrics is None:
            raise DlnotesError(f"{match[0]}: snippet '{name}' has no metrics.json")
        value = lookup(metrics, key)
        if value is None:
            raise DlnotesError(f"{match[0]}: metrics.json of '{name}' has no '{key}'")
        try:
            return format(value, spec)
        except (ValueError, TypeError) as err:
            raise DlnotesError(f"{match[0]}: cannot format {value!r}: {err}") from None
