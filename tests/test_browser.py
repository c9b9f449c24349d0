"""The site as a reader's browser gets it: Debian's chromium driven by Playwright.

The site is served on 127.0.0.1 from the quick-mode build. Every page must load with no
console error and no request to any other host, show every image, and work in both palettes.
Screenshots of every page in both palettes go to `screenshots/` (git-ignored) for people to
look at.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import PROJECT, ROOT

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "screenshots"

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(quick_site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(quick_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert CHROMIUM, "chromium must be installed in CI"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def _page_urls() -> list[str]:
    """Every page: the Markdown files under docs/, the example notebooks, the build report."""
    urls = [""]
    for md in sorted(PROJECT.docs_dir.rglob("*.md")):
        relative = md.relative_to(PROJECT.docs_dir).with_suffix("").as_posix()
        if not relative.startswith("generated/") and relative != "index":
            urls.append(relative.removesuffix("/index") + "/")
    urls += [f"examples/{path.stem}/" for path in PROJECT.examples().values()]
    return [*urls, "build-report/"]


@pytest.fixture
def context(browser) -> Iterator[object]:
    """A fresh profile per test: the palette a page remembers must not leak into the next."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    yield context
    context.close()


@pytest.mark.parametrize("path", _page_urls())
def test_page_loads_offline_with_its_images_in_both_palettes(
        context, base_url: str, path: str) -> None:
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(base_url + path, wait_until="networkidle")
    assert response is not None and response.status == 200
    name = path.strip("/").replace("/", "-") or "home"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-light.png", full_page=True)
    images = page.eval_on_selector_all(
        "article img", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth, e.alt])")
    assert [src for src, width, _ in images if width == 0] == [], "images that did not load"
    assert [src for src, _, alt in images if len(alt.split()) < 4] == [], \
        "images without alt text that says what they show"
    page.click("form[data-md-component=palette] label:not([hidden])")
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    page.screenshot(path=SCREENSHOTS / f"{name}-dark.png", full_page=True)
    page.close()
    assert [url for url in requests if urlparse(url).hostname != "127.0.0.1"] == []
    assert errors == []


@pytest.mark.parametrize(("query", "page"), [
    ("overfitting", "overfitting/"),
    ("confusion matrix", "debugging/"),
    ("error_rate", "losses/"),
])
def test_search_finds_the_page(context, base_url: str, query: str, page: str) -> None:
    tab = context.new_page()
    tab.goto(base_url, wait_until="networkidle")
    tab.click("input[data-md-component=search-query]")
    tab.keyboard.type(query, delay=20)
    results = tab.locator("li.md-search-result__item > a.md-search-result__link")
    results.first.wait_for(timeout=10_000)
    pages = [urlparse(href).path for href in
             results.evaluate_all("links => links.map(link => link.getAttribute('href'))")]
    assert any(path.endswith(page) for path in pages), f"{query!r} found only {pages}"
    results.nth(next(i for i, path in enumerate(pages) if path.endswith(page))).click()
    tab.wait_for_load_state()
    assert urlparse(tab.url).path.endswith(page)


def test_the_copy_button_copies_exactly_the_snippets_code(context, base_url: str) -> None:
    tab = context.new_page()
    tab.goto(base_url + "losses/", wait_until="networkidle")
    block = tab.locator(".highlight", has=tab.locator(".filename",
                                                     has_text="snippets/losses.py: model"))
    block.hover()
    block.locator("button[data-md-type=copy]").click()
    copied = tab.evaluate("navigator.clipboard.readText()")
    source = (PROJECT.snippets_dir / "losses.py").read_text()
    section = re.search(r"# --8<-- \[start:model\]\n(.*?)# --8<-- \[end:model\]", source, re.S)
    assert copied.strip("\n") == section[1].strip("\n")
