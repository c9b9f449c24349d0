"""What a reader takes away: each snippet as .py and .ipynb, and provenance under each figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import PROJECT, QuickBuild, StandaloneRuns

from dlnotes.downloads import as_notebook, as_script

SNIPPETS = sorted(PROJECT.snippets())


@pytest.mark.parametrize("name", SNIPPETS)
def test_the_notebook_made_from_a_snippet_runs_and_gives_the_same_metrics(
        name: str, quick_build: QuickBuild, standalone: StandaloneRuns
) -> None:
    notebook = json.loads(as_notebook(PROJECT.snippets()[name].read_text()))
    assert notebook["cells"][0]["cell_type"] == "markdown", "the docstring comes first"
    run = standalone[name, "notebook"]
    assert run.returncode == 0, run.output
    from_engine = (quick_build.output_dir(name) / "metrics.json").read_bytes()
    assert run.metrics == from_engine


def test_every_snippet_page_offers_its_code_and_says_once_where_its_outputs_came_from(
        quick_site: Path) -> None:
    for name in SNIPPETS:
        source = PROJECT.snippets()[name].read_text()
        assert (quick_site / "downloads" / f"{name}.py").read_text() == as_script(source)
        assert json.loads((quick_site / "downloads" / f"{name}.ipynb").read_text())["cells"]
        for page in PROJECT.pages_embedding(name):
            html = (quick_site / Path(page).relative_to("docs").with_suffix("") /
                    "index.html")
            if html.parent.name == "index":
                html = html.parent.parent / "index.html"
            text = html.read_text(encoding="utf-8")
            assert f'download="{name}.py"' in text and f'download="{name}.ipynb"' in text
            shows_outputs = re.search(rf'!\[[^\]]*\]\([./]*generated/{name}/'
                                      rf'|--8<--\s*"generated/{name}/', page_source(page))
            notes = re.findall(rf"<summary>Made by <code>snippets/{name}.py</code></summary>"
                               r"<p>quick mode · ran [\d.]+ s on \S+ · Python [\d.]+", text)
            assert len(notes) == (1 if shows_outputs else 0), f"{page}: provenance of {name}"


def page_source(page: str) -> str:
    return (PROJECT.root / page).read_text(encoding="utf-8")


SNIPPET = '''\
"""A toy snippet."""

# --8<-- [start:setup]
# Seeds first, so two runs agree.
# Then the data.
import random

random.seed(0)
# --8<-- [end:setup]


# --8<-- [start:train]
print(random.random())  # no opening comment: no Markdown cell
# --8<-- [end:train]


# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick value >= 0
# dlnotes: timeout 60
'''


def test_the_script_download_has_no_line_only_the_build_reads() -> None:
    assert as_script(SNIPPET) == (
        '"""A toy snippet."""\n\n'
        "# Seeds first, so two runs agree.\n# Then the data.\nimport random\n\n"
        "random.seed(0)\n\n\n"
        "print(random.random())  # no opening comment: no Markdown cell\n")


def test_the_comment_opening_a_section_becomes_the_notebooks_markdown_cell() -> None:
    cells = [(cell["cell_type"], "".join(cell["source"]))
             for cell in json.loads(as_notebook(SNIPPET))["cells"]]
    assert cells == [
        ("markdown", "A toy snippet."),
        ("markdown", "Seeds first, so two runs agree.\nThen the data."),
        ("code", "import random\n\nrandom.seed(0)"),
        ("code", "print(random.random())  # no opening comment: no Markdown cell"),
    ]


@pytest.mark.parametrize("name", sorted(PROJECT.snippets()))
def test_the_same_snippet_gives_the_same_notebook_download(name: str) -> None:
    """Byte for byte: a download that changed would make every page that links it look
    changed (and nbformat draws random cell ids unless told otherwise)."""
    source = PROJECT.snippets()[name].read_text()
    assert as_notebook(source) == as_notebook(source)
