"""Catch a snippet that writes outside its output folder.

A snippet must write only into `DLNOTES_OUT`. The engine snapshots the project's own files
(sizes and modification times; the virtual environment, git data, caches and the published
output folders are skipped) before and after each run, and a file created in between, or a
non-source file changed, fails the run with the file's name. Changed sources (pages, scripts,
configuration) are not blamed: under `mkdocs serve` those are the author's edits, saved while a
snippet ran. Under parallel runs a stray file is blamed on every snippet that was running.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlnotes.project import Project, Workspace

SKIPPED = {".git", ".venv", ".dlnotes", ".cache", "site", "__pycache__", ".pytest_cache",
           ".ruff_cache", "screenshots", "node_modules"}

SOURCES = {".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".css", ".js",
           ".html"}

Snapshot = dict[str, tuple[int, int]]


def snapshot(project: Project, workspace: Workspace) -> Snapshot:
    skipped_dirs = {workspace.root.resolve(), (project.docs_dir / "generated").resolve()}
    files: Snapshot = {}
    for folder, dirs, names in os.walk(project.root):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in SKIPPED and (here / d).resolve() not in skipped_dirs]
        for name in names:
            try:
                info = (here / name).stat()
            except OSError:
                continue
            files[(here / name).relative_to(project.root).as_posix()] = (info.st_mtime_ns,
                                                                         info.st_size)
    if workspace.root.is_dir():  # the output root itself holds only snippet folders
        for entry in workspace.root.iterdir():
            if not entry.name.startswith(".") and entry.is_file():
                files[f"{workspace.root}/{entry.name}"] = (entry.stat().st_mtime_ns, 0)
    return files


def written(before: Snapshot, after: Snapshot) -> list[str]:
    """Files created, or non-source files changed, between two snapshots."""
    return sorted(
        path for path, stamp in after.items()
        if path not in before or (before[path] != stamp and Path(path).suffix not in SOURCES)
    )
