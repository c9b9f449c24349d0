"""The evidence standard, where a machine can check it (shared/DESIGN.md §6).

A number the prose puts next to "±" or "in n of N runs" must come from at least five seeded
runs in full mode, every snippet that trains a model reports a baseline beside it, and no page
quotes study notes the reader does not have.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import PROJECT, ROOT, QuickBuild

from dlnotes.project import FULL
from dlnotes.snippet import Snippet

PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "generated" not in p.parts)
NUMBER = r"\{\{\s*(\w+)\.[\w.]+\s*(?::[^}]*)?\}\}"
# "{{ a.x }} ± {{ a.y }}", "± {{ a.y }}", "in {{ a.wins }} of {{ a.n_seeds }}" (runs, seeds...)
SPREAD = re.compile(rf"{NUMBER}\s*±|±\s*{NUMBER}")
COUNT = re.compile(rf"in\s+{NUMBER}\s+of\s+{NUMBER}", re.S)


def _page_id(path) -> str:
    return path.relative_to(ROOT).as_posix()


def _repeated_snippets(text: str) -> set[str]:
    """Snippets whose numbers the page reports with a spread or a win count."""
    names = {name for match in SPREAD.finditer(text) for name in match.groups() if name}
    return names | {match[1] for match in COUNT.finditer(text)}


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_a_number_with_a_spread_or_a_count_comes_from_five_seeded_runs(page) -> None:
    for name in sorted(_repeated_snippets(page.read_text(encoding="utf-8"))):
        snippet = Snippet.parse(name, PROJECT.snippets()[name], ROOT)
        bounds = {(e.metric, e.op, e.bound) for e in snippet.expectations_for(FULL)}
        assert any(metric == "n_seeds" and op in (">=", "==") and bound >= 5
                   for metric, op, bound in bounds), (
            f"{_page_id(page)} reports {name}'s numbers with ± or 'n of N': {name}.py must "
            "record n_seeds and declare '# dlnotes: expect full n_seeds >= 5'")


TRAINING = re.compile(r"\.backward\(|\.fit\(")


@pytest.mark.parametrize("name", sorted(n for n, p in PROJECT.snippets().items()
                                        if TRAINING.search(p.read_text())))
def test_a_snippet_that_trains_a_model_reports_a_baseline(name: str,
                                                          quick_build: QuickBuild) -> None:
    metrics = json.loads((quick_build.output_dir(name) / "metrics.json").read_text())
    assert any(key.startswith("baseline_") for key in metrics), (
        f"{name} trains a model but its metrics.json has no baseline_* number")


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_no_page_quotes_notes_the_reader_does_not_have(page) -> None:
    assert not re.search(r"\bthe notes\b", page.read_text(encoding="utf-8"), re.I)
