"""What this machine is: the device snippets will use, and the threads and parallel runs that
are fastest here, measured, not assumed.

On small 2-core machines torch's default (one intra-op thread per core) can train a small CNN
several times slower, and erratically, than one thread. What matters for a build is
throughput, so the first build on a machine times the same total amount of small-CNN training
under each layout that fills the cores (one process with every core's thread, ..., one
single-threaded process per core, all started together) and keeps the fastest. The result is
cached per machine and torch version in `~/.cache/dlnotes/threads.json`; `DLNOTES_THREADS=N`
overrides it (tests use it to skip the measurement).

The device (a CUDA GPU's name, or the CPU) is asked of torch once per torch version and cached
in `~/.cache/dlnotes/device.json`; the captions under the figures say where they were made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dlnotes import contract
from dlnotes.cachekey import environment

# Facts about the machine, shared by every checkout on it.
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlnotes"

# One worker of a layout: import torch, say so, wait for "go" on stdin, train, report the end.
WORKER = r"""
import sys, time
import torch
from torch import nn
threads, units = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1),
                      nn.ReLU(), nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 10, (64,))
print("ready", flush=True)
sys.stdin.readline()
for _ in range(units * 60):
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
print(time.time())
"""


@dataclass(frozen=True)
class Plan:
    threads: int
    jobs: int


def plan(jobs: int | None = None) -> Plan:
    """Threads per snippet and snippets at once, from the cached measurement."""
    cores = os.cpu_count() or 1
    threads = contract.threads_override() or _measured_threads(cores)
    return Plan(threads, jobs or max(1, cores // threads))


def _measured_threads(cores: int) -> int:
    machine = f"{cores} cores, torch {environment()['torch']}"
    cached = _cached("threads.json", machine)
    if cached:
        return int(cached["value"])
    try:
        seconds = {t: _time_layout(t, cores) for t in sorted({1, max(1, cores // 2), cores})}
    except (subprocess.SubprocessError, ValueError, OSError):
        return 1  # no torch or a broken probe: one thread per snippet is never a bad guess
    threads = min(seconds, key=seconds.__getitem__)
    _remember("threads.json", machine, threads, seconds_per_layout=seconds)
    return threads


def _cached(name: str, machine: str) -> dict | None:
    """The fact stored in `name` if it was measured on this same machine, else None."""
    try:
        cached = json.loads((CACHE_DIR / name).read_text())
    except (OSError, ValueError):
        return None
    return cached if isinstance(cached, dict) and cached.get("machine") == machine \
        and "value" in cached else None


def _remember(name: str, machine: str, value: object, **details: object) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    (CACHE_DIR / name).write_text(
        json.dumps({"machine": machine, "value": value, **details}, indent=2) + "\n")


def _time_layout(threads: int, cores: int) -> float:
    """Wall time for `cores` units of training run as `cores // threads` processes at once."""
    workers = max(1, cores // threads)
    processes = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(threads), str(threads)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    for process in processes:  # every worker has imported torch
        if process.stdout.readline().strip() != "ready":
            raise subprocess.SubprocessError("thread probe failed to start")
    start = time.time()
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.close()
    ends = [float(p.stdout.read()) for p in processes]
    if any(p.wait(timeout=120) for p in processes):
        raise subprocess.SubprocessError("thread probe failed")
    return max(ends) - start


def device() -> str:
    """'CPU' or the name of the GPU that `torch.cuda.is_available()` snippets will pick."""
    machine = f"torch {environment()['torch']}"
    cached = _cached("device.json", machine)
    if cached:
        return str(cached["value"])
    probe = ("import torch; print(torch.cuda.get_device_name(0) "
             "if torch.cuda.is_available() else 'CPU')")
    try:
        name = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=120, check=True).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return "unknown device"
    _remember("device.json", machine, name)
    return name
