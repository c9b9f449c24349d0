"""What a reader takes away: each snippet as .py and .ipynb, and provenance under each figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PROJECT, QuickBuild, Standalone

from dlnotes.downloads import as_notebook

SNIPPETS = sorted(PROJECT.snippets())


@pytest.mark.parametrize("name", SNIPPETS)
def test_the_notebook_made_from_a_snippet_runs_and_gives_the_same_metrics(
        name: str, quick_build: QuickBuild, standalone: dict[tuple[str, str], Standalone]
) -> None:
    notebook = json.loads(as_notebook(PROJECT.snippets()[name].read_text()))
    assert notebook["cells"][0]["cell_type"] == "markdown", "the docstring comes first"
    run = standalone[name, "notebook"]
    assert run.returncode == 0, run.output
    from_engine = (quick_build.output_dir(name) / "metrics.json").read_bytes()
    assert run.metrics == from_engine


def test_every_snippet_page_offers_its_code_and_every_figure_its_provenance(
        quick_site: Path) -> None:
    for name in SNIPPETS:
        assert (quick_site / "downloads" / f"{name}.py").read_bytes() == \
            PROJECT.snippets()[name].read_bytes()
        assert json.loads((quick_site / "downloads" / f"{name}.ipynb").read_text())["cells"]
        for page in PROJECT.pages_embedding(name):
            html = (quick_site / Path(page).relative_to("docs").with_suffix("") /
                    "index.html")
            if html.parent.name == "index":
                html = html.parent.parent / "index.html"
            text = html.read_text(encoding="utf-8")
            assert f'download="{name}.py"' in text and f'download="{name}.ipynb"' in text
            images = re.findall(rf'<img [^>]*src="[./]*generated/{name}/', text)
            captioned = [
                figure for figure in re.findall(r'<figure class="dlnotes-figure.*?</figure>',
                                                text, re.S)
                if f"generated/{name}/" in figure
                and re.search(rf"snippets/{name}.py</code></a> in quick mode · ran [\d.]+ s on "
                              r"\S+ · torch [\d.]+", figure)
            ]
            assert len(captioned) == len(images), f"{page}: a figure of {name} lacks provenance"
