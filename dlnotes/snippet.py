"""What a snippet declares about itself in `# dlnotes:` comment lines.

The declarations sit in the snippet's own file, so a reader who copies the script keeps them
as harmless comments, and the engine needs no second file to know:

    # dlnotes: timeout 120                     seconds before the run is killed
    # dlnotes: data data/prices.csv            a data file whose content is part of the cache key
    # dlnotes: data-if-present ~/.cache/x.pth  a file outside the project that changes the
                                               result when it is there; its content, or its
                                               absence, is part of the cache key (`~` and
                                               `$VARS` expand; several paths may follow)
    # dlnotes: expect full final_error_rate <= 0.03
    # dlnotes: expect quick final_error_rate <= 0.5

An `expect` line is checked after every run in that mode: a result outside it fails the run,
so the numbers the page's prose relies on are held by the build itself. Example notebooks take
the same lines in their code cells.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlnotes.errors import DlnotesError
from dlnotes.project import FULL, QUICK

DEFAULT_TIMEOUT_S = 300.0
DIRECTIVE = re.compile(r"^#\s*dlnotes:\s*(?P<key>\S+)\s*(?P<value>.*?)\s*$")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Expectation:
    """A bound on one number of `metrics.json` in one mode."""

    mode: str
    metric: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"

    def violation(self, metrics: dict[str, Any]) -> str | None:
        """Why `metrics` breaks this bound, or None when it holds."""
        value = lookup(metrics, self.metric)
        if value is None:
            return f"metrics.json has no '{self.metric}' (expected {self})"
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return f"'{self.metric}' is {value!r}, not a number (expected {self})"
        if not OPERATORS[self.op](value, self.bound):
            return f"{self.metric} = {value:g}, expected {self}"
        return None


@dataclass(frozen=True)
class Snippet:
    name: str
    path: Path
    timeout_s: float = DEFAULT_TIMEOUT_S
    data_files: tuple[Path, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    optional_files: tuple[str, ...] = ()  # as written: `~` and `$VARS` expand when read

    @property
    def is_notebook(self) -> bool:
        return self.path.suffix == ".ipynb"

    def expectations_for(self, mode: str) -> list[Expectation]:
        return [e for e in self.expectations if e.mode == mode]

    @classmethod
    def parse(cls, name: str, path: Path, project_root: Path) -> Snippet:
        """Read the `# dlnotes:` lines; a malformed one is an error naming file and line."""
        timeout = DEFAULT_TIMEOUT_S
        data: list[Path] = []
        optional: list[str] = []
        expectations: list[Expectation] = []
        for where, line in _lines(path, project_root):
            match = DIRECTIVE.match(line.strip())
            if not match:
                continue
            key, value = match["key"], match["value"]
            if key == "timeout":
                timeout = _positive_number(value, where)
            elif key == "data":
                data_path = (project_root / value).resolve()
                if not data_path.is_file():
                    raise DlnotesError(f"{where}: declared data file '{value}' does not exist")
                data.append(data_path)
            elif key == "data-if-present":
                if not value:
                    raise DlnotesError(f"{where}: data-if-present needs at least one path")
                optional += value.split()
            elif key == "expect":
                expectations.append(_expectation(value, where))
            else:
                raise DlnotesError(
                    f"{where}: unknown directive '{key}' "
                    "(known: timeout, data, data-if-present, expect)"
                )
        return cls(name, path, timeout, tuple(data), tuple(expectations), tuple(optional))


def _lines(path: Path, project_root: Path) -> list[tuple[str, str]]:
    """The lines that may hold directives, each with where it is ('file:line' or 'file cell N')."""
    relative = path.relative_to(project_root).as_posix()
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [(f"{relative}:{n}", line) for n, line in enumerate(text.splitlines(), 1)]
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError, TypeError):
        raise DlnotesError(f"{relative}: not a readable notebook") from None
    return [(f"{relative} cell {n}", line)
            for n, cell in enumerate(cells, 1) if cell.get("cell_type") == "code"
            for line in "".join(cell.get("source", "")).splitlines()]


def lookup(metrics: dict[str, Any], dotted: str) -> Any:
    """`metrics['a']['b']` for 'a.b'; None when any part is missing."""
    value: Any = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _positive_number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DlnotesError(f"{where}: timeout must be a positive number of seconds, got '{text}'")
    return value


def _expectation(text: str, where: str) -> Expectation:
    parts = text.split()
    if (
        len(parts) != 4
        or parts[0] not in (FULL, QUICK)
        or parts[2] not in OPERATORS
    ):
        raise DlnotesError(
            f"{where}: expected 'expect full|quick METRIC OP NUMBER' "
            f"with OP one of {' '.join(OPERATORS)}, got '{text}'"
        )
    try:
        bound = float(parts[3])
    except ValueError:
        raise DlnotesError(f"{where}: '{parts[3]}' is not a number") from None
    return Expectation(parts[0], parts[1], parts[2], bound)
