"""A snippet as a reader takes it away: a clean script, and the same code as a notebook.

Both leave out what only the build reads: the `# --8<--` section markers, the `# dlnotes:`
directives and the comment line that introduces them. The notebook is made with jupytext: the
snippet's docstring becomes a Markdown cell, and each `# --8<-- [start:part]` section a code cell
titled with the part's name, preceded by a Markdown cell made of the comment that opens the
section (the why of the code), so the notebook's cells are the pieces the page explains.
"""

from __future__ import annotations

import ast
import re

import jupytext

START = re.compile(r"^\s*# --8<-- \[start:(?P<part>[\w-]+)\]\s*$")
BUILD_ONLY = re.compile(r"^\s*# (--8<-- \[(start|end):[\w-]+\]|dlnotes:|Build checks\b)")
COMMENT = re.compile(r"^# ?(?P<text>.*)$")


def as_script(source: str) -> str:
    """The snippet without the lines only the build reads, nor the extra blank lines they
    leave behind (never more than PEP 8's two in a row, none at the end)."""
    kept = [line for line in source.splitlines() if not BUILD_ONLY.match(line)]
    return re.sub(r"\n{4,}", "\n\n\n", "\n".join(kept)).rstrip() + "\n"


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
    at = 0
    while at < len(lines):
        start = START.match(lines[at])
        at += 1
        if start:
            why = _leading_comment(lines, at)
            if why:
                cells += ["# %% [markdown]", *(f"# {text}".rstrip() for text in why), ""]
                at += len(why)
            cells.append(f"# %% {start['part']}")
        elif not BUILD_ONLY.match(lines[at - 1]):
            cells.append(lines[at - 1])
    notebook = jupytext.reads("\n".join(cells) + "\n", fmt="py:percent")
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata.pop("jupytext", None)
    for number, cell in enumerate(notebook.cells):  # nbformat would draw random ids: the
        cell.id = f"cell-{number}"                  # same snippet, the same download
    return jupytext.writes(notebook, fmt="ipynb")


def _leading_comment(lines: list[str], at: int) -> list[str]:
    """The text of the comment lines that open a section at `lines[at]` (none if code comes
    first, or if the section starts with a directive the build reads)."""
    texts = []
    for line in lines[at:]:
        comment = COMMENT.match(line)
        if not comment or BUILD_ONLY.match(line):
            break
        texts.append(comment["text"])
    return texts
