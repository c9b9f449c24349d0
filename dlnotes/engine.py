"""Bring a mode's outputs up to date: decide what is stale, run it, record why.

This is the one entry point the CLI and the MkDocs hook share.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from dlnotes import cachekey, machine, manifest, processes, publish, runner
from dlnotes.errors import BuildFailed, DlnotesError
from dlnotes.project import Project, Workspace
from dlnotes.snippet import Snippet

Log = Callable[[str], None]
Status = Literal["cached", "ran", "failed"]


@dataclass
class Outcome:
    """What happened to one snippet in this build."""

    name: str
    status: Status
    reason: str = ""
    runtime_s: float = 0.0
    summary: str = ""
    detail: str = ""


def load_snippets(project: Project, names: Iterable[str] = ()) -> list[Snippet]:
    """The snippets and example notebooks to consider: all, or the named ones."""
    available = project.runnables()
    wanted = list(names) or list(available)
    unknown = [n for n in wanted if n not in available]
    if unknown:
        known = ", ".join(available) or "none"
        raise DlnotesError(f"unknown snippet {', '.join(unknown)}; known: {known}")
    return [Snippet.parse(n, available[n], project.root) for n in wanted]


def status(project: Project, workspace: Workspace
           ) -> list[tuple[Snippet, str, manifest.Entry | None]]:
    """Each snippet with why it would run now ('' when up to date) and its manifest entry."""
    entries = manifest.load(workspace.manifest_path)
    env = cachekey.environment()
    rows = []
    for snippet in load_snippets(project):
        entry = entries.get(snippet.name)
        current = cachekey.inputs(snippet, workspace.mode, env, project.root)
        rows.append((snippet,
                     cachekey.rerun_reason(entry, current, workspace.output_dir(snippet.name)),
                     entry))
    return rows


def build(
    project: Project,
    workspace: Workspace,
    names: Iterable[str] = (),
    force: bool = False,
    jobs: int | None = None,
    log: Log = print,
    fast: bool = True,
) -> list[Outcome]:
    """Run every stale (or, with `force`, every selected) snippet; raise BuildFailed on failure.

    Completed runs are recorded in the manifest as they finish, so a build interrupted half way
    keeps what it finished. `fast` runs snippets in children forked from preloaded workers
    (where the system can fork); otherwise each snippet is a plain new Python process.
    """
    snippets = load_snippets(project, names)
    _ensure_writable(workspace)
    with manifest.exclusive(workspace.lock_path):
        publish.recover(workspace)
        entries = manifest.load(workspace.manifest_path)
        env = cachekey.environment()
        outcomes: dict[str, Outcome] = {}
        todo: list[tuple[Snippet, str, dict[str, Any]]] = []
        for snippet in snippets:
            current = cachekey.inputs(snippet, workspace.mode, env, project.root)
            reason = "forced" if force else cachekey.rerun_reason(
                entries.get(snippet.name), current, workspace.output_dir(snippet.name))
            if reason:
                todo.append((snippet, reason, current))
            else:
                outcomes[snippet.name] = Outcome(snippet.name, "cached")
                log(f"[{snippet.name}] cached")
        if todo:
            plan = machine.plan(jobs)
            device = machine.device()
            record = threading.Lock()

            workers: queue.Queue[processes.Zygote | None] = queue.Queue()
            slots = min(plan.jobs, len(todo))
            # A worker preloads every heavy package: worth it only when it serves several
            # snippets; a lone snippet imports just what it needs, faster as a plain process.
            use_zygote = fast and hasattr(os, "fork") and len(todo) > slots
            for _ in range(slots):
                workers.put(processes.Zygote(plan.threads) if use_zygote else None)

            def run_one(item: tuple[Snippet, str, dict[str, Any]]) -> None:
                snippet, reason, current = item
                worker = workers.get()
                try:
                    result = runner.run(snippet, workspace, project, plan.threads, worker)
                finally:
                    workers.put(worker)
                outcome = _outcome(snippet.name, reason, result)
                with record:
                    if result.ok:
                        entries[snippet.name] = _entry(current, reason, result, plan.threads,
                                                       device)
                    else:  # keep the last good run's record beside the failure
                        last_good = entries.get(snippet.name, manifest.Entry("failed"))
                        entries[snippet.name] = last_good.failed(outcome.summary, _now())
                    manifest.save(workspace.manifest_path, entries)
                    outcomes[snippet.name] = outcome
                    log(_progress(outcome))

            try:
                # Longest first, by the last recorded runtime (never run: first of all), so
                # that no long run starts last while the other cores sit idle.
                todo.sort(key=lambda item: -_recorded_runtime(entries.get(item[0].name)))
                with ThreadPoolExecutor(max_workers=slots) as pool:
                    list(pool.map(run_one, todo))
            finally:
                while not workers.empty():
                    worker = workers.get()
                    if worker is not None:
                        with contextlib.suppress(OSError):
                            worker.close()
    ordered = [outcomes[s.name] for s in snippets]
    failures = {o.name: _failure_text(o, project, workspace)
                for o in ordered if o.status == "failed"}
    if failures:
        raise BuildFailed(failures, ordered)
    return ordered


def _ensure_writable(workspace: Workspace) -> None:
    try:
        workspace.root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DlnotesError(
            f"cannot create output folder {workspace.root}: {err.strerror}") from None
    if not os.access(workspace.root, os.W_OK | os.X_OK):
        raise DlnotesError(f"output folder {workspace.root} is not writable")


def _outcome(name: str, reason: str, result: runner.RunResult) -> Outcome:
    return Outcome(name, "ran" if result.ok else "failed", reason, result.runtime_s,
                   result.summary, result.detail)


def _entry(current: dict[str, Any], reason: str, result: runner.RunResult, thread_count: int,
           device: str) -> manifest.Entry:
    return manifest.Entry(
        status="ok",
        inputs=current,
        key=cachekey.key(current),
        reason=reason,
        runtime_s=round(result.runtime_s, 2),
        compute_s=round(result.compute_s, 2) if result.compute_s is not None else None,
        ran_at=_now(),
        threads=thread_count,
        device=device,
        outputs=tuple(result.outputs),
    )


def _recorded_runtime(entry: manifest.Entry | None) -> float:
    """The last run's time; never run: infinite, so that it starts first."""
    if entry is None or entry.runtime_s is None:
        return float("inf")
    return entry.runtime_s


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _progress(outcome: Outcome) -> str:
    if outcome.status == "ran":
        return f"[{outcome.name}] ran in {outcome.runtime_s:.1f} s ({outcome.reason})"
    return f"[{outcome.name}] FAILED after {outcome.runtime_s:.1f} s: {outcome.summary}"


