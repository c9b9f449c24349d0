"""`# dlnotes:` lines, as a table: what a line declares, or the one-line error it earns."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlnotes.errors import DlnotesError
from dlnotes.snippet import DEFAULT_TIMEOUT_S, Expectation, Snippet


def _parse(tmp_path: Path, *lines: str) -> Snippet:
    (tmp_path / "snippets").mkdir(exist_ok=True)
    (tmp_path / "data.csv").write_text("a\n1\n")
    path = tmp_path / "snippets" / "alpha.py"
    path.write_text("\n".join(["print('hi')", *lines]) + "\n")
    return Snippet.parse("alpha", path, tmp_path)


@pytest.mark.parametrize(("line", "field", "value"), [
    ("# dlnotes: timeout 120", "timeout_s", 120.0),
    ("#dlnotes:   timeout 2.5  ", "timeout_s", 2.5),
    ("# an ordinary comment", "timeout_s", DEFAULT_TIMEOUT_S),
    ("# dlnotes: expect full error_rate <= 0.03", "expectations",
     (Expectation("full", "error_rate", "<=", 0.03),)),
    ("# dlnotes: expect quick n_seeds >= 2", "expectations",
     (Expectation("quick", "n_seeds", ">=", 2.0),)),
    ("# dlnotes: data-if-present ~/a.pth $HOME/b.pth", "optional_files",
     ("~/a.pth", "$HOME/b.pth")),
])
def test_a_directive_declares(tmp_path: Path, line: str, field: str, value: object) -> None:
    assert getattr(_parse(tmp_path, line), field) == value


def test_a_data_directive_names_a_file_of_the_project(tmp_path: Path) -> None:
    assert _parse(tmp_path, "# dlnotes: data data.csv").data_files == (tmp_path / "data.csv",)


@pytest.mark.parametrize(("line", "error"), [
    ("# dlnotes: timeout soon", "timeout must be a positive number of seconds, got 'soon'"),
    ("# dlnotes: timeout -5", "timeout must be a positive number of seconds, got '-5'"),
    ("# dlnotes: data missing.csv", "declared data file 'missing.csv' does not exist"),
    ("# dlnotes: data-if-present", "data-if-present needs at least one path"),
    ("# dlnotes: expect sometimes x <= 1", "expected 'expect full|quick METRIC OP NUMBER'"),
    ("# dlnotes: expect full x ~ 1", "expected 'expect full|quick METRIC OP NUMBER'"),
    ("# dlnotes: expect full x <= many", "'many' is not a number"),
    ("# dlnotes: retries 3", "unknown directive 'retries'"),
])
def test_a_malformed_directive_is_one_line_naming_file_and_line(
        tmp_path: Path, line: str, error: str) -> None:
    with pytest.raises(DlnotesError) as refused:
        _parse(tmp_path, line)
    assert str(refused.value).startswith("snippets/alpha.py:2: ")
    assert error in str(refused.value) and "\n" not in str(refused.value)
