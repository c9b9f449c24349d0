"""The site: builds strict in quick mode, shows every image it references, fails loudly.

Checks of the real quick site are reused on unchanged sources (`reuse("sources")`); checks
that build a site of their own, on unchanged build code (`reuse("code")`, tests/reuse.py):
for the real site, the build package and BUILD_PIPELINE."""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from conftest import (
    BUILD_PIPELINE,
    LIGHT,
    PROJECT,
    ROOT,
    FakeProject,
    QuickBuild,
    metrics_snippet,
    mkdocs_build,
)

from dlnotes.provenance import figures_and_tables


class _Refs(HTMLParser):
    """The images of a page, and every address the browser would load on its own."""

    NOT_LOADED = {"canonical", "alternate", "next", "prev"}

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img" and found.get("src"):
            self.images.append(found["src"])
        if tag in ("img", "script", "iframe", "source") and found.get("src"):
            self.loaded.append(found["src"])
        if tag == "link" and found.get("href") and found.get("rel") not in self.NOT_LOADED:
            self.loaded.append(found["href"])


@pytest.mark.reuse("sources")
def test_every_image_a_page_references_exists(quick_site: Path) -> None:
    checked = 0
    for html in quick_site.rglob("*.html"):
        refs = _Refs()
        refs.feed(html.read_text(encoding="utf-8"))
        page_url = "/" + html.relative_to(quick_site).as_posix()
        for src in refs.images:
            if urlparse(src).scheme in ("data", "http", "https"):
                continue
            target = quick_site / urlparse(urljoin(page_url, src)).path.lstrip("/")  # no #only-dark
            assert target.is_file(), f"{html.relative_to(quick_site)} shows missing {src}"
            checked += 1
    assert checked >= len(PROJECT.snippets()), "expected at least one figure per snippet"


@pytest.mark.reuse("sources")
def test_numbers_in_the_prose_are_filled_in_from_metrics(quick_site: Path) -> None:
    for html in quick_site.rglob("*.html"):
        assert not re.search(r"\{\{\s*\w+\.", html.read_text(encoding="utf-8")), html


@pytest.mark.reuse("sources")
def test_the_build_report_lists_every_snippet(quick_site: Path) -> None:
    report = (quick_site / "build-report" / "index.html").read_text(encoding="utf-8")
    assert "<strong>quick</strong> mode" in report
    for name in PROJECT.snippets():
        assert f"<code>{name}</code>" in report


@pytest.mark.reuse("sources")
def test_the_site_loads_nothing_from_another_host(quick_site: Path) -> None:
    for html in quick_site.rglob("*.html"):
        refs = _Refs()
        refs.feed(html.read_text(encoding="utf-8"))
        assert refs.loaded, f"{html} loads no script or style at all"
        remote = [url for url in refs.loaded if urlparse(url).netloc]
        assert remote == [], f"{html.relative_to(quick_site)} loads from another host"


@pytest.mark.reuse("code")
def test_a_missing_include_fails_the_strict_build_naming_the_file(
        fake: FakeProject, tmp_path: Path) -> None:
    fake.page("index.md", '```python\n--8<-- "snippets/nowhere.py"\n```\n')
    done = mkdocs_build(fake.root, tmp_path / "site")
    assert done.returncode != 0
    assert "snippets/nowhere.py" in done.stderr


@pytest.mark.reuse("code")
def test_a_failing_snippet_fails_the_build_naming_it_and_its_page(
        fake: FakeProject, tmp_path: Path) -> None:
    fake.snippet("alpha", "raise RuntimeError('the data went missing')\n")
    fake.page("index.md", '```python\n--8<-- "snippets/alpha.py"\n```\n')
    done = mkdocs_build(fake.root, tmp_path / "site", **LIGHT)
    assert done.returncode != 0
    assert "snippet 'alpha' (snippets/alpha.py) failed: exit code 1" in done.stderr
    assert "embedded by: docs/index.md" in done.stderr
    assert "RuntimeError: the data went missing" in done.stderr


@pytest.mark.reuse("code")
def test_a_number_with_no_metric_behind_it_fails_the_build(
        fake: FakeProject, tmp_path: Path) -> None:
    fake.snippet("alpha", metrics_snippet("alpha", 0.25))
    fake.page("index.md", "# Result\n\nAccuracy {{ alpha.value:.0% }}, loss {{ alpha.loss }}.\n")
    done = mkdocs_build(fake.root, tmp_path / "site", **LIGHT)
    assert done.returncode != 0
    assert "docs/index.md: {{ alpha.loss }}: metrics.json of 'alpha' has no 'loss'" in done.stderr
    fake.page("index.md", "# Result\n\nThe accuracy is {{ alpha.value:.0% }}.\n")
    assert mkdocs_build(fake.root, tmp_path / "site", **LIGHT).returncode == 0
    assert "The accuracy is 25%." in (tmp_path / "site" / "index.html").read_text()


