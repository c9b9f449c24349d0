"""The fast runner: snippets forked from a worker that preloaded the heavy packages.

Each snippet still gets its own process, timeout and exit: a crash or `sys.exit` is contained,
and the results are the same as from a plain `python snippet.py`. A notebook's kernel is forked
from the worker too, and gives the same cells as a new kernel.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import PROJECT, FakeProject, QuickBuild, metrics_snippet

from dlnotes import engine, machine, manifest, processes, runner
from dlnotes.errors import BuildFailed
from dlnotes.project import FULL, QUICK, Workspace
from dlnotes.snippet import Snippet

# Preloaded workers import torch and friends; the checks depend on the engine's code only.
pytestmark = [pytest.mark.slow, pytest.mark.reuse("code")]


def test_exits_crashes_and_timeouts_are_contained_per_snippet(
        fake: FakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.snippet("a_exits", "import sys\nprint('bye')\nsys.exit(3)\n")
    fake.snippet("b_aborts", "import os\nos.abort()\n")
    fake.snippet("c_sleeps", "# dlnotes: timeout 2\nimport time\ntime.sleep(60)\n")
    fake.snippet("d_fine", metrics_snippet("d_fine"))
    fake.snippet("e_raises", "raise ValueError('bad input')\n")
    with pytest.raises(BuildFailed) as failed:
        engine.build(fake.project, fake.workspace(), jobs=1, fast=True, log=lambda _: None)
    message = str(failed.value)
    assert "'a_exits' (snippets/a_exits.py) failed: exit code 3" in message
    assert "'b_aborts' (snippets/b_aborts.py) failed: killed by signal 6" in message
    assert "'c_sleeps' (snippets/c_sleeps.py) failed: timed out after 2 s" in message
    assert "ValueError: bad input" in message
    assert failed.value.names == ["a_exits", "b_aborts", "c_sleeps", "e_raises"]
    assert (fake.workspace().output_dir("d_fine") / "metrics.json").is_file()


@pytest.mark.reuse("code", "snippets/losses.py")
@pytest.mark.parametrize("name", ["losses"])
def test_gives_the_same_metrics_as_plain_processes(
        name: str, quick_build: QuickBuild, tmp_path: Path) -> None:
    """Run the snippet with the runner that did not make quick_build's (cached) outputs: the
    manifest records `compute_s` only for runs forked from a preloaded worker."""
    made_fast = manifest.load(quick_build.workspace.manifest_path)[name].compute_s is not None
    snippet = Snippet.parse(name, PROJECT.snippets()[name], PROJECT.root)
    other = Workspace(QUICK, tmp_path)
    threads = machine.plan().threads
    worker = None if made_fast else processes.Zygote(threads)
    try:
        result = runner.run(snippet, other, PROJECT, threads, worker)
    finally:
        if worker is not None:
            worker.close()
    assert result.ok, result.detail
    assert (result.compute_s is None) == made_fast, "the other runner ran it"
    assert (other.output_dir(name) / "metrics.json").read_bytes() == \
        (quick_build.output_dir(name) / "metrics.json").read_bytes()


FIGURE_WALKTHROUGH = """\
# %%
import matplotlib.pyplot as plt
import pandas as pd
print("two cells, a figure and a table")
plt.plot([0, 1, 4])
plt.title("a figure")

# %%
pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]})
"""


def test_a_notebook_on_a_forked_kernel_gives_the_cells_of_a_new_kernel(
        fake: FakeProject, tmp_path: Path) -> None:
    fake.notebook("walk", FIGURE_WALKTHROUGH)
    fake.snippet("a_first", metrics_snippet("a_first"))  # workers start only to serve several runs
    plain, fast = Workspace(FULL, tmp_path / "plain"), Workspace(FULL, tmp_path / "fast")
    engine.build(fake.project, plain, fast=False, log=lambda _: None)
    engine.build(fake.project, fast, jobs=1, fast=True, log=lambda _: None)
    assert manifest.load(fast.manifest_path)["example-walk"].compute_s is not None  # it was forked
    executed = Path("example-walk", "examples", "walk.ipynb")
    cells = json.loads((fast.root / executed).read_text())["cells"]
    assert "image/png" in cells[0]["outputs"][-1]["data"]  # the inline backend drew the figure
    assert "text/html" in cells[1]["outputs"][0]["data"]  # the table as pandas shows it
    assert (fast.root / executed).read_bytes() == (plain.root / executed).read_bytes()


def test_a_forked_kernel_names_its_failing_cell_and_dies_at_the_timeout(
        fake: FakeProject) -> None:
    fake.notebook("broken", "# %%\nprint('fine')\n\n# %%\nraise KeyError('no such column')\n")
    fake.notebook("stuck", "# %%\n# dlnotes: timeout 3\nimport time\ntime.sleep(60)\n")
    with pytest.raises(BuildFailed) as failed:
        engine.build(fake.project, fake.workspace(), jobs=1, fast=True, log=lambda _: None)
    message = str(failed.value)
    assert "broken.ipynb: code cell 2 failed" in message
    assert "KeyError: 'no such column'" in message
    assert "'example-stuck' (examples/stuck.ipynb) failed: timed out after 3 s" in message
