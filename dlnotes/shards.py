"""Beyond one machine: split the runs across CI machines, then merge what they made.

`python -m dlnotes run --shard I/N` runs the I-th of N shards. Shards are balanced by the
runtimes the manifest recorded (longest first, each to the least loaded shard), so every machine
computes the same split from the same manifest. `python -m dlnotes merge DIR...` copies each
shard's successful outputs and manifest entries into this checkout's outputs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from dlnotes import manifest
from dlnotes.errors import DlnotesError
from dlnotes.project import Workspace

UNKNOWN_RUNTIME_S = 30.0  # one that never ran is assumed to be a slow one


def parse(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3); anything else is a one-line error."""
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise DlnotesError(f"--shard takes I/N with 1 <= I <= N, got '{text}'")
    return int(match[1]), int(match[2])


def assign(names: list[str], entries: dict[str, manifest.Entry], count: int
           ) -> list[list[str]]:
    """Every name in exactly one of `count` shards, balancing the recorded runtimes."""
    def runtime(name: str) -> float:
        entry = entries.get(name)
        return UNKNOWN_RUNTIME_S if entry is None or entry.runtime_s is None \
            else entry.runtime_s

    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for name in sorted(names, key=lambda n: (-runtime(n), n)):
        lightest = min(range(count), key=lambda i: (loads[i], i))
        shards[lightest].append(name)
        loads[lightest] += runtime(name)
    return [sorted(shard) for shard in shards]


def merge(workspace: Workspace, sources: list[Path]) -> list[str]:
    """Bring in the outputs of other machines' shards; return the names merged."""
    merged: dict[str, tuple[manifest.Entry, Path]] = {}
    for source in sources:
        root = source if (source / ".manifest.json").is_file() else source / "generated"
        if not (root / ".manifest.json").is_file():
            raise DlnotesError(f"{source} holds no shard outputs (no .manifest.json)")
        for name, entry in manifest.load(root / ".manifest.json").items():
            if not entry.ok or not (root / name).is_dir():
                continue
            if name not in merged or (entry.ran_at or "") > (merged[name][0].ran_at or ""):
                merged[name] = (entry, root / name)
    workspace.root.mkdir(parents=True, exist_ok=True)
    with manifest.exclusive(workspace.lock_path):
        entries = manifest.load(workspace.manifest_path)
        for name, (entry, folder) in sorted(merged.items()):
            staging = workspace.root / f".tmp-{name}-merge"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(folder, staging)
            target = workspace.output_dir(name)
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            entries[name] = entry
        manifest.save(workspace.manifest_path, entries)
    return sorted(merged)
