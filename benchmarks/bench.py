"""`make bench`: how long the site takes to build, against the targets in shared/DESIGN.md.

Works on a copy of the tracked files in a temporary folder, so the outputs of the checkout are
never touched. Scenarios, each timed as a whole `mkdocs build --strict` process:

- cold (plain): empty output cache, every snippet runs as a new Python process (full mode)
- cold (fast):  the same, each snippet forked from a worker that preloaded the heavy packages
- warm:    nothing changed since the last build
- touched: one snippet's source edited (a comment appended), so that snippet alone re-runs
- bare:    `mkdocs build` of the same pages with the engine switched off (DLNOTES_NO_RUN=1)

and the contributor's loop, each timed as a whole `pytest` process on the same copy:

- tests, clean:      every test with empty test caches (a clean clone: `make test` after set-up)
- tests, again:      every test again, nothing changed
- tests, one edited: every test after editing one snippet (a comment appended)
- one snippet's tests: `pytest tests/test_snippets.py -k NAME` (CONTRIBUTING.md's command)
  after dropping that snippet's cached test runs: its quick run, copied alone, as a notebook

Usage: python benchmarks/bench.py [--runs N] [--cold-runs N] [--snippet NAME] [--only WHAT]
                                  [--keep-manifest FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lighthouse  # benchmarks/lighthouse.py, beside this script

from dlnotes import manifest

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of warm/touched/bare")
    parser.add_argument("--cold-runs", type=int, default=2, help="runs of the cold build")
    parser.add_argument("--snippet", default="losses", help="the snippet to touch")
    parser.add_argument("--only", choices=("build", "loop"), default=None,
                        help="time only the site builds, or only the contributor's loop")
    parser.add_argument("--no-lighthouse", action="store_true",
                        help="skip the Lighthouse scores of the built site (needs npm, chromium)")
    parser.add_argument("--keep-manifest", type=Path, default=None, metavar="FILE",
                        help="save the last cold (fast) build's manifest (each runnable's "
                             "run and compute time) to FILE, to compare builds snippet by "
                             "snippet")
    parser.add_argument("--reuse-test-caches", action="store_true",
                        help="start the loop from this checkout's test caches (.dlnotes/)"
                             " instead of timing a test run from empty caches first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dlnotes-bench-") as tmp:
        work = Path(tmp) / "site-src"
        _copy_tracked(work)
        generated = work / "docs" / "generated"
        timings: dict[str, list[float]] = {"cold (plain)": [], "cold (fast)": [], "warm": [],
                                           "touched": [], "bare": []}
        snippet_runs: list[float] = []
        overheads: list[float] = []
        floors: list[float] = []  # cold build with zero runner cost: compute over the cores

        if args.only != "build":
            print(_loop_table(work, args.snippet, args.reuse_test_caches))
        if args.only == "loop":
            return 0
        for _ in range(args.cold_runs):
            shutil.rmtree(generated, ignore_errors=True)
            timings["cold (plain)"].append(_build(work, DLNOTES_RUNNER="plain"))
            shutil.rmtree(generated, ignore_errors=True)
            timings["cold (fast)"].append(_build(work))
            if args.keep_manifest:
                shutil.copy2(generated / ".manifest.json", args.keep_manifest)
            entries = manifest.load(generated / ".manifest.json").values()
            overheads += [e.runtime_s - e.compute_s for e in entries if e.compute_s is not None]
            floors.append(sum((e.compute_s or e.runtime_s) * e.threads for e in entries)
                          / (os.cpu_count() or 1))
        for _ in range(args.runs):
            timings["warm"].append(_build(work))
            timings["bare"].append(_build(work, DLNOTES_NO_RUN="1"))
            source = work / "snippets" / f"{args.snippet}.py"
            source.write_text(source.read_text() + f"# bench edit {time.time_ns()}\n")
            timings["touched"].append(_build(work))
            snippet_runs.append(
                manifest.load(generated / ".manifest.json")[args.snippet].runtime_s)
        # Scored while the copy exists (it is deleted with the temporary folder): the last
        # build (touched) is a full site like the published one, served as GitHub Pages
        # serves it, text files gzip-compressed.
        scores = None if args.no_lighthouse else lighthouse.table(work / "site", gzip=True)

    print(_table({k: v for k, v in timings.items() if v}, statistics.median(snippet_runs), args))
    if scores:
        print("\n" + scores)
    if not overheads:
        return 0
    print(f"\nPer-snippet overhead of the fast runner (engine wall time minus the time inside "
          f"the snippet's code), cold builds: median {statistics.median(overheads):.2f} s, "
          f"max {max(overheads):.2f} s over {len(overheads)} runs (target: median ≤ 0.5 s).")
    floor = statistics.median(floors) + statistics.median(timings["bare"])
    plain = statistics.median(timings["cold (plain)"])
    print(f"\nFloor of any runner: the snippets' own compute spread over the "
          f"{os.cpu_count()} cores plus a bare build = {floor:.1f} s, so no runner can be more "
          f"than {plain / floor:.2f} × faster than plain here.")
    return 0


def _copy_tracked(work: Path) -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, tracked):
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    vendor = ROOT / "docs" / "assets" / "vendor"  # made by `make setup` from npm, not tracked
    if vendor.is_dir():
        shutil.copytree(vendor, work / "docs" / "assets" / "vendor")
    # A checkout, as a clone is: the tests' reuse of checks reads git's list of files.
    for command in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *command], cwd=work, check=True, capture_output=True)


def _build(work: Path, **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"],
        cwd=work, check=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1", **env},
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def _pytest(work: Path, *selection: str) -> float:
    """One whole test session on the copy, as `make test` runs it (after ruff)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=work, env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(work)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: the tests failed in {work}:\n{done.stdout[-3000:]}")
    return time.perf_counter() - start


