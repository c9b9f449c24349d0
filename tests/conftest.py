"""Shared fixtures: the real project built once in quick mode, and throw-away projects."""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

import jupytext
import pytest
import reuse

from dlnotes import cachekey, engine, machine, processes
from dlnotes.errors import BuildFailed
from dlnotes.project import QUICK, Project, Workspace
from dlnotes.provenance import read_png
from dlnotes.snippet import Snippet

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(ROOT)
HOOK = ROOT / "dlnotes" / "mkdocs_hook.py"
# What shapes a build besides the build package (tests/reuse.py `code`): a check of how the
# site is built (determinism, repository links) is repeated when one of these changes, not
# when a page's text or a snippet does. CI starts with no records and runs it every time.
BUILD_PIPELINE = ("mkdocs.yml", "overrides", "docs/javascripts", "docs/stylesheets", "examples")


# The fixtures that run the project's snippets. A test that uses one of them is `slow`; which
# snippets it needs is read off its `name` parameter (any other such test needs them all).
SNIPPET_FIXTURES = {"quick_build", "quick_site", "standalone", "site"}  # site: the quick site
NEEDED = pytest.StashKey["set[str] | None"]()  # None: every snippet
WANTS_STANDALONE = pytest.StashKey[bool]()  # a selected test reads a standalone run
# Standalone runs (a snippet copied alone into an empty folder) that passed, by content key.
STANDALONE_CACHE = ROOT / ".dlnotes" / "standalone"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that run snippets as `slow`, before `-m` selects by marker."""
    for item in items:
        if SNIPPET_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


REUSED = pytest.StashKey[list[str]]()  # checks not repeated: they passed on the same bytes
RERUN = pytest.StashKey[list[str]]()   # checks repeated, with what changed since their pass
PASS_RECORD = pytest.StashKey[Path]()   # where a marked check records its pass
PARTS = pytest.StashKey[list[str]]()    # what its digest was made of


def pytest_configure(config: pytest.Config) -> None:
    """Read the tools' versions and settings once, before any test can change them."""
    reuse.environment()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a check marked `reuse` only if it never passed on the same bytes (tests/reuse.py)."""
    marker = pyfuncitem.get_closest_marker("reuse")
    if marker is None:
        return None
    args = pyfuncitem.funcargs
    if marker.args[0] == "page":  # the page: the marker's second argument, or `path`
        path = marker.args[1] if len(marker.args) > 1 else pyfuncitem.callspec.params["path"]
        digest = reuse.page(args["site"], path, **marker.kwargs)
    elif marker.args[0] == "code":
        digest = reuse.code(*marker.args[1:])
    elif "quick_site" in args:  # the site's folder is named for the digest of its sources
        digest = args["quick_site"].name.split("-")[0]
        if digest == "None":
            return None  # not a git checkout: run it
    else:
        digest = reuse.sources(args["quick_build"].workspace.root)
        if digest is None:
            return None  # not a git checkout: run it
    record = reuse.record(pyfuncitem.nodeid, pyfuncitem.path, digest)
    if record.is_file():
        pyfuncitem.config.stash.setdefault(REUSED, []).append(pyfuncitem.nodeid)
        return True  # handled: it passed on exactly these bytes before
    for earlier in record.parent.glob("*.parts"):  # say what changed since the last pass
        what = reuse.changed(earlier.read_text().splitlines(), reuse.parts(digest))
        pyfuncitem.config.stash.setdefault(RERUN, []).append(
            f"{pyfuncitem.nodeid}: {', '.join(what[:3]) or 'the test code'}")
    pyfuncitem.stash[PASS_RECORD] = record
    pyfuncitem.stash[PARTS] = reuse.parts(digest)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.passed and PASS_RECORD in item.stash:
        record = item.stash[PASS_RECORD]
        shutil.rmtree(record.parent, ignore_errors=True)  # older digests of this check
        record.parent.mkdir(parents=True)
        record.touch()
        record.with_name(record.name + ".parts").write_text("\n".join(item.stash[PARTS]))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    reused = config.stash.get(REUSED, [])
    if reused:
        terminalreporter.write_line(
            f"dlnotes: {len(reused)} checks had passed on identical bytes and were not repeated "
            "(tests/reuse.py; delete .dlnotes/checks/ to run them all)")
    rerun = config.stash.get(RERUN, [])
    if rerun:
        terminalreporter.write_line(f"dlnotes: {len(rerun)} checks ran again; what changed "
                                    "since each last passed (first three):")
        for line in rerun[:10]:
            terminalreporter.write_line(f"  {line}")


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which snippets the selected tests need, so the fixtures run just those."""
    needed: set[str] | None = set()
    session.config.stash[WANTS_STANDALONE] = any(
        "standalone" in getattr(item, "fixturenames", ()) for item in session.items)
    for item in session.items:
        fixtures = SNIPPET_FIXTURES & set(getattr(item, "fixturenames", ()))
        if not fixtures:
            continue
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("name") if callspec else None
        if fixtures & {"quick_site", "site"} or name not in PROJECT.snippets():
            needed = None
            break
        needed.add(name)
    session.config.stash[NEEDED] = needed


