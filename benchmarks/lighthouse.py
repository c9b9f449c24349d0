"""Lighthouse scores of the built site, as a Markdown table for `make bench`.

Runs npm's lighthouse@12.2.3 (installed on first use into .dlnotes/lighthouse, git-ignored)
with Debian's chromium against the site served on 127.0.0.1, for four pages that stand for the
rest -- the home page, a text page, the heaviest figure page and a notebook page -- with the
desktop and the mobile preset. Targets (DESIGN.md §8): performance >= 95 desktop and >= 80
mobile; accessibility, best practices and SEO 100.

    python benchmarks/lighthouse.py SITE_DIR        # prints the table
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
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
CHROME_FLAGS = "--headless --no-sandbox --disable-gpu --disable-background-networking"


def table(site_dir: Path) -> str:
    """The scores of every page and preset, as a Markdown table (0-100, higher is better)."""
    cli = _installed()
    lines = ["| Page | Preset | " + " | ".join(CATEGORIES.values()) + " |",
             "| --- | --- |" + " ---: |" * len(CATEGORIES)]
    with _served(site_dir) as base_url:
        for page, path in PAGES.items():
            for preset in PRESETS:
                scores = _scores(cli, base_url + path, preset)
                lines.append(f"| {page} (`/{path}`) | {preset} | "
                             + " | ".join(scores[c] for c in CATEGORIES) + " |")
    if any("*" in line for line in lines[2:]):
        lines += ["", "\\* Lighthouse reported a runtime error (usually a protocol timeout on a "
                  "busy machine); the scores are its own, from a partial run."]
    return "\n".join(lines) + "\n"


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
def _served(site_dir: Path) -> Iterator[str]:
    """The site on a loopback port, as a plain static server sends it (no compression)."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _scores(cli: Path, url: str, preset: str) -> dict[str, str]:
    """One Lighthouse run; a category that could not be scored shows as '–'."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("lighthouse.py needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "report.json"
        command = ["node", str(cli), url, "--quiet", "--output=json", f"--output-path={output}",
                   f"--chrome-flags={CHROME_FLAGS}",
                   f"--only-categories={','.join(CATEGORIES)}"]
        if preset == "desktop":
            command.append("--preset=desktop")
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "CHROME_PATH": chromium})
        # On a busy machine a run may end in a protocol timeout, yet it writes its report.
        if not output.is_file():
            raise SystemExit(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
        report = json.loads(output.read_text(encoding="utf-8"))
    mark = "*" if report.get("runtimeError") else ""
    return {key: "–" if report["categories"][key]["score"] is None
            else f"{round(report['categories'][key]['score'] * 100)}{mark}" for key in CATEGORIES}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    print(table(Path(sys.argv[1]).resolve()), end="")
