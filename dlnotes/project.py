"""The layout of the repository and of each mode's outputs, in one place.

Everything else asks this module where a snippet, a page or an output folder lives, so the
layout described in README.md can change in one file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dlnotes.contract import GENERATED, QUICK_DIR_ENV
from dlnotes.errors import DlnotesError

FULL, QUICK = "full", "quick"
EXAMPLE_PREFIX = "example-"


@dataclass(frozen=True)
class Project:
    """A checkout: `docs/` pages, `snippets/` scripts."""

    root: Path

    @property
    def docs_dir(self) -> Path:
        return self.root / "docs"

    @property
    def snippets_dir(self) -> Path:
        return self.root / "snippets"

    @property
    def examples_dir(self) -> Path:
        return self.root / "examples"

    def snippets(self) -> dict[str, Path]:
        """Every `snippets/<name>.py`, by name; files starting with `_` are not snippets."""
        if not self.snippets_dir.is_dir():
            return {}
        return {
            path.stem: path
            for path in sorted(self.snippets_dir.glob("*.py"))
            if not path.name.startswith("_")
        }

    def examples(self) -> dict[str, Path]:
        """Every `examples/<stem>.ipynb` walkthrough, by its name `example-<stem>`."""
        if not self.examples_dir.is_dir():
            return {}
        return {f"{EXAMPLE_PREFIX}{path.stem}": path
                for path in sorted(self.examples_dir.glob("*.ipynb"))}

    def runnables(self) -> dict[str, Path]:
        """Everything the engine runs, by name: the snippets, then the example notebooks.

        ("Jobs" means only parallel slots, as in `--jobs`; a runnable is a snippet or a
        notebook.)"""
        return {**self.snippets(), **self.examples()}

    @cached_property
    def _pages(self) -> dict[str, str]:
        """Page sources by their path relative to the project (read once per build)."""
        return {
            path.relative_to(self.root).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(self.docs_dir.rglob("*.md"))
            if GENERATED not in path.relative_to(self.docs_dir).parts
        }

    def pages_embedding(self, name: str) -> list[str]:
        """Pages that include the snippet's code or show one of its outputs."""
        pattern = re.compile(
            rf"--8<--\s*\"snippets/{re.escape(name)}\.py\b|{GENERATED}/{re.escape(name)}/"
        )
        return [page for page, text in self._pages.items() if pattern.search(text)]

    def promised_outputs(self, name: str) -> dict[str, list[str]]:
        """Output files that pages reference, mapped to the pages referencing them.

        A snippet promises what its pages show: if a page shows `generated/<name>/curves.png`,
        a run that does not write `curves.png` is a failed run.
        """
        pattern = re.compile(rf"{GENERATED}/{re.escape(name)}/([\w.\-]+)")
        promised: dict[str, list[str]] = {}
        for page, text in self._pages.items():
            for filename in sorted(set(pattern.findall(text))):
                promised.setdefault(filename, []).append(page)
        return promised


@dataclass(frozen=True)
class Workspace:
    """Where one mode keeps its outputs and manifest.

    Full mode writes into `docs/generated/`, which the published site shows. Quick mode (tests,
    `--quick`) writes into its own folder so that it never replaces a published figure and never
    invalidates the full-mode cache.
    """

    mode: str
    base: Path

    @property
    def root(self) -> Path:
        return self.base / GENERATED

    @property
    def manifest_path(self) -> Path:
        return self.root / ".manifest.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".lock"

    def output_dir(self, name: str) -> Path:
        return self.root / name

    @classmethod
    def for_mode(cls, project: Project, quick: bool) -> Workspace:
        if not quick:
            return cls(FULL, project.docs_dir)
        base = os.environ.get(QUICK_DIR_ENV)
        return cls(QUICK, Path(base).resolve() if base else project.root / ".dlnotes" / QUICK)


def find_project(start: Path | None = None) -> Project:
    """The project containing `start` (default: the current folder), found by its mkdocs.yml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "mkdocs.yml").is_file() and (folder / "snippets").is_dir():
            return Project(folder)
    raise DlnotesError(f"no project (mkdocs.yml and snippets/) at or above {here}")