def _quick_runs(work: Path, name: str) -> tuple[float, float]:
    """The snippet's last quick run by the engine, and all its quick runs (engine, by hand,
    as a notebook), in seconds, as the test caches recorded them."""
    engine = manifest.load(work / ".dlnotes" / "quick" / "generated" / ".manifest.json"
                           )[name].runtime_s
    alone = [json.loads((work / ".dlnotes" / "standalone" / f"{name}-{kind}.json").read_text())
             ["runtime_s"] for kind in ("script", "notebook")]
    return engine, engine + sum(alone)


def _loop_table(work: Path, name: str, reuse: bool) -> str:
    """The contributor's loop against its targets (shared/DESIGN.md §8)."""
    if reuse:  # the caches are keyed by content, not by path: valid in the copy too
        for cache in ("quick", "standalone"):
            shutil.copytree(ROOT / ".dlnotes" / cache, work / ".dlnotes" / cache)
        _pytest(work)  # the browser tests' site and anything the copy still lacks
    clean = None if reuse else _pytest(work)
    again = _pytest(work)
    source = work / "snippets" / f"{name}.py"
    source.write_text(source.read_text() + f"# bench edit {time.time_ns()}\n")
    edited = _pytest(work)
    _, all_runs = _quick_runs(work, name)
    subprocess.run([sys.executable, "-m", "dlnotes", "clean", "--quick", name], cwd=work,
                   check=True, stdout=subprocess.DEVNULL, env={**os.environ,
                                                          "PYTHONPATH": str(work)})
    for kind in ("script", "notebook"):
        (work / ".dlnotes" / "standalone" / f"{name}-{kind}.json").unlink()
    one = _pytest(work, "tests/test_snippets.py", "-k", name)  # as CONTRIBUTING.md says
    engine_run, one_runs = _quick_runs(work, name)
    rows = [] if clean is None else [
        ("tests, clean", clean, "≤ 480 s", clean <= 480, f"{clean / 480:.2f} of budget")]
    rows += [
        ("tests, again", again, "≤ 90 s", again <= 90, f"{again / 90:.2f} of budget"),
        ("tests, one edited", edited, f"≤ 90 s + {name}'s quick runs ({all_runs:.1f} s)",
         edited <= 90 + all_runs, f"{(edited - all_runs) / 90:.2f} of budget + runs"),
        (f"pytest tests/test_snippets.py -k {name}", one,
         f"≤ its quick runs (engine {engine_run:.1f} s; with standalone and notebook"
         f" {one_runs:.1f} s) + 15 s", one <= one_runs + 15, f"runs + {one - one_runs:.1f} s"),
    ]
    lines = ["| loop scenario | s | target | ratio | met |", "| --- | ---: | --- | --- | --- |"]
    lines += [f"| {label} | {seconds:.1f} | {target} | {ratio} | {'yes' if met else 'NO'} |"
              for label, seconds, target, met, ratio in rows]
    return "\n".join(lines) + "\n"


def _table(timings: dict[str, list[float]], snippet_s: float, args: argparse.Namespace) -> str:
    bare = statistics.median(timings["bare"])
    med = {name: statistics.median(values) for name, values in timings.items()}
    speedup = med.get("cold (plain)", 0) / med.get("cold (fast)", 1)
    checks = {
        "cold (plain)": ("≤ 300 s", med.get("cold (plain)", 0) <= 300,
                         f"{med.get('cold (plain)', 0) / 300:.2f} of budget"),
        "cold (fast)": ("≤ 300 s; ≥ 2 × faster than plain", med.get("cold (fast)", 0) <= 300
                        and speedup >= 2, f"{speedup:.2f} × faster than plain"),
        "warm": ("≤ 1.3 × bare", med["warm"] <= 1.3 * bare, f"{med['warm'] / bare:.2f} × bare"),
        "touched": (
            f"{args.snippet} run ({snippet_s:.1f} s) + ≤ 1.3 × bare",
            med["touched"] - snippet_s <= 1.3 * bare,
            f"{(med['touched'] - snippet_s) / bare:.2f} × bare + run",
        ),
        "bare": ("reference", True, "1.00 × bare"),
    }
    lines = [
        "| scenario | runs | median s | min s | max s | target | ratio | met |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for name, values in timings.items():
        target, met, ratio = checks[name]
        lines.append(f"| {name} | {len(values)} | {med[name]:.2f} | {min(values):.2f} "
                     f"| {max(values):.2f} | {target} | {ratio} | {'yes' if met else 'NO'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
