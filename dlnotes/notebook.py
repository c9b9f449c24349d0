"""Execute one example notebook: `python -m dlnotes.notebook SOURCE.ipynb EXECUTED.ipynb`.

The engine runs this in a child process like any snippet (own process, timeout, quick mode,
output folder as the working directory), so a notebook is cached and reported the same way.
A failing cell ends the run with its number and the last lines of its error; nothing is
written then, so the previous executed copy stays published.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT_S = 600


def main(source: Path, executed: Path) -> int:
    notebook = nbformat.read(source, as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(Path.cwd())}})
    try:
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


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
