"""Run one snippet in its own process and publish its outputs only if the run succeeded.

The sequence: a fresh staging folder, the child process (`processes`), a check that it wrote
nothing outside its folder (`outside_writes`), a check of what it wrote, and the publish
(`publish`).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field

from dlnotes import outside_writes, publish
from dlnotes.errors import DlnotesError
from dlnotes.processes import Execution, Zygote, execute
from dlnotes.project import Project, Workspace
from dlnotes.snippet import Snippet


@dataclass
class RunResult(Execution):
    """How the child ended, and what was published (nothing unless every check passed)."""

    outputs: list[str] = field(default_factory=list)


def run(snippet: Snippet, workspace: Workspace, project: Project, threads: int,
        zygote: Zygote | None = None) -> RunResult:
    """Run, check and publish; `runtime_s` covers all of it, so it includes the engine's cost."""
    start = time.perf_counter()
    staging = workspace.root / (f"{publish.STAGING}{snippet.name}-{os.getpid()}-"
                                f"{threading.get_ident()}")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    except OSError as err:
        raise DlnotesError(f"cannot write outputs in {workspace.root}: {err.strerror}") from None
    try:
        before = outside_writes.snapshot(project, workspace)
        ended = execute(snippet, staging, workspace.mode, threads, zygote)
        result = RunResult(**asdict(ended))
        outside = outside_writes.written(before, outside_writes.snapshot(project, workspace))
        if outside:
            return RunResult(False, result.runtime_s,
                             summary=f"wrote outside its output folder: {', '.join(outside)}",
                             detail=result.detail)
        if result.ok:
            problems = publish.problems(snippet, staging, project.promised_outputs(snippet.name),
                                        workspace.mode)
            if problems:
                return RunResult(False, result.runtime_s, summary=problems[0],
                                 detail="\n".join(problems))
            result.outputs = sorted(p.relative_to(staging).as_posix()
                                    for p in staging.rglob("*") if p.is_file())
            publish.replace(staging, workspace.output_dir(snippet.name))
            result.runtime_s = time.perf_counter() - start
        return result
    except OSError as err:
        raise DlnotesError(
            f"cannot publish outputs of '{snippet.name}' in {workspace.root}: {err.strerror}; "
            "previous outputs kept"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
