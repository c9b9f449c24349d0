"""What a snippet's outputs depend on, and why a run is needed.

The key is built from the inputs that can change a result: the snippet's source, the mode,
the content of its declared data files (and of the files it uses when they are present, or
their absence), and the versions of Python and the packages that do
the numerical work. Comparing the stored inputs with the current ones gives the *reason* for a
run, which the manifest keeps and the build report shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from dlnotes.contract import DATA_PACKAGES, PACKAGES
from dlnotes.manifest import Entry
from dlnotes.snippet import Snippet


def environment() -> dict[str, str]:
    """Python and package versions, read from installed metadata (no heavy imports)."""
    versions = {"python": platform.python_version()}
    for package in (*PACKAGES, *DATA_PACKAGES):  # everything a snippet may import or read
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    return versions


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs(snippet: Snippet, mode: str, env: dict[str, str], root: Path) -> dict[str, Any]:
    data = {p.relative_to(root).as_posix(): file_digest(p) for p in snippet.data_files}
    for written in snippet.optional_files:  # keyed as written: the same on every machine
        path = Path(os.path.expandvars(os.path.expanduser(written)))
        data[written] = file_digest(path) if path.is_file() else "absent"
    return {"source": file_digest(snippet.path), "mode": mode, "data": data, "environment": env}


def key(current: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:16]


def rerun_reason(previous: Entry | None, current: dict[str, Any], outputs: Path) -> str:
    """Why the snippet must run, or '' when its outputs are up to date."""
    if previous is not None and previous.status == "failed":
        return "previous run failed"
    if previous is None or previous.inputs is None:
        return "new"
    if not outputs.is_dir():
        return "outputs missing"
    before = previous.inputs
    changes = [
        label
        for field, label in (
            ("source", "source changed"),
            ("mode", "mode changed"),
            ("data", "data changed"),
            ("environment", "packages changed"),
        )
        if before.get(field) != current[field]
    ]
    return ", ".join(changes)
