"""Shared fixtures: the real project built once in quick mode, and throw-away projects."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jupytext
import pytest

from dlnotes import engine, machine
from dlnotes.errors import BuildFailed
from dlnotes.project import QUICK, Project, Workspace

ROOT = Path(__file__).resolve().parents[1]
PROJECT = Project(ROOT)
HOOK = ROOT / "dlnotes" / "mkdocs_hook.py"


@dataclass
class QuickBuild:
    workspace: Workspace
    outcomes: dict[str, engine.Outcome]
    failure: str


@pytest.fixture(scope="session")
def quick_build(tmp_path_factory: pytest.TempPathFactory) -> QuickBuild:
    """Every snippet of the project run once in quick mode, in a folder this test session owns."""
    workspace = Workspace(QUICK, tmp_path_factory.mktemp("quick"))
    try:
        outcomes = engine.build(PROJECT, workspace, log=lambda line: None)
        failure = ""
    except BuildFailed as failed:
        outcomes, failure = [], str(failed)
    return QuickBuild(workspace, {o.name: o for o in outcomes}, failure)


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


@pytest.fixture(scope="session")
def quick_site(quick_build: QuickBuild, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real site, built strict from the quick-mode outputs."""
    site = tmp_path_factory.mktemp("site")
    done = mkdocs_build(ROOT, site, DLNOTES_QUICK="1",
                        DLNOTES_QUICK_DIR=str(quick_build.workspace.base))
    assert done.returncode == 0, done.stderr[-3000:]
    return site


@dataclass
class Standalone:
    """One snippet run outside the engine: by hand as a script, or as its notebook."""

    returncode: int
    output: str
    metrics: bytes | None


@pytest.fixture(scope="session")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Standalone]:
    """Every snippet copied alone into an empty folder and run as a reader would: `python
    name.py` (writing ./outputs/name/), and as the .ipynb the site offers, executed by nbclient.
    All runs share the cores, in quick mode, with the engine's thread count."""
    from dlnotes.downloads import as_notebook

    def run(name: str, kind: str) -> Standalone:
        folder = tmp_path_factory.mktemp(f"{name}-{kind}")
        source = PROJECT.snippets()[name].read_text()
        env = subprocess_env(DLNOTES_QUICK="1", OMP_NUM_THREADS=engine_threads(),
                             MPLBACKEND="Agg")
        if kind == "script":
            (folder / f"{name}.py").write_text(source)
            command = [sys.executable, f"{name}.py"]
            metrics = folder / "outputs" / name / "metrics.json"
        else:
            (folder / f"{name}.ipynb").write_text(as_notebook(source))
            env["DLNOTES_OUT"] = str(folder / "out")
            command = [sys.executable, "-m", "dlnotes.notebook", f"{name}.ipynb",
                       str(folder / "executed.ipynb")]
            metrics = folder / "out" / "metrics.json"
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=600)
        return Standalone(done.returncode, (done.stderr or done.stdout)[-3000:],
                          metrics.read_bytes() if metrics.is_file() else None)

    jobs = [(name, kind) for name in sorted(PROJECT.snippets()) for kind in ("script", "notebook")]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip(jobs, pool.map(lambda job: run(*job), jobs), strict=True))
