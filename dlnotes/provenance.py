"""Captions that say where a figure or table came from, made from the manifest.

Under every generated figure and table a page shows, the build puts one line: which snippet
made it (a link to download it), in which mode, how long it ran, on which device, with which
torch version and when. A figure whose snippet failed in a local preview gets a warning instead.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from dlnotes.project import GENERATED

FIGURE = re.compile(
    rf"^(?P<indent>[ \t]*)(?P<image>!\[[^\]]*\]\((?:\.\./)*{GENERATED}/(?P<name>\w+)/[^)\s]+\)"
    r"(?:\{[^}]*\})?)[ \t]*$",
    re.M,
)
TABLE = re.compile(
    rf"^(?P<indent>[ \t]*)--8<--\s*\"{GENERATED}/(?P<name>\w+)/[^\"]+\.md\"[ \t]*$", re.M)


def caption(name: str, entry: dict[str, Any], page_dir: str) -> str:
    """One line of HTML-free Markdown describing the run that made `name`'s outputs."""
    script = f"[`snippets/{name}.py`]({posixpath.relpath(f'downloads/{name}.py', page_dir)})"
    if entry.get("status") == "failed":
        return (f"**⚠ Stale:** {script} failed in this build ({entry.get('error', '')}); "
                f"this is its last good output, from {entry.get('ran_at', 'an earlier run')}.")
    if entry.get("status") != "ok":
        return f"Made by {script} (not run yet)."
    env = entry["inputs"]["environment"]
    return (f"Made by {script} in {entry['inputs']['mode']} mode · ran {entry['runtime_s']:.1f} s "
            f"on {entry.get('device', 'an unknown device')} · torch {env['torch']} · "
            f"{entry['ran_at']}")


def add_captions(markdown: str, entries: dict[str, dict[str, Any]], page_dir: str) -> str:
    """Wrap each generated figure in a captioned <figure>; put a caption under each table."""

    def figure(match: re.Match[str]) -> str:
        indent, name = match["indent"], match["name"]
        text = caption(name, entries.get(name, {}), page_dir)
        stale = " dlnotes-stale" if entries.get(name, {}).get("status") == "failed" else ""
        return "\n".join([
            f'{indent}<figure class="dlnotes-figure{stale}" markdown="span">',
            f"{indent}  {match['image']}",
            f'{indent}  <figcaption class="dlnotes-provenance" markdown="span">{text}</figcaption>',
            f"{indent}</figure>",
        ])

    def table(match: re.Match[str]) -> str:
        name = match["name"]
        text = caption(name, entries.get(name, {}), page_dir)
        return (f"{match[0]}\n\n{match['indent']}"
                f'<p class="dlnotes-provenance" markdown="span">{text}</p>')

    return TABLE.sub(table, FIGURE.sub(figure, markdown))


def downloads_block(names: list[str], page_dir: str) -> str:
    """The line under a page's title offering its snippets as scripts and notebooks."""
    links = []
    for name in names:
        script = posixpath.relpath(f"downloads/{name}.py", page_dir)
        notebook = posixpath.relpath(f"downloads/{name}.ipynb", page_dir)
        links.append(f"[`{name}.py`]({script}){{ download=\"{name}.py\" }} · "
                     f"[`{name}.ipynb`]({notebook}){{ download=\"{name}.ipynb\" }}")
    return ('<p class="dlnotes-downloads" markdown="span">Run this page\'s code yourself: '
            + " · ".join(links) + "</p>")
