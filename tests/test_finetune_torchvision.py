"""The weight-loading path of snippets/finetune_torchvision.py, exercised offline.

The real recipe loads `ResNet18_Weights.DEFAULT`, which torchvision downloads into the torch hub
cache the first time. No test may download, so these tests write their own checkpoint into a
temporary TORCH_HOME, under the file name torchvision looks for: the state_dict of a freshly
initialised (random) resnet18. It is NOT the ImageNet checkpoint, and the script must say so.
"""

from __future__ import annotations

import json
import runpy
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, subprocess_env
from torchvision.models import ResNet18_Weights, resnet18

SCRIPT = ROOT / "snippets" / "finetune_torchvision.py"
CHECKPOINT_NAME = Path(ResNet18_Weights.DEFAULT.url).name  # resnet18-f37072fd.pth

# Run the script with every socket connection refused: a download attempt fails loudly.
OFFLINE_RUNNER = """\
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted during an offline test")
socket.socket.connect = refuse
socket.create_connection = refuse
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def fake_torch_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A TORCH_HOME whose hub cache holds random resnet18 weights under the ImageNet file name."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(1234)
    state = resnet18(weights=None).state_dict()
    torch.save(state, checkpoints / CHECKPOINT_NAME)
    return home, state


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _script_functions() -> dict:
    """The script's functions, without running main() (run_path does not set __main__)."""
    return runpy.run_path(str(SCRIPT))


@pytest.mark.reuse("code", "snippets/finetune_torchvision.py")
def test_loads_the_cached_checkpoint_and_says_it_is_not_imagenet(
    fake_torch_home: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    home, saved = fake_torch_home
    monkeypatch.setenv("TORCH_HOME", str(home))
    load_resnet18 = _script_functions()["load_resnet18"]
    model, weights, note = load_resnet18("cached")
    assert weights == "other-checkpoint"
    assert "NOT ImageNet weights" in note
    loaded = model.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[key], saved[key]) for key in saved)


@pytest.mark.reuse("code", "snippets/finetune_torchvision.py")
def test_without_a_cached_checkpoint_it_uses_random_weights_and_downloads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model, weights, note = _script_functions()["load_resnet18"]("cached")
    assert weights == "none"
    assert "weights=None" in note
    assert not any(tmp_path.rglob("*.pth")), "nothing may be downloaded into the cache"


@pytest.mark.slow
@pytest.mark.reuse("code", "snippets/finetune_torchvision.py")
def test_the_demo_run_uses_the_cached_checkpoint_offline(
    fake_torch_home: tuple[Path, dict], tmp_path: Path
) -> None:
    """As the build runs it (no folder given), with the checkpoint in the cache, sockets refused."""
    home, _ = fake_torch_home
    out = tmp_path / "out"
    env = subprocess_env(TORCH_HOME=str(home), DLNOTES_QUICK="1", DLNOTES_OUT=str(out),
                         OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", OFFLINE_RUNNER, str(SCRIPT)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Downloading" not in done.stdout + done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["weights"] == "other-checkpoint"
    assert "NOT ImageNet weights" in metrics["weights_note"]
    n_classes = metrics["n_classes"]
    # stage 1 trains fc and, like fastai's train_bn=True, the BatchNorm layers
    head = 512 * n_classes + n_classes
    assert metrics["train_bn"] is True
    assert metrics["head_stage_trainable_params"] == head + metrics["bn_params"]
    assert "baseline_logreg_pixels_accuracy" in metrics
