"""Run one snippet in its own process and publish its outputs only if the run succeeded.

A snippet or notebook runs either as a plain child process (`python snippet.py`,
`python -m dlnotes.notebook`) or, with the fast runner, in a child forked from a preloaded
`Zygote` that imported the heavy packages once. Either way the child writes into a staging
folder next to the published one. Only when it exits 0, wrote a readable `metrics.json`, wrote
every file its pages show and met its `expect` bounds does the staging folder replace the
published one (two renames on one file system). Anything else, a
crash, a timeout, a kill of the engine itself, leaves the previous outputs as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlnotes import strays
from dlnotes.errors import DlnotesError
from dlnotes.project import QUICK, Project, Workspace
from dlnotes.snippet import Snippet

ERROR_TAIL_LINES = 15
STAGING, RETIRED = ".tmp-", ".old-"


@dataclass
class RunResult:
    ok: bool
    runtime_s: float
    outputs: list[str] = field(default_factory=list)
    summary: str = ""
    detail: str = ""
    compute_s: float | None = None  # time inside the snippet's own code (fast runner only)


class Zygote:
    """A `dlnotes.zygote` process: heavy imports paid once, a forked child per snippet."""

    def __init__(self, threads: int) -> None:
        count = str(threads)
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
               "OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count,
               "OPENBLAS_NUM_THREADS": count}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "dlnotes.zygote"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self._ready = False

    def run(self, target: dict[str, Any], cwd: Path, env: dict[str, str], timeout_s: float
            ) -> tuple[int, bool, float, str]:
        """Run `{"path": SCRIPT}` or `{"module": NAME, "args": [...]}` in a forked child:
        (return code, timed out, seconds in the child, its stderr or else stdout)."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        if not self._ready:
            if stdout.readline().strip() != "ready":
                raise OSError("the preloaded worker did not start")
            self._ready = True
        with tempfile.TemporaryDirectory(prefix="dlnotes-") as logs:
            request = {**target, "cwd": str(cwd), "env": env, "timeout": timeout_s,
                       "stdout": f"{logs}/stdout", "stderr": f"{logs}/stderr"}
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
            reply = stdout.readline()
            if not reply:
                raise OSError("the preloaded worker died")
            answer = json.loads(reply)
            output = Path(f"{logs}/stderr").read_text(errors="replace") or \
                Path(f"{logs}/stdout").read_text(errors="replace")
        return answer["returncode"], answer["timed_out"], answer["runtime_s"], output

    def close(self) -> None:
        """Stop the worker at once: its children are done, and a clean interpreter shutdown
        with torch loaded would cost more than a second."""
        self._process.kill()
        self._process.wait()


def child_environment(out_dir: Path, mode: str, threads: int, notebook: bool = False
                      ) -> dict[str, str]:
    """The environment of the contract: output folder, mode, headless plots, fixed threads.

    Notebooks draw with the inline backend, so their figures become cell outputs.
    """
    env = dict(os.environ)
    count = str(threads)
    env.update(
        DLNOTES_OUT=str(out_dir),
        DLNOTES_QUICK="1" if mode == QUICK else "0",
        MPLBACKEND="module://matplotlib_inline.backend_inline" if notebook else "Agg",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS=count,
        MKL_NUM_THREADS=count,
        OPENBLAS_NUM_THREADS=count,
    )
    return env


