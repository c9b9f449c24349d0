"""pretrained_faces.py reads MTCNN's trained weights from the installed facenet-pytorch package.
Without it, the snippet stops with one line that says how to install the weights, not with a
traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

SNIPPET = ROOT / "snippets" / "pretrained_faces.py"


@pytest.mark.slow
@pytest.mark.reuse("code", "snippets/pretrained_faces.py")
def test_without_the_weights_it_says_in_one_line_how_to_install_them(tmp_path) -> None:
    # sys.modules[name] = None makes importlib treat the package as absent (find_spec -> None).
    code = ("import runpy, sys\n"
            "sys.modules['facenet_pytorch'] = None\n"
            f"runpy.run_path({str(SNIPPET)!r}, run_name='__main__')\n")
    env = {**os.environ, "DLNOTES_QUICK": "1", "DLNOTES_OUT": str(tmp_path / "out"),
           "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "pip install --no-deps facenet-pytorch==" in lines[0]
    assert not (tmp_path / "out" / "metrics.json").exists()
