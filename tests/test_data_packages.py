"""Snippets that read real data or weights from a package installed with `--no-deps`
(dlnotes/contract.py DATA_PACKAGES): without the package, each stops with one line that says
how to install it, not with a traceback, and writes no results."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

CASES = {  # snippet: (the module it looks for, what its message must tell the reader to run)
    "pretrained_faces": ("facenet_pytorch", "pip install --no-deps facenet-pytorch=="),
    "protein_lm": ("aaanalysis", "pip install --no-deps aaanalysis=="),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
@pytest.mark.reuse("code", "snippets/pretrained_faces.py", "snippets/protein_lm.py")
def test_without_its_package_the_snippet_says_in_one_line_how_to_install_it(
        tmp_path, name: str) -> None:
    module, advice = CASES[name]
    snippet = ROOT / "snippets" / f"{name}.py"
    # sys.modules[name] = None makes importlib treat the package as absent (find_spec -> None).
    code = ("import runpy, sys\n"
            f"sys.modules[{module!r}] = None\n"
            f"runpy.run_path({str(snippet)!r}, run_name='__main__')\n")
    env = {**os.environ, "DLNOTES_QUICK": "1", "DLNOTES_OUT": str(tmp_path / "out"),
           "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert advice in lines[0]
    assert not (tmp_path / "out" / "metrics.json").exists()