def _needed(config: pytest.Config) -> list[str]:
    """The snippets this session's tests need (every snippet when unknown)."""
    needed = config.stash.get(NEEDED, None)
    return sorted(PROJECT.snippets()) if needed is None else sorted(needed)


@dataclass
class QuickBuild:
    workspace: Workspace
    outcomes: dict[str, engine.Outcome]
    failures: dict[str, str]

    def output_dir(self, name: str) -> Path:
        """The snippet's quick-mode outputs; fails the calling test if the snippet failed."""
        assert name not in self.failures, self.failures[name]
        assert name in self.outcomes, f"{name} was not built for this test session"
        return self.workspace.output_dir(name)


@pytest.fixture(scope="session")
def quick_build(request: pytest.FixtureRequest) -> QuickBuild:
    """The snippets the selected tests need, brought up to date in quick mode.

    The quick-mode workspace (`.dlnotes/quick/`) is a cache like `docs/generated/`: a snippet
    re-runs only when its content key (source, mode, data, versions) changed or its last run
    failed, so a second test run reuses every run that is still valid. A failed snippet fails
    its own tests only. When the session reads copied-alone runs, they start here, once the
    build no longer needs the cores.
    """
    workspace = Workspace.for_mode(PROJECT, quick=True)
    try:
        outcomes = engine.build(PROJECT, workspace, _needed(request.config),
                                log=lambda line: None)
        failures: dict[str, str] = {}
    except BuildFailed as failed:
        outcomes, failures = failed.outcomes, failed.failures
    if request.config.stash.get(WANTS_STANDALONE, False):
        request.getfixturevalue("standalone")  # start them now, behind the tests that follow
    return QuickBuild(workspace, {o.name: o for o in outcomes}, failures)


class FakeProject:
    """A tiny project on disk: snippets that need nothing but the standard library."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = Project(root)
        (root / "snippets").mkdir()
        (root / "docs").mkdir()
        (root / "mkdocs.yml").write_text(textwrap.dedent(f"""\
            site_name: Fake
            theme: {{name: material, font: false}}
            hooks: [{HOOK}]
            exclude_docs: |
              generated/**/*.md
            markdown_extensions:
              - pymdownx.superfences
              - pymdownx.snippets: {{check_paths: true}}
            """))

    def snippet(self, name: str, body: str) -> Path:
        path = self.root / "snippets" / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        return path

    def notebook(self, stem: str, percent_source: str) -> Path:
        """An example notebook written from jupytext's percent format (`# %%` cells)."""
        path = self.root / "examples" / f"{stem}.ipynb"
        path.parent.mkdir(exist_ok=True)
        jupytext.write(jupytext.reads(percent_source, fmt="py:percent"), path, fmt="ipynb")
        return path

    def page(self, name: str, text: str) -> Path:
        path = self.root / "docs" / name
        path.write_text(textwrap.dedent(text))
        return path

    def workspace(self, quick: bool = False) -> Workspace:
        return Workspace.for_mode(self.project, quick)

    def build(self, *names: str, quick: bool = False, force: bool = False,
              fast: bool = False) -> dict[str, str]:
        """Run the engine; the status of each snippet ('cached' or 'ran: <reason>').

        Plain child processes by default: these snippets import nothing heavy, so preloading
        torch for them would only cost time. test_fast_runner.py covers the preloaded workers.
        """
        outcomes = engine.build(Project(self.root), self.workspace(quick), names, force=force,
                                log=lambda line: None, fast=fast)
        return {o.name: o.status if o.status == "cached" else f"{o.status}: {o.reason}"
                for o in outcomes}


