"""A preloaded worker: import the heavy packages once, then fork a fresh child per snippet.

Importing torch, torchvision, matplotlib, pandas, scikit-learn and scikit-image costs seconds
per process; a build of many snippets would spend most of its time importing. This process
pays that once. For each request (one JSON line on stdin) it forks a child that becomes the
snippet: own process group, own working directory, environment, stdout/stderr files, fresh
random seeds and the requested thread count; `runpy` runs the script (or, for a notebook,
`dlnotes.execute_notebook`, whose kernel is forked in turn) as `__main__`. The child's
exit (including `sys.exit` or a crash) and a timeout are contained in the child; the reply is
one JSON line on stdout.

Started by `dlnotes.processes.Zygote`; not meant to be run by hand.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import runpy
import signal
import sys
import tempfile
import time
import traceback

from dlnotes.contract import PRELOAD


def main() -> None:
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    reply = sys.stdout
    sys.stdout = sys.stderr  # nothing but replies on the reply channel
    print("ready", file=reply, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        print(json.dumps(_serve(request)), file=reply, flush=True)


def _serve(request: dict) -> dict:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _become_snippet(request)  # never returns
    deadline = start + request["timeout"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": False,
                    "runtime_s": time.perf_counter() - start}
        if time.perf_counter() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return {"returncode": -signal.SIGKILL, "timed_out": True,
                    "runtime_s": time.perf_counter() - start}
        time.sleep(0.01)


def _become_snippet(request: dict) -> None:
    code = 1
    try:
        os.setsid()
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the child lives until os._exit
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        os.chdir(request["cwd"])
        # Temporary files (a notebook kernel's sockets too) go where the worker cleans up
        # after the child, even one killed at its timeout.
        tempfile.tempdir = os.path.dirname(request["stdout"])
        os.environ.clear()
        os.environ.update(request["env"])
        _fresh_state(int(request["env"].get("OMP_NUM_THREADS", "1")))
        if "module" in request:  # as `python -m MODULE ARGS...` would run it
            sys.argv = [request["module"], *request["args"]]
            sys.path[0] = request["cwd"]
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        else:  # as `python PATH` would run it
            sys.argv = [request["path"]]
            sys.path[0] = os.path.dirname(request["path"])
            runpy.run_path(request["path"], run_name="__main__")
        code = 0
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            code = stop.code or 0
        else:
            print(stop.code, file=sys.stderr)
    except BaseException:  # the snippet's own error, reported like a plain run's traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _fresh_state(threads: int) -> None:
    """What a new interpreter would have: unseeded generators, the requested threads."""
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.seed()
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