class _Links(HTMLParser):
    """Internal references of a page (href and src) and the ids it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            if key in ("href", "src") and value and not urlparse(value).scheme \
                    and not value.startswith("//"):
                self.refs.append(value)


def _parsed(html: Path, cache: dict[Path, _Links]) -> _Links:
    if html not in cache:
        cache[html] = _Links()
        cache[html].feed(html.read_text(encoding="utf-8"))
    return cache[html]


@pytest.mark.reuse("sources")
def test_every_internal_link_and_anchor_resolves(quick_site: Path) -> None:
    cache: dict[Path, _Links] = {}
    broken = []
    for html in sorted(quick_site.rglob("*.html")):
        if html.name == "404.html":  # served from any URL, so its links are absolute
            continue
        page_url = "/" + html.relative_to(quick_site).as_posix()
        for ref in _parsed(html, cache).refs:
            url = urlparse(urljoin(page_url, ref))
            target = quick_site / url.path.lstrip("/")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page_url}: {ref}")
            elif url.fragment and target.suffix == ".html" \
                    and url.fragment not in _parsed(target, cache).ids:
                broken.append(f"{page_url}: {ref} (no such anchor)")
    assert broken == []


def _secrets(quick_build: QuickBuild) -> set[str]:
    """What must not leak: paths of this machine, its host name, environment values.

    Environment values count when they are specific to this machine or person: paths under
    the home, work or temporary folders, and long single words such as tokens.
    """
    values = {str(ROOT), str(Path.home()) + "/", str(quick_build.workspace.base),
              sys.prefix, tempfile.gettempdir() + "/pytest", socket.gethostname()}
    private = (str(Path.home()), str(ROOT.parent), tempfile.gettempdir())
    values |= {v for v in os.environ.values()
               if v.startswith(private) or (len(v) >= 20 and " " not in v and ":" not in v)}
    return {v for v in values if len(v) >= 6}


def test_nothing_built_leaks_paths_host_or_environment(quick_site: Path,
                                                       quick_build: QuickBuild) -> None:
    secrets = _secrets(quick_build)
    leaks = []
    for folder in (quick_site, quick_build.workspace.root):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                text = path.read_bytes().decode("utf-8", errors="replace")
                leaks += [f"{path.name}: {s!r}" for s in secrets if s in text]
    assert leaks == []


@pytest.mark.reuse("code", *BUILD_PIPELINE)
def test_two_builds_from_the_same_sources_give_the_same_html(
        quick_site: Path, quick_build: QuickBuild, tmp_path: Path) -> None:
    again = tmp_path / "again"
    done = mkdocs_build(ROOT, again, DLNOTES_QUICK="1",
                        DLNOTES_QUICK_DIR=str(quick_build.workspace.base))
    assert done.returncode == 0, done.stderr[-3000:]
    differing = [
        html.relative_to(quick_site).as_posix() for html in sorted(quick_site.rglob("*.html"))
        if html.read_bytes() != (again / html.relative_to(quick_site)).read_bytes()
    ]
    assert differing in ([], ["build-report/index.html"]), "only the report's dates may differ"


def test_a_preview_keeps_going_and_marks_the_stale_page(fake: FakeProject,
                                                        monkeypatch) -> None:
    """`mkdocs serve` does not stop on a failing snippet: its pages say they are stale."""
    from mkdocs.config import load_config

    from dlnotes import mkdocs_hook

    fake.page("index.md", '# Alpha\n\n--8<-- "generated/alpha/table.md"\n')
    fake.snippet("alpha", metrics_snippet("alpha") + "raise RuntimeError('broken on purpose')\n")
    monkeypatch.setenv("DLNOTES_RUNNER", "plain")
    config = load_config(str(fake.root / "mkdocs.yml"))
    mkdocs_hook.on_startup(command="serve", dirty=False)
    try:
        mkdocs_hook.on_config(config)
        mkdocs_hook.on_pre_build(config)  # logs the failure instead of raising

        class Page:
            class file:  # noqa: N801 - the shape of mkdocs' Page.file
                src_uri = "index.md"

        shown = mkdocs_hook.on_page_markdown("# Alpha\n", Page(), config, None)
    finally:
        mkdocs_hook.on_startup(command="build", dirty=False)
    assert shown.startswith('!!! danger "Stale outputs"')


FIGURE_SNIPPET = r"""
    import os, pathlib, struct, zlib
    out = pathlib.Path(os.environ.get("DLNOTES_OUT", "outputs/alpha"))
    out.mkdir(parents=True, exist_ok=True)

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))

    def png(name, width, height, dpi=None):
        rows = b"".join(b"\0" + bytes(width) for _ in range(height))
        phys = [chunk(b"pHYs", struct.pack(">IIB", round(dpi / 0.0254),
                                           round(dpi / 0.0254), 1))] if dpi else []
        (out / name).write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join([
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)),
            *phys, chunk(b"tEXt", b"Comment\0smallest-text-pt=9"),
            chunk(b"IDAT", zlib.compress(rows)), chunk(b"IEND", b"")]))

    png("curves.png", 1280, 720, dpi=200)
    png("curves-dark.png", 1280, 720, dpi=200)
    png("bars.png", 500, 300)
    png("plain.png", 400, 200)
    (out / "runs.md").write_text("| run | loss |\n| - | - |\n| a | 0.5 |\n")
    (out / "metrics.json").write_text("{}")
    """

FIGURE_PAGE = """\
    # Figures

    ![Two falling curves](generated/alpha/curves.png "The loss falls.")

    Text between.

    !!! note "Inside an admonition"

        ![Three bars of equal height](generated/alpha/bars.png "Three bars.")

    ![A plain picture](generated/alpha/plain.png)

    Table: Every run.
    --8<-- "generated/alpha/runs.md"

    --8<-- "generated/beta/table.md"
    """

FIGURE_CONFIG = """\
    markdown_extensions:
      - admonition
      - attr_list
      - tables
      - pymdownx.superfences
      - pymdownx.snippets: {check_paths: true}
    """


class _Figures(HTMLParser):
    """Each <figure> of a page: its images' attributes and caption, and the provenance notes
    in page order (as ('figure', index) and ('provenance', summary) events)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self.events: list[tuple[str, str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "figure":
            self.figures.append({"class": found.get("class"), "images": [], "caption": ""})
            self._in = None
            self.events.append(("figure", str(len(self.figures))))
        elif tag == "img" and self.figures and self._in != "closed":
            self.figures[-1]["images"].append(found)
        elif tag in ("figcaption", "summary"):
            self._in = tag
            if tag == "summary":
                self.events.append(("provenance", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("figcaption", "summary"):
            self._in = None
        elif tag == "figure":
            self._in = "closed"

    def handle_data(self, data: str) -> None:
        if self._in == "figcaption":
            self.figures[-1]["caption"] += data
        elif self._in == "summary":
            self.events[-1] = ("provenance", self.events[-1][1] + data)


def _figure_site(fake: FakeProject, tmp_path: Path) -> _Figures:
    config = fake.root / "mkdocs.yml"
    config.write_text(config.read_text().split("markdown_extensions:")[0]
                      + textwrap.dedent(FIGURE_CONFIG))
    fake.snippet("alpha", FIGURE_SNIPPET)
    fake.snippet("beta", metrics_snippet("beta"))
    fake.page("index.md", FIGURE_PAGE)
    done = mkdocs_build(fake.root, tmp_path / "site", DLNOTES_QUICK="1", **LIGHT)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = _Figures()
    figures.feed((tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    return figures


@pytest.mark.reuse("code")
def test_figures_and_tables_are_numbered_per_page_with_their_captions(
        fake: FakeProject, tmp_path: Path) -> None:
    figures = _figure_site(fake, tmp_path).figures
    assert [" ".join(f["caption"].split()) for f in figures] == [
        "Figure 1. The loss falls.", "Figure 2. Three bars.", "", "Table 1. Every run.", ""]
    assert [f["class"] for f in figures] == ["dlnotes-figure"] * 3 + ["dlnotes-table"] * 2


@pytest.mark.reuse("code")
def test_a_figure_shows_its_dark_twin_in_the_dark_palette_when_the_snippet_drew_one(
        fake: FakeProject, tmp_path: Path) -> None:
    curves, bars, _, _, _ = _figure_site(fake, tmp_path).figures
    assert [image["src"] for image in curves["images"]] == [
        "generated/alpha/curves.png#only-light", "generated/alpha/curves-dark.png#only-dark"]
    assert [image["src"] for image in bars["images"]] == ["generated/alpha/bars.png"]
    assert (tmp_path / "site" / "generated" / "alpha" / "curves-dark.png").is_file()


@pytest.mark.reuse("code")
def test_images_load_lazily_at_their_size_in_css_pixels(fake: FakeProject,
                                                         tmp_path: Path) -> None:
    """A 1280-px-wide PNG saved at 200 dpi is 6.4 inches: 640 CSS px; without pHYs, 100 dpi."""
    curves, bars, plain, _, _ = _figure_site(fake, tmp_path).figures
    sizes = [(i["loading"], i["width"], i["height"]) for f in (curves, bars, plain)
             for i in f["images"]]
    assert sizes == [("lazy", "640", "360")] * 2 + [("lazy", "500", "300"), ("lazy", "400", "200")]
    assert all(not image.get("title") for image in curves["images"]), "the caption is no tooltip"


@pytest.mark.reuse("code")
def test_provenance_follows_each_snippets_first_output_once_per_page(
        fake: FakeProject, tmp_path: Path) -> None:
    events = [(kind, " ".join(text.split())) for kind, text in _figure_site(fake, tmp_path).events]
    assert events == [
        ("figure", "1"), ("provenance", "Made by snippets/alpha.py"),
        ("figure", "2"), ("figure", "3"), ("figure", "4"),
        ("figure", "5"), ("provenance", "Made by snippets/beta.py"),
    ]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    note = re.search(r'<details class="dlnotes-provenance" data-search-exclude>.*?</details>',
                     html, re.S)[0]
    assert re.search(r"quick mode · ran [\d.]+ s on \S+ · Python [\d.]+", note), note
    assert 'href="build-report/"' in note and 'href="downloads/alpha.py"' in note


PLACEHOLDERS = ("example.github.io", "github.com/example")


@pytest.mark.reuse("sources")
def test_a_build_without_repository_settings_links_to_no_repository(quick_site: Path) -> None:
    """DLNOTES_SITE_URL and DLNOTES_REPO_URL are unset here: no placeholder host, no GitHub
    button, no edit link, no Colab link."""
    for html in quick_site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        name = html.relative_to(quick_site).as_posix()
        assert not [host for host in PLACEHOLDERS if host in text], name
        assert "colab.research.google.com" not in text, name
        assert 'class="md-source"' not in text and "md-content__button" not in text, name


@pytest.mark.reuse("code", *BUILD_PIPELINE)
def test_the_repository_settings_give_edit_colab_and_canonical_links(
        quick_build: QuickBuild, tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = mkdocs_build(ROOT, site, DLNOTES_QUICK="1", DLNOTES_NO_RUN="1",
                        DLNOTES_QUICK_DIR=str(quick_build.workspace.base),
                        DLNOTES_SITE_URL="https://reader.github.io/dl-notes/",
                        DLNOTES_REPO_URL="https://github.com/reader/dl-notes")
    assert done.returncode == 0, done.stderr[-3000:]
    losses = (site / "losses" / "index.html").read_text(encoding="utf-8")
    assert 'href="https://github.com/reader/dl-notes/edit/main/docs/losses.md"' in losses
    assert 'rel="canonical" href="https://reader.github.io/dl-notes/losses/"' in losses
    for stem in (path.stem for path in PROJECT.examples().values()):
        page = (site / "examples" / stem / "index.html").read_text(encoding="utf-8")
        assert ("https://colab.research.google.com/github/reader/dl-notes/blob/main/examples/"
                f"{stem}.ipynb") in page


@pytest.mark.reuse("sources")
def test_mermaid_and_katex_load_only_on_pages_that_use_them(quick_site: Path) -> None:
    """Mermaid is 2.7 MB: a page without a diagram must not pay for it (nor for KaTeX)."""
    pages = {html.relative_to(quick_site).as_posix(): html.read_text(encoding="utf-8")
             for html in quick_site.rglob("*.html")}
    for name, text in pages.items():
        assert ("mermaid.min.js" in text) == ('class="mermaid"' in text), name
        if 'class="arithmatex"' in text:
            assert "katex.min.js" in text and "katex.min.css" in text, name
    assert sum("mermaid.min.js" in text for text in pages.values()) < len(pages) / 2
    assert sum("katex.min.js" in text for text in pages.values()) < len(pages) / 2


@pytest.mark.reuse("sources")
def test_a_page_loads_the_scripts_of_the_widgets_it_shows_after_their_kit(
        quick_site: Path) -> None:
    """Each `data-widget="NAME"` container brings `widgets/NAME.js`, preceded by the kit the
    widget scripts share; a page without widgets loads none of them."""
    widget_pages = 0
    for html in quick_site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        names = set(re.findall(r'data-widget="([a-z0-9-]+)"', text))
        loaded = re.findall(r'<script src="[^"]*javascripts/widgets/([^"/]+)\.js"', text)
        if not names:
            assert loaded == [], html
            continue
        widget_pages += 1
        assert loaded[0] == "_kit" and set(loaded[1:]) == names, html
    assert widget_pages >= 4


@pytest.mark.reuse("sources")
def test_snippet_listings_stay_out_of_the_search_index(quick_site: Path) -> None:
    """Every page loads the index, so its size counts in every page's weight; the listings
    made up half of it and are one click away in the downloads."""
    index = (quick_site / "search" / "search_index.json").read_text(encoding="utf-8")
    listed = [html for html in quick_site.rglob("*.html")
              if 'class="filename">snippets/' in html.read_text(encoding="utf-8")]
    assert len(listed) >= 10
    assert 'get(\\"DLNOTES_OUT\\"' not in index
    assert "overfitting" in index  # the prose stays searchable


@pytest.mark.reuse("sources")
def test_notebook_pages_link_their_figures_instead_of_inlining_them(quick_site: Path) -> None:
    for stem in (path.stem for path in PROJECT.examples().values()):
        page = quick_site / "examples" / stem / "index.html"
        text = page.read_text(encoding="utf-8")
        assert 'src="data:image/png;base64' not in text, stem
        images = re.findall(r'<img [^>]*src="(figure-[0-9a-f]+\.png)"[^>]*>', text)
        assert images, f"{stem}: no figure files"
        for tag in re.findall(r'<img [^>]*src="figure-[^>]*>', text):
            assert 'loading="lazy"' in tag and re.search(r'width="\d+" height="\d+"', tag), tag
        assert all((page.parent / image).is_file() for image in images)
        assert page.stat().st_size < 1_000_000, f"{stem}: {page.stat().st_size} bytes of HTML"


@pytest.mark.reuse("sources")
def test_notebook_pages_keep_the_jupyterlab_css_that_can_match_them(quick_site: Path) -> None:
    """mkdocs-jupyter inlines all of JupyterLab's CSS; rules for parts a static page never has
    (dialogs, menus, toolbars) go, in style elements that stay whole (dlnotes/notebook_css.py)."""
    for stem in (path.stem for path in PROJECT.examples().values()):
        text = (quick_site / "examples" / stem / "index.html").read_text(encoding="utf-8")
        styles = re.findall(r"<style[^>]*>(.*?)</style>", text, re.S)
        assert len(styles) == text.count("<style") == text.count("</style>"), stem
        css = "".join(styles)
        assert ".jp-Cell" in css and ".jp-InputArea" in css, stem
        assert not re.search(r"\.(jp-Dialog|lm-Menu|jp-Toolbar)\b", css), stem


def test_a_stale_figure_says_so_openly_not_in_a_collapsed_note(tmp_path: Path) -> None:
    """In a preview whose snippet failed, the warning is visible text, never a <details>."""
    from dlnotes.manifest import Entry
    from dlnotes.provenance import page_context

    failed = {"alpha": Entry("failed", error="exit code 1", ran_at="2026-01-01 00:00:00 UTC")}
    context = page_context("page/", lambda path: tmp_path / path, failed, "build-report/")
    html = figures_and_tables(
        '<p><img alt="A curve" src="../generated/alpha/curves.png" title="It falls." /></p>',
        context)
    assert '<figure class="dlnotes-figure dlnotes-stale">' in html
    assert "<details" not in html
    assert re.search(r'<p class="dlnotes-provenance dlnotes-stale"><strong>⚠ Stale:</strong> '
                     r'<a href="../downloads/alpha.py"[^>]*><code>snippets/alpha.py</code></a> '
                     r"failed in this build \(exit code 1\)", html), html


@pytest.mark.reuse("sources")
def test_the_lightbox_shows_one_palettes_figures_not_both_twins(quick_site: Path) -> None:
    """Clicking a figure opens a gallery of the figures of the palette on screen only."""
    wrong = []
    for html in quick_site.rglob("*.html"):
        for link in re.findall(r'<a class="glightbox"[^>]*>', html.read_text(encoding="utf-8")):
            for palette in ("light", "dark"):
                if f"#only-{palette}" in link and f'data-gallery="{palette}"' not in link:
                    wrong.append(f"{html.relative_to(quick_site)}: {link[:120]}")
    assert wrong == []