METRICS_SNIPPET = """\
    import json, os, pathlib
    out = pathlib.Path(os.environ.get("DLNOTES_OUT", "outputs/{name}"))
    out.mkdir(parents=True, exist_ok=True)
    quick = os.environ.get("DLNOTES_QUICK") == "1"
    (out / "metrics.json").write_text(json.dumps({{"value": {value}, "quick": quick}}))
    (out / "table.md").write_text("| a |\\n| - |\\n| {value} |\\n")
    """


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProject:
    monkeypatch.setenv("DLNOTES_THREADS", "1")
    monkeypatch.delenv("DLNOTES_QUICK_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return FakeProject(tmp_path)


def metrics_snippet(name: str, value: float = 1) -> str:
    return textwrap.dedent(METRICS_SNIPPET.format(name=name, value=value))


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its content, to compare before and after."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def engine_threads() -> str:
    """The thread count the engine gives each snippet here: results can depend on it."""
    return str(machine.plan().threads)


# For throw-away projects: one thread, and a plain process per snippet (nothing to preload).
LIGHT = {"DLNOTES_THREADS": "1", "DLNOTES_RUNNER": "plain"}


def subprocess_env(**extra: str) -> dict[str, str]:
    """The test's environment without DLNOTES_ settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLNOTES_")}
    env["NO_MKDOCS_2_WARNING"] = "1"
    return {**env, **extra}


def mkdocs_build(project_root: Path, site_dir: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=project_root, env=subprocess_env(**env), capture_output=True, text=True,
        timeout=600,
    )


TEST_SITE = ROOT / ".dlnotes" / "test-site"  # the quick site, under the digest of its sources


@pytest.fixture(scope="session")
def quick_site(quick_build: QuickBuild) -> Path:
    """The real site, built strict from the quick-mode outputs.

    Kept in `.dlnotes/test-site/DIGEST/` and built again only when the project's sources, the
    quick-mode outputs or a package changed (tests/reuse.py): two builds from the same sources
    give the same site, which test_site.py checks.
    """
    sources = reuse.sources(quick_build.workspace.root)
    site = TEST_SITE / f"{sources}-{reuse.environment()}"
    if sources is not None and (site / "index.html").is_file():
        return site
    building = TEST_SITE / f".building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    done = mkdocs_build(ROOT, building, DLNOTES_QUICK="1",
                        DLNOTES_QUICK_DIR=str(quick_build.workspace.base))
    assert done.returncode == 0, done.stderr[-3000:]
    for old in TEST_SITE.iterdir():  # one site is kept: the newest
        if old != building:
            shutil.rmtree(old, ignore_errors=True)
    building.rename(site)
    return site


@dataclass
class Standalone:
    """One snippet run outside the engine: by hand as a script, or as its notebook."""

    returncode: int
    output: str
    metrics: bytes | None


def _standalone_key(name: str, kind: str) -> str:
    """The engine's quick-mode key, plus the variant, its converter and the thread count.

    (The notebook itself is no key: nbformat gives its cells random ids.)"""
    snippet = Snippet.parse(name, PROJECT.snippets()[name], ROOT)
    inputs = cachekey.inputs(snippet, QUICK, cachekey.environment(), ROOT)
    converter = cachekey.file_digest(ROOT / "dlnotes" / "downloads.py")
    return cachekey.key({**inputs, "variant": kind, "threads": engine_threads(),
                         **({"converter": converter} if kind == "notebook" else {})})


def _run_standalone(name: str, kind: str, folder: Path,
                    worker: Callable[[], processes.Zygote]) -> Standalone:
    """Copy the snippet alone into `folder` and run it as a reader would, or reuse the record
    of a passing run with the same key (a failing run is never recorded).

    The script runs in a new interpreter, so a missing import cannot hide behind one that
    another process made. The notebook is the same code in cells: its kernel is forked from a
    preloaded worker (`worker`), as the build runs example notebooks, which checks the cells
    and their order without paying the imports a second time."""
    from dlnotes.downloads import as_notebook

    source = PROJECT.snippets()[name].read_text()
    key = _standalone_key(name, kind)
    record = STANDALONE_CACHE / f"{name}-{kind}.json"
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(record.read_text())
        if saved["key"] == key:
            return Standalone(0, saved["output"], base64.b64decode(saved["metrics"]))
    env = subprocess_env(DLNOTES_QUICK="1", OMP_NUM_THREADS=engine_threads(), MPLBACKEND="Agg")
    start = time.perf_counter()
    if kind == "script":
        (folder / f"{name}.py").write_text(source)
        done = subprocess.run([sys.executable, f"{name}.py"], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=STANDALONE_TIMEOUT_S)
        returncode, output = done.returncode, done.stderr or done.stdout
        metrics = folder / "outputs" / name / "metrics.json"
    else:
        (folder / f"{name}.ipynb").write_text(as_notebook(source))
        env["DLNOTES_OUT"] = str(folder / "out")
        returncode, timed_out, _, output = worker().run(
            {"module": "dlnotes.execute_notebook",
             "args": [str(folder / f"{name}.ipynb"), str(folder / "executed.ipynb"),
                      "--forked-kernel"]},
            folder, env, STANDALONE_TIMEOUT_S)
        if timed_out:
            output = f"timed out after {STANDALONE_TIMEOUT_S} s\n{output}"
        metrics = folder / "out" / "metrics.json"
    run = Standalone(returncode, output[-3000:],
                     metrics.read_bytes() if metrics.is_file() else None)
    if run.returncode == 0 and run.metrics is not None:
        STANDALONE_CACHE.mkdir(parents=True, exist_ok=True)
        temporary = record.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps({"key": key, "output": run.output,
                                         "metrics": base64.b64encode(run.metrics).decode(),
                                         "runtime_s": round(time.perf_counter() - start, 2)}))
        os.replace(temporary, record)
    return run


STANDALONE_TIMEOUT_S = 600


class StandaloneRuns:
    """The standalone runs of the needed snippets, going on in the background.

    They start as soon as the quick build is done and share the cores with the tests that run
    meanwhile (the browser tests mostly wait on the browser); a test reading a run waits for
    that run only. Notebooks go first: their tests come first in the session."""

    def __init__(self, runs: list[tuple[str, str]], folders: pytest.TempPathFactory) -> None:
        self._workers: list[processes.Zygote] = []
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        ordered = sorted(runs, key=lambda run: run[1] != "notebook")
        self._futures = {run: self._pool.submit(
            _run_standalone, *run, folders.mktemp("-".join(run)), self._worker)
            for run in ordered}

    def __getitem__(self, run: tuple[str, str]) -> Standalone:
        return self._futures[run].result()

    def _worker(self) -> processes.Zygote:
        """This thread's preloaded worker, started on its first notebook."""
        if not hasattr(self._local, "worker"):
            self._local.worker = processes.Zygote(int(engine_threads()))
            self._workers.append(self._local.worker)  # list.append is atomic
        return self._local.worker

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        for worker in self._workers:
            worker.close()


@pytest.fixture(scope="session")
def standalone(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneRuns]:
    """The needed snippets copied alone into an empty folder and run as a reader would:
    `python name.py` (writing ./outputs/name/), and as the .ipynb the site offers, executed by
    nbclient. Quick mode, with the engine's thread count; a run whose key is unchanged since it
    last passed is not repeated. `quick_build` starts them when the session needs them."""
    runs = StandaloneRuns([(name, kind) for name in _needed(request.config)
                           for kind in ("script", "notebook")], tmp_path_factory)
    yield runs
    runs.close()


# The built site in a real browser: Debian's chromium driven by Playwright, the site served on
# 127.0.0.1 (tests/test_browser.py, and the tests of each interactive figure).
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "screenshots"


@pytest.fixture(scope="session")
def site(request: pytest.FixtureRequest) -> Path:
    built = os.environ.get("DLNOTES_BROWSE_SITE")
    return Path(built) if built else request.getfixturevalue("quick_site")


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    assert CHROMIUM, "chromium must be installed in CI"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser) -> Iterator[object]:
    """A fresh profile per test: the palette a page remembers must not leak into the next."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    yield context
    context.close()


PALETTE_TOGGLE = "form[data-dlnotes-palette] label:not([hidden])"


def open_page(context, url: str, ready: str, dark: bool = False):
    """A new tab on `url`, in the dark palette if asked, once `ready` (a selector) is drawn;
    with the list of script errors the page raises."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url, wait_until="networkidle")
    if dark:
        page.click(PALETTE_TOGGLE)
    page.locator(ready).first.wait_for(timeout=10_000)
    return page, errors


def phone_context(browser):
    """A 375-px-wide phone's browser context."""
    return browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)


MIN_TEXT_PX = 11  # the smallest figure text a reader is shown, in CSS pixels


def small_figure_text(shown: list[tuple[str, float]], site: Path, url: str,
                      drawn_with: str) -> list[str]:
    """Of the figures shown on the page at `url` (src, displayed width in CSS px), those whose
    smallest text, recorded in the PNG's Comment by `drawn_with`, is shown below MIN_TEXT_PX."""
    small = []
    for src, displayed in shown:
        png = read_png((site / urlparse(urljoin(url, src)).path.lstrip("/")).read_bytes())
        assert png is not None, f"{src} is no PNG"
        match = re.fullmatch(r"smallest-text-pt=([\d.]+)", png.comment)
        if not match:
            small.append(f"{src}: no smallest-text-pt Comment (draw it with {drawn_with})")
            continue
        px = float(match[1]) * png.dpi / 72 * displayed / png.width
        if px < MIN_TEXT_PX:
            small.append(f"{src}: {match[1]} pt shown at {px:.1f} px")
    return small
