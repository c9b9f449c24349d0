"""The manifest: one JSON file per mode recording, for every snippet, what ran, when and why.

It is written atomically (temporary file, fsync, rename), so a build killed at any moment
leaves either the old or the new manifest, never half of one. A manifest that cannot be read
is treated as empty: everything re-runs, nothing crashes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dlnotes import locks

FORMAT = 1

Status = Literal["ok", "failed"]


@dataclass(frozen=True)
class Entry:
    """What the manifest knows of one snippet: its last good run, and whether the latest failed.

    A failed run keeps the fields of the last good one (`inputs`, `outputs`, `ran_at`...),
    because its outputs are still the ones the site shows; `error` and `failed_at` say what
    went wrong since. A field the file lacks is None, so old manifests still load.
    """

    status: Status
    inputs: dict[str, Any] | None = None  # cachekey.inputs() of the last good run
    key: str | None = None                # cachekey.key(inputs)
    reason: str = ""                      # why it ran: "new", "source changed", "forced"...
    runtime_s: float | None = None        # wall time of the run, start to published outputs
    compute_s: float | None = None        # the snippet's own time (runs forked from a worker)
    ran_at: str | None = None             # UTC time of the last good run
    threads: int | None = None            # threads it was given
    device: str | None = None             # "cpu", or the accelerator it could use
    outputs: tuple[str, ...] = ()         # files it published, relative to its folder
    error: str | None = None              # one line: why the latest run failed
    failed_at: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def failed(self, error: str, at: str) -> Entry:
        """This entry after a failed run: the last good run's record, marked failed."""
        return dataclasses.replace(self, status="failed", error=error, failed_at=at)

    def to_json(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields["outputs"] = list(self.outputs)
        return {name: value for name, value in fields.items() if value not in (None, "")}

    @classmethod
    def from_json(cls, data: Any) -> Entry | None:
        """The entry, or None for anything that is not one (a damaged or foreign file)."""
        if not isinstance(data, dict) or data.get("status") not in ("ok", "failed"):
            return None
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {name: value for name, value in data.items() if name in known}
        fields["outputs"] = tuple(fields.get("outputs", ()))
        try:
            return cls(**fields)
        except TypeError:
            return None


def load(path: Path) -> dict[str, Entry]:
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
    if not isinstance(snippets, dict):
        return {}
    entries = {name: Entry.from_json(entry) for name, entry in snippets.items()}
    return {name: entry for name, entry in entries.items() if entry is not None}


def save(path: Path, entries: dict[str, Entry]) -> None:
    snippets = {name: entry.to_json() for name, entry in entries.items()}
    text = json.dumps({"format": FORMAT, "snippets": snippets}, indent=2, sort_keys=True)
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
