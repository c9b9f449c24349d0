"""MkDocs hooks: run what is stale before building, then publish its outputs and numbers.

`mkdocs build` fails when a snippet fails (the report names snippet, error and pages);
`mkdocs serve` keeps previewing and puts a visible warning on the pages whose outputs are stale.

Environment:
    DLNOTES_QUICK=1   quick mode, with outputs in its own folder (see `Workspace.for_mode`)
    DLNOTES_NO_RUN=1  use the outputs as they are, run nothing (a bare build, for benchmarks)
    DLNOTES_RUNNER=plain  a new Python process per snippet instead of preloaded workers
    DLNOTES_SITE_URL, DLNOTES_REPO_URL  (read by mkdocs.yml) the published site's address and
                      its GitHub repository; without them no page links to a repository
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import posixpath
import re
from html import escape
from pathlib import Path
from typing import IO, Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from dlnotes import (
    contract,
    downloads,
    engine,
    glossary,
    highlight,
    lazy_code,
    locks,
    manifest,
    notebook_css,
    provenance,
    report,
)
from dlnotes.errors import BuildFailed, DlnotesError
from dlnotes.metrics import Metrics
from dlnotes.project import EXAMPLE_PREFIX, GENERATED, Project, Workspace

log = logging.getLogger("mkdocs.plugins.dlnotes")


class _Build:
    """What one build (one rebuild, under `serve`) knows."""

    serving = False
    site_lock: IO[str] | None = None

    def __init__(self, config: Any) -> None:
        self.project = Project(Path(config.config_file_path).resolve().parent)
        self.workspace = Workspace.for_mode(self.project, contract.is_quick())
        self.outcomes: dict[str, engine.Outcome] = {}
        self.stale_pages: set[str] = set()
        self.metrics = Metrics(self.workspace)
        self.entries: dict[str, manifest.Entry] = {}
        self.snippets_of: dict[str, list[str]] = {}  # page -> the snippets it embeds
        for name in self.project.snippets():
            for page in self.project.pages_embedding(name):
                self.snippets_of.setdefault(page, []).append(name)


_build: _Build | None = None


def on_startup(command: str, dirty: bool) -> None:
    _Build.serving = command == "serve"


def on_config(config: Any) -> Any:
    global _build
    _build = _Build(config)
    # Pages include snippet code from the project root and generated tables from the workspace.
    includes = config.mdx_configs.setdefault("pymdownx.snippets", {})
    includes["base_path"] = [str(_build.workspace.base), str(_build.project.root)]
    for needed in ("attr_list", "tables"):  # table captions are marked with attr_list
        if needed not in config.markdown_extensions:
            config.markdown_extensions.append(needed)
    glossary.configure(config, _build.project.docs_dir)  # hover definitions from glossary.md
    if not config.repo_url:  # a local build: no edit links to a repository it does not know
        config.edit_uri = None
    return config


def on_pre_build(config: Any) -> None:
    assert _build is not None
    # MkDocs empties the site folder right after this event; two builds into one folder at
    # once would delete each other's files. The second waits here until the first is done.
    _build.site_lock = locks.acquire(
        _build.project.root / ".dlnotes" / "locks" / f"site-{_digest(config.site_dir)}.lock",
        f"another build is writing {config.site_dir}; waiting for it to finish")
    if os.environ.get(contract.NO_RUN_ENV) == "1":
        return
    try:
        outcomes = engine.build(_build.project, _build.workspace, log=log.info,
                                fast=contract.runner() == "fast")
        _build.outcomes = {o.name: o for o in outcomes}
    except BuildFailed as failed:
        if not _build.serving:
            raise PluginError(str(failed)) from None
        log.warning(str(failed))
        for name in failed.names:
            _build.stale_pages.update(_build.project.pages_embedding(name))
    except DlnotesError as err:
        raise PluginError(str(err)) from None


@event_priority(50)  # before other plugins (mkdocs-jupyter) look at the files
def on_files(files: Files, config: Any) -> Files:
    assert _build is not None
    workspace = _build.workspace
    if workspace.base != _build.project.docs_dir:
        # Quick mode: show its own outputs, never the full-mode ones that docs/ may hold.
        for file in [f for f in files if f.src_uri.startswith(f"{GENERATED}/")]:
            files.remove(file)
        if workspace.root.is_dir():
            for path in sorted(workspace.root.rglob("*")):
                relative = path.relative_to(workspace.base).as_posix()
                if path.is_file() and not _hidden(relative) and path.suffix != ".md" \
                        and not relative.startswith(f"{GENERATED}/{EXAMPLE_PREFIX}"):
                    files.append(File(relative, str(workspace.base), config.site_dir,
                                      config.use_directory_urls))
    _build.entries = manifest.load(workspace.manifest_path)
    files.append(File.generated(config, "build-report.md",
                                content=report.render(_build.project, workspace, _build.entries,
                                                      _build.outcomes)))
    for name, path in _build.project.snippets().items():
        source = path.read_text("utf-8")
        files.append(File.generated(config, f"downloads/{name}.py",
                                    content=downloads.as_script(source)))
        files.append(File.generated(config, f"downloads/{name}.ipynb",
                                    content=downloads.as_notebook(source)))
    for name, path in _build.project.examples().items():  # mkdocs-jupyter renders these
        if (workspace.output_dir(name) / "examples" / path.name).is_file():
            files.append(File(f"examples/{path.name}", str(workspace.output_dir(name)),
                              config.site_dir, config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    assert _build is not None
    source = f"docs/{page.file.src_uri}"

    def keep_previewing(message: str) -> str:
        log.warning(message)
        return "**⚠ missing number**"

    try:
        markdown = _build.metrics.substitute(
            markdown, source, on_error=keep_previewing if _build.serving else None)
    except DlnotesError as err:
        raise PluginError(str(err)) from None
    page_dir = posixpath.dirname(page.file.src_uri)
    markdown = provenance.mark_tables(markdown)
    if source in _build.snippets_of:
        block = provenance.downloads_block(_build.snippets_of[source], page_dir)
        markdown = TITLE.sub(lambda title: f"{title[0]}\n\n{block}\n", markdown, count=1)
    if source in _build.stale_pages:
        markdown = (
            '!!! danger "Stale outputs"\n'
            "    A snippet this page embeds failed in this preview; the figures and numbers\n"
            "    below are from its last successful run. See the terminal for the error.\n\n"
            + markdown
        )
    return markdown


def _describe_figures(html: str, notebook: Path) -> str:
    """nbconvert gives every output image the same placeholder alt text; a cell's `alt`
    metadata says what its figure shows, so use it, image by image, in output order."""
    alts = [
        cell.get("metadata", {}).get("alt")
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    parts = html.split(NO_ALT)
    if len(parts) - 1 != len(alts):
        return html
    described = [f'alt="{escape(alt, quote=True)}"' if alt else NO_ALT for alt in alts]
    return parts[0] + "".join(a + p for a, p in zip(described, parts[1:], strict=True))


TITLE = re.compile(r"^# .*$", re.M)
# nbconvert's loader for Mermaid diagrams imports Mermaid from a CDN; this site serves its own.
CDN_MERMAID = re.compile(
    r'<script type="module">(?:(?!</script>).)*?cdnjs\.cloudflare\.com.*?</script>', re.S)


NO_ALT = 'alt="No description has been provided for this image"'


# Listings of snippets and notebook code cells stay out of the search index: they made up
# half of it (every page loads it, so its size counts in every page's weight), and a reader
# searches the prose; the code is one click away in each page's downloads.
SEARCHABLE_CODE = re.compile(r'(<div class="highlight")>(?=<span class="filename">snippets/)'
                             r'|(<div class="highlight-ipynb hl-python")>')


@event_priority(50)  # before glightbox wraps the images in links
def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Captioned, sized figures and tables with their provenance on every page, and code with
    fewer elements; notebook pages also lose the CDN loader and their inline images, and gain
    download and Colab links."""
    assert _build is not None
    notebook = page.file.src_uri.startswith("examples/") and page.file.src_uri.endswith(".ipynb")
    if notebook:
        html = _describe_figures(html, Path(page.file.abs_src_path))
        html = _images_to_files(html, Path(config.site_dir) / _folder(page.url))
        classes = notebook_css.page_classes(html)
        html = STYLE.sub(lambda block: block["open"] + notebook_css.unused_rules_dropped(
            block["css"], classes) + "</style>", html)
        html = _notebook_links(page, config) + CDN_MERMAID.sub("", html)
        html = glossary.mark_notebook(html, config)  # the glossary's hover definitions
    html = glossary.own_tips(html)
    html = SEARCHABLE_CODE.sub(lambda tag: f"{tag[1] or tag[2]} data-search-exclude>", html)
    html = highlight.plain_tokens(html)
    report = files.get_file_from_path("build-report.md")
    context = provenance.page_context(page.url, _site_file, _build.entries,
                                      report.url if report else "build-report/")
    html = lazy_code.defer_collapsed(
        html, lambda name: context.download(name) if name in _build.entries else None)
    return provenance.figures_and_tables(html, context)


