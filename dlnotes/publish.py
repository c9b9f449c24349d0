"""Outputs replace the published ones only after a run that kept every promise.

The child writes into a staging folder next to the published one. Only when it exits 0, wrote
a readable `metrics.json`, wrote every file its pages show and met its `expect` bounds does the
staging folder replace the published one (two renames on one file system), its PNG figures
first made smaller where that keeps the picture (`dlnotes.images`). Anything else, a
crash, a timeout, a kill of the engine itself, leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dlnotes import images
from dlnotes.contract import METRICS
from dlnotes.project import Workspace
from dlnotes.snippet import Snippet

STAGING, RETIRED = ".tmp-", ".old-"


def problems(snippet: Snippet, staging: Path, promised: dict[str, list[str]], mode: str
             ) -> list[str]:
    """Every promise the staged outputs break: files the pages show, metrics, bounds."""
    missing = [
        f"did not write {name} (shown by {', '.join(pages)})"
        for name, pages in promised.items()
        if not (staging / name).is_file()
    ]
    metrics_path = staging / METRICS
    if snippet.is_notebook and not metrics_path.exists():
        return missing  # a walkthrough need not report numbers
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [*missing, "did not write metrics.json"]
    except ValueError as err:
        return [*missing, f"wrote a metrics.json that is not JSON ({err})"]
    if not isinstance(metrics, dict):
        return [*missing, "metrics.json is not a JSON object"]
    violations = (e.violation(metrics) for e in snippet.expectations_for(mode))
    return missing + [f"{mode} mode: {v}" for v in violations if v]


def replace(staging: Path, final: Path) -> None:
    """Swap the staged folder in for the published one; a kill between the renames is undone
    by `recover` on the next run. Its figures are optimised first (`images`: palette PNGs
    where they show the same picture), so a page never loads the heavier files."""
    images.optimise_folder(staging)
    retired = final.with_name(f"{RETIRED}{final.name}-{os.getpid()}")
    if final.exists():
        os.rename(final, retired)
    os.rename(staging, final)
    shutil.rmtree(retired, ignore_errors=True)


def recover(workspace: Workspace) -> None:
    """Undo what an engine killed mid-publish left: restore retired outputs, drop staging."""
    if not workspace.root.is_dir():
        return
    for path in workspace.root.iterdir():
        if path.name.startswith(RETIRED):
            name = path.name[len(RETIRED):].rsplit("-", 1)[0]
            if workspace.output_dir(name).exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.rename(path, workspace.output_dir(name))
        elif path.name.startswith(STAGING):
            shutil.rmtree(path, ignore_errors=True)


