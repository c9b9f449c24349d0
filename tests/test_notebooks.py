"""Example notebooks run through the engine like snippets: cached, timed out, reported by cell."""

from __future__ import annotations

import json

import pytest
from conftest import FakeProject

from dlnotes.errors import BuildFailed

pytestmark = [pytest.mark.slow, pytest.mark.reuse("code")]  # each starts Jupyter kernels

WALKTHROUGH = """\
# %% [markdown]
# # A walkthrough

# %%
import os
mode = "quick" if os.environ.get("DLNOTES_QUICK") == "1" else "full"
print(mode)
"""


def _printed(fake: FakeProject, quick: bool = False) -> str:
    executed = fake.workspace(quick).output_dir("example-walk") / "examples" / "walk.ipynb"
    cells = json.loads(executed.read_text())["cells"]
    return "".join(cells[1]["outputs"][0]["text"]).strip()


def test_a_notebook_is_executed_once_and_then_cached(fake: FakeProject) -> None:
    fake.notebook("walk", WALKTHROUGH)
    assert fake.build() == {"example-walk": "ran: new"}
    assert _printed(fake) == "full"
    assert fake.build() == {"example-walk": "cached"}
    fake.notebook("walk", WALKTHROUGH + "\n# %%\nprint('more')\n")
    assert fake.build() == {"example-walk": "ran: source changed"}


def test_quick_mode_reaches_the_kernel(fake: FakeProject) -> None:
    fake.notebook("walk", WALKTHROUGH)
    fake.build(quick=True)
    assert _printed(fake, quick=True) == "quick"


def test_a_failing_cell_is_named_and_the_last_good_copy_kept(fake: FakeProject) -> None:
    fake.notebook("walk", WALKTHROUGH)
    fake.build()
    executed = fake.workspace().output_dir("example-walk") / "examples" / "walk.ipynb"
    before = executed.read_bytes()
    fake.notebook("walk", WALKTHROUGH + "\n# %%\nraise KeyError('no such column')\n")
    with pytest.raises(BuildFailed) as failed:
        fake.build()
    message = str(failed.value)
    assert "snippet 'example-walk' (examples/walk.ipynb) failed: exit code 1" in message
    assert "walk.ipynb: code cell 2 failed" in message
    assert "KeyError: 'no such column'" in message
    assert executed.read_bytes() == before


def test_a_notebook_past_its_timeout_is_killed(fake: FakeProject) -> None:
    fake.notebook("walk", "# %%\n# dlnotes: timeout 3\nimport time\ntime.sleep(60)\n")
    with pytest.raises(BuildFailed, match="'example-walk'.*timed out after 3 s"):
        fake.build()