def _site_file(path: str) -> Path:
    """The file behind a path of the site: generated outputs come from the workspace."""
    assert _build is not None
    base = _build.workspace.base if path.startswith(f"{GENERATED}/") else _build.project.docs_dir
    return base / path


def _folder(url: str) -> str:
    return url if url.endswith("/") or not url else posixpath.dirname(url)


INLINE_PNG = re.compile(r'src="data:image/png;base64,(?P<data>[A-Za-z0-9+/=\s]+)"')


STYLE = re.compile(r"(?P<open><style[^>]*>)(?P<css>.*?)</style>", re.S)


def _images_to_files(html: str, folder: Path) -> str:
    """Notebook figures as files next to the page instead of base64 inside it: the page stays
    small and the browser loads each figure lazily, only when it scrolls into view."""

    def to_file(match: re.Match[str]) -> str:
        data = base64.b64decode(re.sub(r"\s", "", match["data"]))
        name = f"figure-{hashlib.sha256(data).hexdigest()[:16]}.png"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        png = provenance.read_png(data)
        size = ' width="{}" height="{}"'.format(*png.css_size) if png else ""
        return f'src="{name}" loading="lazy"{size}'

    return INLINE_PNG.sub(to_file, html)


def _notebook_links(page: Any, config: Any) -> str:
    """Download the notebook; open it in Colab when the site knows its GitHub repository."""
    name = posixpath.basename(page.file.src_uri)
    links = [f'<a href="{name}" download="{name}">Download <code>{name}</code></a>']
    repo = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)/?", config.repo_url or "")
    if repo:
        colab = f"https://colab.research.google.com/github/{repo[1]}/blob/main/examples/{name}"
        links.append(f'<a href="{colab}">Open in Colab</a>')
    return '<p class="dlnotes-downloads">' + " · ".join(links) + "</p>"


