"""Checks whose result is a function of bytes on disk are not repeated on the same bytes.

A browser check of one page depends only on that page's HTML, the files it loads, the test
code and the tools' versions; a check of a whole site build only on the project's sources and
the quick-mode outputs. When a check passed on exactly these bytes, running it again cannot
give another answer, so a passing run is recorded under their digest (`.dlnotes/checks/`) and
later runs reuse it, the way the engine reuses a snippet run whose key did not change. A
failure is never recorded. A clean clone (CI) has no records and runs every check; delete
`.dlnotes/checks/` to do the same here.

Tests opt in with a marker:
- `@pytest.mark.reuse("page")`: a check of one page (the test takes the `site` fixture and a
  `path` parameter); `reuse("page", "overfitting/")` names the page;
- `reuse("page", search_index="size")`: a check that the search index's size can change (the
  page's weight, which counts the index at the top of its size step);
- `reuse("page", "", search_index="content")`: a search, from the home page;
- `reuse("sources")`: a check of the whole quick site (the test takes `quick_build`);
- `reuse("code", *paths)`: a check of a build the test makes itself: the build package and
  the project files or folders it names.

"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from urllib.parse import urljoin, urlparse

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / ".dlnotes" / "checks"
# A page's own resources: what it loads (src), its styles (href), a widget's data (data-src).
REFERENCE = re.compile(r'\s(?:src|href|data-src)="([^"#?]+)')
# The search index (every page's text) is weighed in steps of this many bytes: a check of a
# page's weight that allows for the top of the index's step holds for any index in the same
# step, so fixing a typo on one page does not re-weigh every page.
INDEX_SIZE_STEP = 32_768


def index_size_ceiling(size: int) -> int:
    """The largest index size in the same step as `size`: what a weight check allows for."""
    return (size // INDEX_SIZE_STEP + 1) * INDEX_SIZE_STEP - 1


def record(nodeid: str, test_file: Path, digest: str) -> Path:
    """Where the pass of one check (test and parameters) on one digest is recorded."""
    check = hashlib.sha256(nodeid.encode()).hexdigest()[:16]
    tests = test_file.parent
    return RECORDS / check / _digest([environment(), digest, *(
        _file(code, tests) for code in (test_file, tests / "conftest.py", Path(__file__)))])


def parts(digest: str) -> list[str]:
    """What went into a digest computed in this session (files and versions), to say later
    what changed when a check could not be reused."""
    return [*_PARTS.get(environment(), []), *_PARTS.get(digest, [])]


def changed(before: list[str], after: list[str]) -> list[str]:
    """The names (files, versions) whose content differs between two lists of parts."""
    old = dict(part.rsplit(":", 1) if ":" in part else (part, "") for part in before)
    new = dict(part.rsplit(":", 1) if ":" in part else (part, "") for part in after)
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def page(site: Path, path: str, *, search_index: str | None = None) -> str:
    """The bytes that decide a browser check of one page: its HTML and every site file it
    references (images, scripts, styles, downloads, widget data).

    Every page also fetches the search index, which holds the text of all pages: with it in
    every digest, a typo fixed on one page would re-check every page. Its content shows only
    in the search dialog, so a search asks for `search_index="content"`; its size counts in
    a page's weight, so a check that weighs the page asks for `search_index="size"` and gets
    the index's size step (`index_size_ceiling`) in the digest."""
    html_file = site / path / "index.html"
    html = html_file.read_text(encoding="utf-8")
    url = "/" + path
    files = {html_file}
    index = site / "search" / "search_index.json"
    steps = []
    if search_index == "content":
        files.add(index)
    elif search_index == "size":
        steps = [f"search index size <= {index_size_ceiling(index.stat().st_size)}"]
    elif search_index is not None:
        raise ValueError(f"search_index must be 'content' or 'size', got {search_index!r}")
    for reference in REFERENCE.findall(html):
        if re.match(r"[a-z]+:|//", reference):  # data:, https:, mailto: are not site files
            continue
        target = site / urlparse(urljoin(url, reference)).path.lstrip("/")
        if target.is_file() and target.suffix != ".html":
            files.add(target)
    return _digest([*(_file(f, site) for f in sorted(files)), *steps])


def sources(quick_outputs: Path) -> str | None:
    """The bytes that decide a build of the site: every file of the project that git does not
    ignore (the tests aside) and the quick-mode outputs the build shows. None outside a git
    checkout (an unpacked archive): without git's ignore rules there is no telling which files
    count, so nothing is reused."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.split("\0")
    except (OSError, subprocess.CalledProcessError):
        return None
    project = [ROOT / name for name in listed if name and not name.startswith("tests/")]
    outputs = sorted(p for p in quick_outputs.rglob("*") if p.is_file())
    return _digest([*(_file(f, ROOT) for f in project if f.is_file()),
                    *(_file(f, quick_outputs) for f in outputs)])


def code(*paths: str) -> str:
    """The bytes that decide a check of the engine on a project the test makes itself: the
    build package, and the project's files or folders that the check also reads (a real
    snippet, say)."""
    files = sorted({f for path in ("dlnotes", *paths) for f in _files(ROOT / path)})
    return _digest(_file(f, ROOT) for f in files)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return [f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts]


@functools.cache
def environment() -> str:
    """Python, every installed distribution's version, chromium's, and the DLNOTES_ settings."""
    parts = [platform.python_version()]
    parts += sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    chromium = shutil.which("chromium")
    if chromium:
        parts.append(subprocess.run([chromium, "--version"], capture_output=True,
                                    text=True).stdout.strip())
    parts += sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("DLNOTES_"))
    return _digest(parts)


def _file(path: Path, base: Path) -> str:
    """A file as its place under `base` and its content."""
    return f"{path.relative_to(base).as_posix()}:{hashlib.sha256(path.read_bytes()).hexdigest()}"


_PARTS: dict[str, list[str]] = {}


def _digest(items: Iterable[str]) -> str:
    items = list(items)
    value = hashlib.sha256("\n".join(items).encode()).hexdigest()[:24]
    _PARTS[value] = items
    return value
