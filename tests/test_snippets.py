"""Every snippet keeps the contract: it runs in quick mode, alone, and meets its own bounds.

Snippets are discovered, so a new one is covered without editing this file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT, ROOT, QuickBuild, engine_threads, subprocess_env

from dlnotes.project import QUICK
from dlnotes.snippet import Snippet

SNIPPETS = sorted(PROJECT.snippets())


def _snippet(name: str) -> Snippet:
    return Snippet.parse(name, PROJECT.snippets()[name], ROOT)


@pytest.mark.parametrize("name", SNIPPETS)
def test_runs_in_quick_mode_and_meets_its_bounds(name: str, quick_build: QuickBuild) -> None:
    assert name in quick_build.outcomes, quick_build.failure
    metrics = json.loads((quick_build.workspace.output_dir(name) / "metrics.json").read_text())
    expectations = _snippet(name).expectations_for(QUICK)
    assert expectations, f"{name} declares no '# dlnotes: expect quick ...' bound"
    assert [e.violation(metrics) for e in expectations] == [None] * len(expectations)


@pytest.mark.parametrize("name", SNIPPETS)
def test_runs_alone_outside_the_build_with_the_same_results(
    name: str, quick_build: QuickBuild, tmp_path: Path
) -> None:
    """Copied alone into an empty folder and run by hand, it writes ./outputs/<name>/."""
    script = tmp_path / f"{name}.py"
    script.write_text(PROJECT.snippets()[name].read_text())
    env = subprocess_env(DLNOTES_QUICK="1", OMP_NUM_THREADS=engine_threads(), MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    by_hand = (tmp_path / "outputs" / name / "metrics.json").read_bytes()
    by_engine = (quick_build.workspace.output_dir(name) / "metrics.json").read_bytes()
    assert by_hand == by_engine, "two runs must give a byte-identical metrics.json"


@pytest.mark.parametrize("name", SNIPPETS)
def test_imports_nothing_from_the_build_package(name: str) -> None:
    tree = ast.parse(PROJECT.snippets()[name].read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "dlnotes" not in imported