MERMAID = ("assets/vendor/mermaid/mermaid.min.js",)
KATEX = ("assets/vendor/katex/katex.min.js", "javascripts/katex.js")
KATEX_CSS = "assets/vendor/katex/katex.min.css"


def _notebook_math(page: Any) -> bool:
    """Does a notebook page have $...$ in a Markdown cell (typeset by notebook-math.js)?"""
    if not page.file.src_uri.endswith(".ipynb"):
        return False
    cells = json.loads(Path(page.file.abs_src_path).read_text(encoding="utf-8"))["cells"]
    return any("$" in "".join(cell["source"]) for cell in cells
               if cell["cell_type"] == "markdown")


WIDGET = re.compile(r'data-widget="([a-z0-9-]+)"')
WIDGET_KIT = "javascripts/widgets/_kit.js"  # what every widget script uses; loaded first


GLIGHTBOX_SCRIPT = re.compile(r'<script src="([^"]*/glightbox\.min\.js)"></script>')
GLIGHTBOX_SETUP = re.compile(r'(<script id="init-glightbox">)(.*?)(</script>)', re.S)


def _lightbox_deferred(output: str) -> str:
    """The lightbox's 56 KB script stops blocking the first paint: mkdocs-glightbox puts it
    in `<head>`; deferred, it runs once the page is parsed, and the plugin's set-up at the end
    of the body waits for it (DOMContentLoaded fires after every deferred script has run)."""
    if not GLIGHTBOX_SETUP.search(output) or not GLIGHTBOX_SCRIPT.search(output):
        return output
    output = GLIGHTBOX_SCRIPT.sub(r'<script src="\1" defer></script>', output, count=1)
    return GLIGHTBOX_SETUP.sub(lambda m: f'{m[1]}document.addEventListener("DOMContentLoaded", '
                                         f'() => {{\n{m[2]}}});\n{m[3]}', output, count=1)


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Mermaid (2.7 MB), KaTeX, the scripts that render collapsed code listings and glossary
    tooltips, and each interactive figure's script, only on the pages that use them. A
    `data-widget="NAME"` container loads `javascripts/widgets/NAME.js` (and
    `stylesheets/widgets/NAME.css` when it exists) after the kit they share: a page pays for
    the widgets it shows."""
    output = _lightbox_deferred(output)
    folder = _folder(page.url) or "."
    scripts: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    if 'class="mermaid"' in output:
        scripts += MERMAID
    if 'class="arithmatex"' in output or _notebook_math(page):
        scripts += KATEX
        styles += (KATEX_CSS,)
    if f'class="{lazy_code.TEMPLATE_CLASS}"' in output:
        scripts += (lazy_code.SCRIPT,)
    if glossary.has_own_tips(output):
        scripts += (glossary.TIPS_SCRIPT,)
    widgets = dict.fromkeys(WIDGET.findall(output))
    if widgets:
        scripts += (WIDGET_KIT,)
    for name in widgets:
        script = f"javascripts/widgets/{name}.js"
        if not (Path(config["docs_dir"]) / script).is_file():
            raise PluginError(f"{page.file.src_uri}: data-widget={name!r} has no {script}")
        scripts += (script,)
        if (Path(config["docs_dir"]) / f"stylesheets/widgets/{name}.css").is_file():
            styles += (f"stylesheets/widgets/{name}.css",)
    links = "".join(f'<link rel="stylesheet" href="{posixpath.relpath(s, folder)}">\n'
                    for s in styles)
    if links:
        output = output.replace("</head>", f"{links}</head>", 1)
    tags = "".join(f'<script src="{posixpath.relpath(s, folder)}"></script>\n' for s in scripts)
    return output.replace("</body>", f"{tags}</body>", 1) if tags else output


def on_post_build(config: Any) -> None:
    _release_site()


def on_build_error(error: Exception) -> None:
    _release_site()


def _release_site() -> None:
    if _build is not None and _build.site_lock is not None:
        locks.release(_build.site_lock)
        _build.site_lock = None


def _digest(path: str) -> str:
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))
