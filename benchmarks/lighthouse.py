"""Lighthouse scores of the built site, as a Markdown table for `make bench`.

Runs npm's lighthouse@12.2.3 (installed on first use into .dlnotes/lighthouse, git-ignored)
with Debian's chromium against the site served on 127.0.0.1, for four pages that stand for the
rest -- the home page, a text page, the heaviest figure page and a notebook page -- with the
desktop and the mobile preset. Targets (DESIGN.md §8): performance >= 95 desktop and >= 80
mobile; accessibility, best practices and SEO 100.

    python benchmarks/lighthouse.py SITE_DIR            # prints the table
    python benchmarks/lighthouse.py SITE_DIR --why      # and, under it, every audit that
                                                       # cost a page points, per page
    python benchmarks/lighthouse.py SITE_DIR --gzip     # text files sent gzip-compressed,
                                                       # as GitHub Pages sends them
    python benchmarks/lighthouse.py SITE_DIR --runs 5   # runs per page and preset (3)

One run's performance score moves by several points from run to run on the same machine
(measured here: 84 then 77 for one page and preset), so each cell is the median of several
runs, with their range when they differ, as Lighthouse's own guidance on variability advises;
the audits listed with `--why` are those of the median run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip as gzip_module
import http.server
import io
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "12.2.3"
INSTALL = ROOT / ".dlnotes" / "lighthouse"
CLI = INSTALL / "node_modules" / "lighthouse" / "cli" / "index.js"
PAGES = {
    "home": "",
    "text page": "state-of-dl/text/",
    "heaviest figures": "image-recognition/non-image-tasks/",
    "notebook": "examples/sound_spectrograms/",
}
PRESETS = ("desktop", "mobile")
CATEGORIES = {"performance": "Performance", "accessibility": "Accessibility",
              "best-practices": "Best practices", "seo": "SEO"}
RUN_TIMEOUT_S = 300
RUNS = 3  # per page and preset: the table shows their median
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"


def table(site_dir: Path, why: bool = False, gzip: bool = False, runs: int = RUNS) -> str:
    """The scores of every page and preset, as a Markdown table (0-100, higher is better,
    the median of `runs` runs); with `why`, followed by the audits that cost each page points;
    with `gzip`, text files are sent gzip-compressed, as GitHub Pages and most hosts send
    them."""
    cli = _installed()
    lines = ["| Page | Preset | " + " | ".join(CATEGORIES.values()) + " |",
             "| --- | --- |" + " ---: |" * len(CATEGORIES)]
    reasons: list[str] = []
    with _served(site_dir, gzip) as base_url:
        for page, path in PAGES.items():
            for preset in PRESETS:
                scores, failing = _median([_scores(cli, base_url + path, preset)
                                           for _ in range(runs)])
                lines.append(f"| {page} (`/{path}`) | {preset} | "
                             + " | ".join(scores[c] for c in CATEGORIES) + " |")
                if failing:
                    reasons += [f"- {page}, {preset}:", *(f"  - {f}" for f in failing)]
    if any("*" in line for line in lines[2:]):
        lines += ["", "\\* Lighthouse reported a runtime error (usually a protocol timeout on a "
                  "busy machine); the scores are its own, from a partial run."]
    if why and reasons:
        lines += ["", "Audits that cost points (score below 0.9; metrics with their value):",
                  "", *reasons]
    return "\n".join(lines) + "\n"


def _median(results: list[tuple[dict[str, str], list[str]]]) -> tuple[dict[str, str], list[str]]:
    """Per category, the median score of the runs and their range ("82 (77-84)"); with the
    failing audits of the run whose performance score is the median. A cell with a run that
    was not scored shows every run's value."""
    cells = {}
    for key in CATEGORIES:
        values = [scores[key] for scores, _ in results]
        if not all(v.isdigit() for v in values):
            cells[key] = " / ".join(values)
            continue
        numbers = sorted(map(int, values))
        low, median, high = numbers[0], statistics.median_low(numbers), numbers[-1]
        cells[key] = f"{median}" + (f" ({low}–{high})" if low != high else "")
    by_performance = sorted(results, key=lambda result: int(result[0]["performance"])
                            if result[0]["performance"].isdigit() else -1)
    return cells, by_performance[(len(results) - 1) // 2][1]


def _installed() -> Path:
    """Lighthouse at the pinned version: npm installs it once, into a git-ignored folder."""
    package = CLI.parents[1] / "package.json"
    if not package.is_file() or json.loads(package.read_text())["version"] != VERSION:
        INSTALL.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--exact", "--no-audit", "--no-fund",
                        f"lighthouse@{VERSION}"], cwd=INSTALL, check=True,
                       stdout=subprocess.DEVNULL)
    return CLI