def _failure_text(outcome: Outcome, project: Project, workspace: Workspace) -> str:
    pages = ", ".join(project.pages_embedding(outcome.name)) or "no page"
    kept = workspace.output_dir(outcome.name)
    source = project.runnables()[outcome.name].relative_to(project.root).as_posix()
    lines = [
        f"snippet '{outcome.name}' ({source}) failed: {outcome.summary}",
        f"  embedded by: {pages}",
        f"  outputs kept: {kept if kept.exists() else 'none yet'}",
    ]
    if outcome.detail:
        lines += [f"  | {line}" for line in outcome.detail.splitlines()]
    return "\n".join(lines)


def clean(project: Project, workspace: Workspace, names: Iterable[str] = ()) -> list[str]:
    """Remove outputs and manifest entries (of the named snippets, or all); return what went."""
    if not workspace.root.is_dir():
        return []
    with manifest.exclusive(workspace.lock_path):
        entries = manifest.load(workspace.manifest_path)
        if names:
            selected = [s.name for s in load_snippets(project, names)]
        else:
            folders = {p.name for p in workspace.root.iterdir()
                       if p.is_dir() and not p.name.startswith(".")}
            selected = sorted(set(entries) | folders)
        for name in selected:
            shutil.rmtree(workspace.output_dir(name), ignore_errors=True)
            entries.pop(name, None)
        manifest.save(workspace.manifest_path, entries)
    return selected