def run(snippet: Snippet, workspace: Workspace, project: Project, threads: int,
        zygote: Zygote | None = None) -> RunResult:
    """Run, check and publish; `runtime_s` covers all of it, so it includes the engine's cost."""
    start = time.perf_counter()
    staging = workspace.root / f"{STAGING}{snippet.name}-{os.getpid()}-{threading.get_ident()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    except OSError as err:
        raise DlnotesError(f"cannot write outputs in {workspace.root}: {err.strerror}") from None
    try:
        before = strays.snapshot(project, workspace)
        if zygote is not None:
            result = _execute_forked(zygote, snippet, staging, workspace.mode, threads)
        else:
            result = _execute(snippet, staging, workspace.mode, threads)
        outside = strays.written(before, strays.snapshot(project, workspace))
        if outside:
            return RunResult(False, result.runtime_s,
                             summary=f"wrote outside its output folder: {', '.join(outside)}",
                             detail=result.detail)
        if result.ok:
            problems = _check_outputs(snippet, staging, project.promised_outputs(snippet.name),
                                      workspace.mode)
            if problems:
                return RunResult(False, result.runtime_s, summary=problems[0],
                                 detail="\n".join(problems))
            result.outputs = sorted(p.relative_to(staging).as_posix()
                                    for p in staging.rglob("*") if p.is_file())
            _publish(staging, workspace.output_dir(snippet.name))
            result.runtime_s = time.perf_counter() - start
        return result
    except OSError as err:
        raise DlnotesError(
            f"cannot publish outputs of '{snippet.name}' in {workspace.root}: {err.strerror}; "
            "previous outputs kept"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _notebook_args(snippet: Snippet, staging: Path) -> list[str]:
    """`dlnotes.notebook` executes a notebook with nbclient into `examples/<stem>.ipynb`."""
    return [str(snippet.path), str(staging / "examples" / snippet.path.name)]


def _execute(snippet: Snippet, staging: Path, mode: str, threads: int) -> RunResult:
    start = time.perf_counter()
    command = [sys.executable, str(snippet.path)]
    if snippet.is_notebook:
        command = [sys.executable, "-m", "dlnotes.notebook", *_notebook_args(snippet, staging)]
    process = subprocess.Popen(
        command,
        cwd=staging,
        env=child_environment(staging, mode, threads, snippet.is_notebook),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, so a timeout kills its children too
    )
    try:
        stdout, stderr = process.communicate(timeout=snippet.timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return RunResult(False, time.perf_counter() - start,
                         summary=f"timed out after {snippet.timeout_s:g} s and was killed",
                         detail=_tail(stderr or stdout))
    runtime = time.perf_counter() - start
    if process.returncode != 0:
        how = (f"killed by signal {-process.returncode}" if process.returncode < 0
               else f"exit code {process.returncode}")
        return RunResult(False, runtime, summary=how, detail=_tail(stderr or stdout))
    return RunResult(True, runtime)


def _execute_forked(zygote: Zygote, snippet: Snippet, staging: Path, mode: str, threads: int
                    ) -> RunResult:
    start = time.perf_counter()
    target: dict[str, Any] = {"path": str(snippet.path)}
    if snippet.is_notebook:
        target = {"module": "dlnotes.notebook",
                  "args": [*_notebook_args(snippet, staging), "--forked-kernel"]}
    code, timed_out, compute, output = zygote.run(
        target, staging, child_environment(staging, mode, threads, snippet.is_notebook),
        snippet.timeout_s)
    runtime = time.perf_counter() - start
    if timed_out:
        return RunResult(False, runtime, summary=f"timed out after {snippet.timeout_s:g} s and "
                         "was killed", detail=_tail(output))
    if code != 0:
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return RunResult(False, runtime, summary=how, detail=_tail(output))
    return RunResult(True, runtime, compute_s=compute)


def _check_outputs(snippet: Snippet, staging: Path, promised: dict[str, list[str]], mode: str
                   ) -> list[str]:
    problems = [
        f"did not write {name} (shown by {', '.join(pages)})"
        for name, pages in promised.items()
        if not (staging / name).is_file()
    ]
    metrics_path = staging / "metrics.json"
    if snippet.is_notebook and not metrics_path.exists():
        return problems  # a walkthrough need not report numbers
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [*problems, "did not write metrics.json"]
    except ValueError as err:
        return [*problems, f"wrote a metrics.json that is not JSON ({err})"]
    if not isinstance(metrics, dict):
        return [*problems, "metrics.json is not a JSON object"]
    violations = (e.violation(metrics) for e in snippet.expectations_for(mode))
    return problems + [f"{mode} mode: {v}" for v in violations if v]


def _publish(staging: Path, final: Path) -> None:
    retired = final.with_name(f"{RETIRED}{final.name}-{os.getpid()}")
    if final.exists():
        os.rename(final, retired)
    os.rename(staging, final)
    shutil.rmtree(retired, ignore_errors=True)


def recover(workspace: Workspace) -> None:
    """Undo what an engine killed mid-publish left: restore retired outputs, drop staging."""
    if not workspace.root.is_dir():
        return
    for path in workspace.root.iterdir():
        if path.name.startswith(RETIRED):
            name = path.name[len(RETIRED):].rsplit("-", 1)[0]
            if workspace.output_dir(name).exists():
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.rename(path, workspace.output_dir(name))
        elif path.name.startswith(STAGING):
            shutil.rmtree(path, ignore_errors=True)


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-ERROR_TAIL_LINES:])
