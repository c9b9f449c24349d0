"""The build report page: every snippet, its status, runtime, cache hit or run, and versions.

Rendered from the manifest at build time, so the site itself says how fresh each figure is.
"""

from __future__ import annotations

from dlnotes.engine import Outcome
from dlnotes.manifest import Entry
from dlnotes.project import Project, Workspace


def render(project: Project, workspace: Workspace, entries: dict[str, Entry],
           outcomes: dict[str, Outcome]) -> str:
    lines = [
        "---",  # run times and dates, not content: kept out of the search index
        "search:",
        "  exclude: true",
        "---",
        "",
        "# Build report",
        "",
        "Every figure, table and number on this site was produced by a snippet that the build ran.",
        f"This build used **{workspace.mode}** mode. A snippet is re-run only when its source,",
        "its mode, a declared data file or a package version changed; otherwise its last outputs",
        "are reused (*cached*).",
        "",
        "| Snippet | Pages | Status | This build | Runtime | Mode | Versions | Last ran |",
        "| --- | --- | --- | --- | ---: | --- | --- | --- |",
    ]
    examples = project.examples()
    for name in project.runnables():
        entry = entries.get(name)
        inputs = (entry and entry.inputs) or {}
        env = inputs.get("environment", {})
        shown = ([f"examples/{examples[name].name}"] if name in examples
                 else [page.removeprefix("docs/") for page in project.pages_embedding(name)])
        pages = ", ".join(f"[{page}]({page})" for page in shown) or "–"
        runtime = "–" if entry is None or entry.runtime_s is None else f"{entry.runtime_s:.1f} s"
        lines.append(
            f"| `{name}` | {pages} | {_status(entry)} | {_this_build(outcomes.get(name))} "
            f"| {runtime} | {inputs.get('mode', '–')} "
            f"| Python {env.get('python', '–')}, torch {env.get('torch', '–')} "
            f"| {(entry and entry.ran_at) or '–'} |"
        )
    return "\n".join(lines) + "\n"


def _status(entry: Entry | None) -> str:
    if entry is None:
        return "never ran"
    if entry.status == "failed":
        return f"**failed**: {entry.error or ''}".replace("|", "\\|")
    return "ok"


def _this_build(outcome: Outcome | None) -> str:
    if outcome is None:
        return "not run"
    if outcome.status == "ran":
        return f"ran ({outcome.reason})"
    return outcome.status
