"""When a snippet re-runs, as a table: the previous manifest entry and today's inputs in, the
reason out ('' means its outputs are up to date)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlnotes.cachekey import rerun_reason
from dlnotes.manifest import Entry

INPUTS = {"source": "s1", "mode": "quick", "data": {}, "environment": {"torch": "2.14.1"}}
OK = Entry("ok", inputs=INPUTS)


@pytest.mark.parametrize(("previous", "current", "outputs_exist", "reason"), [
    (OK, INPUTS, True, ""),
    (None, INPUTS, True, "new"),
    (Entry("ok"), INPUTS, True, "new"),  # an entry without its inputs: unknown
    (OK.failed("killed", "now"), INPUTS, True, "previous run failed"),
    (OK, INPUTS, False, "outputs missing"),
    (OK, {**INPUTS, "source": "s2"}, True, "source changed"),
    (OK, {**INPUTS, "mode": "full"}, True, "mode changed"),
    (OK, {**INPUTS, "data": {"data/a.csv": "d2"}}, True, "data changed"),
    (OK, {**INPUTS, "environment": {"torch": "2.15.0"}}, True, "packages changed"),
    (OK, {**INPUTS, "source": "s2", "environment": {}}, True, "source changed, packages changed"),
])
def test_rerun_reason(previous, current, outputs_exist: bool, reason: str,
                      tmp_path: Path) -> None:
    outputs = tmp_path / "outputs"
    if outputs_exist:
        outputs.mkdir()
    assert rerun_reason(previous, current, outputs) == reason
