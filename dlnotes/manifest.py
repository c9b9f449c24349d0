"""The manifest: one JSON file per mode recording, for every snippet, what ran, when and why.

It is written atomically (temporary file, fsync, rename), so a build killed at any moment
leaves either the old or the new manifest, never half of one. A manifest that cannot be read
is treated as empty: everything re-runs, nothing crashes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from dlnotes import locks

FORMAT = 1


def load(path: Path) -> dict[str, dict[str, Any]]:
    """Entries by snippet name; {} when the file is missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        print(f"dlnotes: ignoring unreadable manifest {path} ({err}); re-running", file=sys.stderr)
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    snippets = data.get("snippets")
    return snippets if isinstance(snippets, dict) else {}


def save(path: Path, entries: dict[str, dict[str, Any]]) -> None:
    text = json.dumps({"format": FORMAT, "snippets": entries}, indent=2, sort_keys=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def exclusive(lock_path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the workspace's lock; a second engine run waits for the first and says so."""
    return locks.exclusive(lock_path, f"another build holds {lock_path}; waiting for it")
