"""The fast runner: snippets forked from a worker that preloaded the heavy packages.

Each snippet still gets its own process, timeout and exit: a crash or `sys.exit` is contained,
and the results are the same as from a plain `python snippet.py`.
"""

from __future__ import annotations

import pytest
from conftest import PROJECT, FakeProject, QuickBuild, metrics_snippet

from dlnotes import engine
from dlnotes.errors import BuildFailed
from dlnotes.project import QUICK, Workspace


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


def test_gives_the_same_metrics_as_plain_processes(
        quick_build: QuickBuild, tmp_path_factory: pytest.TempPathFactory) -> None:
    """quick_build used the fast runner; run the same snippet as a plain process."""
    name = "losses"
    plain = Workspace(QUICK, tmp_path_factory.mktemp("plain"))
    outcomes = engine.build(PROJECT, plain, [name], fast=False, log=lambda _: None)
    assert [o.status for o in outcomes] == ["ran"]
    fast_metrics = quick_build.workspace.output_dir(name) / "metrics.json"
    assert (plain.output_dir(name) / "metrics.json").read_bytes() == fast_metrics.read_bytes()
