"""How a snippet's child process runs, and what its failure is called.

A snippet or notebook runs either as a plain child process (`python snippet.py`,
`python -m dlnotes.execute_notebook`) or, with the fast runner, in a child forked from a preloaded
`Zygote` that imported the heavy packages once. Both paths end in one `Execution`, and a
timeout or a bad exit is described by the same words whichever path ran it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlnotes import contract
from dlnotes.project import QUICK
from dlnotes.snippet import Snippet

ERROR_TAIL_LINES = 15


@dataclass
class Execution:
    """How a child process ended."""

    ok: bool
    runtime_s: float
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
        **{contract.OUT_ENV: str(out_dir), contract.QUICK_ENV: "1" if mode == QUICK else "0"},
        MPLBACKEND="module://matplotlib_inline.backend_inline" if notebook else "Agg",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS=count,
        MKL_NUM_THREADS=count,
        OPENBLAS_NUM_THREADS=count,
    )
    return env


def execute(snippet: Snippet, staging: Path, mode: str, threads: int,
            zygote: Zygote | None = None) -> Execution:
    """Run the snippet with its working folder and outputs in `staging`."""
    env = child_environment(staging, mode, threads, snippet.is_notebook)
    if zygote is not None:
        return _execute_forked(zygote, snippet, staging, env)
    return _execute_plain(snippet, staging, env)


def _notebook_args(snippet: Snippet, staging: Path) -> list[str]:
    """`dlnotes.execute_notebook` executes a notebook with nbclient into `examples/<stem>.ipynb`."""
    return [str(snippet.path), str(staging / "examples" / snippet.path.name)]


def _execute_plain(snippet: Snippet, staging: Path, env: dict[str, str]) -> Execution:
    start = time.perf_counter()
    command = [sys.executable, str(snippet.path)]
    if snippet.is_notebook:
        command = [sys.executable, "-m", "dlnotes.execute_notebook",
                   *_notebook_args(snippet, staging)]
    process = subprocess.Popen(
        command, cwd=staging, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, errors="replace",
        start_new_session=True,  # its own process group, so a timeout kills its children too
    )
    try:
        stdout, stderr = process.communicate(timeout=snippet.timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        timed_out = True
    return _ended(snippet, process.returncode, timed_out, time.perf_counter() - start,
                  stderr or stdout)


def _execute_forked(zygote: Zygote, snippet: Snippet, staging: Path, env: dict[str, str]
                    ) -> Execution:
    start = time.perf_counter()
    target: dict[str, Any] = {"path": str(snippet.path)}
    if snippet.is_notebook:
        target = {"module": "dlnotes.execute_notebook",
                  "args": [*_notebook_args(snippet, staging), "--forked-kernel"]}
    code, timed_out, compute, output = zygote.run(target, staging, env, snippet.timeout_s)
    return _ended(snippet, code, timed_out, time.perf_counter() - start, output, compute)


def _ended(snippet: Snippet, returncode: int, timed_out: bool, runtime_s: float, output: str,
           compute_s: float | None = None) -> Execution:
    """The one place that names how a run ended."""
    if timed_out:
        return Execution(False, runtime_s, f"timed out after {snippet.timeout_s:g} s and was "
                         "killed", _tail(output))
    if returncode != 0:
        how = (f"killed by signal {-returncode}" if returncode < 0
               else f"exit code {returncode}")
        return Execution(False, runtime_s, how, _tail(output))
    return Execution(True, runtime_s, compute_s=compute_s)


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-ERROR_TAIL_LINES:])
