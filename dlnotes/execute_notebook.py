"""Execute one example notebook: `python -m dlnotes.execute_notebook SOURCE.ipynb EXECUTED.ipynb`.

The engine runs this in a child process like any snippet (own process, timeout, quick mode,
output folder as the working directory), so a notebook is cached and reported the same way.
A failing cell ends the run with its number and the last lines of its error; nothing is
written then, so the previous executed copy stays published.

With `--forked-kernel` (the fast runner, from a preloaded worker) the kernel is this process
forked, not a new interpreter: it starts with torch and friends already imported, which is
most of a small notebook's cost. The cells, their outputs and the figures are the same.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = 600
KERNEL_STARTUP_S = 60


def main(source: Path, executed: Path, forked_kernel: bool = False) -> int:
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(Path.cwd())}})
    try:
        if forked_kernel:
            _execute_on_forked_kernel(client)
        else:
            client.execute()
    except CellExecutionError as error:
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        failed = next((n for n, c in enumerate(code_cells, 1)
                       if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
                      None)
        print(f"{source.name}: code cell {failed} failed", file=sys.stderr)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # no terminal colours in the report
        print("\n".join(plain.strip().splitlines()[-12:]), file=sys.stderr)
        return 1
    for cell in notebook.cells:  # execution times would make every build differ
        cell.get("metadata", {}).pop("execution", None)
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed)
    return 0


class _RunningKernel:
    """Stands in for nbclient's kernel manager: the kernel is already running, and this
    process (not nbclient) stops it."""

    has_kernel = True


def _execute_on_forked_kernel(client: NotebookClient) -> None:
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.connect import write_connection_file
    from jupyter_core.utils import run_sync

    folder = tempfile.mkdtemp(prefix="dlnotes-kernel-")  # unix sockets: no TCP ports taken
    connection_file = os.path.join(folder, "kernel.json")
    write_connection_file(connection_file, transport="ipc", ip=os.path.join(folder, "k"))
    pid = os.fork()
    if pid == 0:
        _become_kernel(connection_file)  # never returns
    try:
        kernel = AsyncKernelClient(connection_file=connection_file)
        kernel.load_connection_file()

        async def execute() -> None:
            kernel.start_channels()
            await kernel.wait_for_ready(timeout=KERNEL_STARTUP_S)
            kernel.allow_stdin = False
            client.km, client.kc, client.owns_km = _RunningKernel(), kernel, False
            await client.async_execute()

        try:
            run_sync(execute)()
        finally:
            kernel.stop_channels()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        shutil.rmtree(folder, ignore_errors=True)


def _become_kernel(connection_file: str) -> None:
    """The kernel, as `python -m ipykernel_launcher -f CONNECTION_FILE` would start it."""
    code = 1
    try:
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # as jupyter_client sets it
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = ["ipykernel_launcher", "-f", connection_file]
        sys.path[0] = os.getcwd()
        app = IPKernelApp.instance()
        app.initialize(sys.argv[1:])
        # matplotlib read MPLBACKEND when this process imported it, before the notebook's
        # environment was set; pyplot loads the backend on the first plot, as in a new kernel.
        import matplotlib
        matplotlib.rcParams["backend"] = os.environ["MPLBACKEND"]
        app.start()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Execute one example notebook.")
    parser.add_argument("source", type=Path)
    parser.add_argument("executed", type=Path)
    parser.add_argument("--forked-kernel", action="store_true",
                        help="run the kernel in a fork of this process (a preloaded worker)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.source, arguments.executed, arguments.forked_kernel))