@contextmanager
def _served(site_dir: Path, gzip: bool = False) -> Iterator[str]:
    """The site on a loopback port, as a plain static server sends it (no compression), or
    with text files gzip-compressed for a browser that accepts it."""
    handler = functools.partial(_GzipHandler if gzip else _QuietHandler,
                                directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _GzipHandler(_QuietHandler):
    """Text files (HTML, CSS, JavaScript, JSON, SVG) gzip-compressed when the browser accepts
    it, the way GitHub Pages serves the published site."""

    TEXT = (".html", ".css", ".js", ".json", ".svg", ".map", ".txt", ".xml")

    def send_head(self):  # type: ignore[no-untyped-def]
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"  # (a folder without its slash: the parent redirects)
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not accepts or path.suffix not in self.TEXT or not path.is_file():
            return super().send_head()
        body = gzip_module.compress(path.read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


def _scores(cli: Path, url: str, preset: str) -> tuple[dict[str, str], list[str]]:
    """One Lighthouse run: each category's score ('–' if it could not be scored), and the
    audits of those categories that scored below 0.9."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("lighthouse.py needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.json"
        command = ["node", str(cli), url, "--quiet", "--output=json", f"--output-path={output}",
                   f"--chrome-flags={CHROME_FLAGS} --user-data-dir={folder}/profile",
                   f"--only-categories={','.join(CATEGORIES)}"]
        if preset == "desktop":
            command.append("--preset=desktop")
        # A run that hangs is ended with the chromium it started (chrome-launcher detaches
        # it; its profile folder, in this run's temporary folder, tells it apart).
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               env={**os.environ, "CHROME_PATH": chromium})
        try:
            _, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # no scores for this run; the others go on
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
            _kill_chromium_using(f"{folder}/profile")
            return dict.fromkeys(CATEGORIES, "timeout"), []
        # On a busy machine a run may end in a protocol timeout, yet it writes its report.
        if not output.is_file():
            raise SystemExit(f"lighthouse failed on {url}:\n{stderr[-2000:]}")
        report = json.loads(output.read_text(encoding="utf-8"))
    error = report.get("runtimeError") or {}
    if error.get("code"):  # the page could not be scored: say why, not just "–"
        return dict.fromkeys(CATEGORIES, f"error {error['code']}"), []
    mark = "*" if report.get("runtimeError") else ""
    scores = {key: "–" if report["categories"][key]["score"] is None
              else f"{round(report['categories'][key]['score'] * 100)}{mark}"
              for key in CATEGORIES}
    return scores, _failing(report)


def _kill_chromium_using(profile: str) -> None:
    """End the chromium processes whose command line names this profile folder."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            arguments = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--user-data-dir={profile}".encode() in arguments:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def _failing(report: dict) -> list[str]:
    """'category: audit title (value)' for each scored audit below 0.9."""
    failing = []
    for key in CATEGORIES:
        for ref in report["categories"][key]["auditRefs"]:
            audit = report["audits"].get(ref["id"], {})
            score = audit.get("score")
            # Performance: its diagnostics (weight 0) say where the time went; elsewhere only
            # the weighted audits count.
            counted = key == "performance" or ref.get("weight", 0) > 0
            if not counted or score is None or score >= 0.9:
                continue
            value = f" ({audit['displayValue']})" if audit.get("displayValue") else ""
            failing.append(f"{key}: {audit.get('title', ref['id'])}{value}")
    return failing


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of at least 1, not {text!r}")
    return int(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site_dir", type=Path, help="the built site")
    parser.add_argument("--why", action="store_true",
                        help="list the audits that cost each page points")
    parser.add_argument("--gzip", action="store_true",
                        help="send text files gzip-compressed, as GitHub Pages does")
    parser.add_argument("--runs", type=_positive, default=RUNS, metavar="N",
                        help=f"runs per page and preset, their median shown ({RUNS})")
    args = parser.parse_args()
    print(table(args.site_dir.resolve(), why=args.why, gzip=args.gzip, runs=args.runs), end="")
