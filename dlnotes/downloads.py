"""A snippet as a reader takes it away: the script itself, and the same code as a notebook.

The notebook is made at build time with jupytext: the snippet's docstring becomes a Markdown
cell and each `# --8<-- [start:part]` section a code cell titled with the part's name, so the
notebook's cells are the pieces the page explains.
"""

from __future__ import annotations

import ast
import re

import jupytext

START = re.compile(r"^\s*# --8<-- \[start:(?P<part>[\w-]+)\]\s*$")
DROPPED = re.compile(r"^\s*# (--8<-- \[end:[\w-]+\]|dlnotes:)")


def as_notebook(source: str) -> str:
    """The snippet's source as an .ipynb (JSON text) that runs top to bottom like the script."""
    lines = source.splitlines()
    cells: list[str] = []
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    if docstring:
        cells += ["# %% [markdown]", *(f"# {line}".rstrip() for line in docstring.splitlines()),
                  ""]
        lines = lines[tree.body[0].end_lineno:]
    for line in lines:
        start = START.match(line)
        if start:
            cells.append(f"# %% {start['part']}")
        elif not DROPPED.match(line):
            cells.append(line)
    notebook = jupytext.reads("\n".join(cells) + "\n", fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata.pop("jupytext", None)
    return jupytext.writes(notebook, fmt="ipynb")
