"""Every snippet keeps the contract: it runs in quick mode, alone, and meets its own bounds.

Snippets are discovered, so a new one is covered without editing this file.
"""

from __future__ import annotations

import ast
import json

import pytest
from conftest import PROJECT, ROOT, QuickBuild, StandaloneRuns

from dlnotes.project import QUICK
from dlnotes.snippet import Snippet

SNIPPETS = sorted(PROJECT.snippets())


def _snippet(name: str) -> Snippet:
    return Snippet.parse(name, PROJECT.snippets()[name], ROOT)


@pytest.mark.parametrize("name", SNIPPETS)
def test_runs_in_quick_mode_and_meets_its_bounds(name: str, quick_build: QuickBuild) -> None:
    metrics = json.loads((quick_build.output_dir(name) / "metrics.json").read_text())
    expectations = _snippet(name).expectations_for(QUICK)
    assert expectations, f"{name} declares no '# dlnotes: expect quick ...' bound"
    assert [e.violation(metrics) for e in expectations] == [None] * len(expectations)


@pytest.mark.parametrize("name", SNIPPETS)
def test_runs_alone_outside_the_build_with_the_same_results(
    name: str, quick_build: QuickBuild, standalone: StandaloneRuns
) -> None:
    """Copied alone into an empty folder and run by hand, it writes ./outputs/<name>/."""
    run = standalone[name, "script"]
    assert run.returncode == 0, run.output
    by_engine = (quick_build.output_dir(name) / "metrics.json").read_bytes()
    assert run.metrics == by_engine, "two runs must give a byte-identical metrics.json"


@pytest.mark.parametrize("name", SNIPPETS)
def test_imports_nothing_from_the_build_package(name: str) -> None:
    tree = ast.parse(PROJECT.snippets()[name].read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "dlnotes" not in imported
