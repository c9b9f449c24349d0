"""Figures are published as small files that show the same picture (`dlnotes.images`), and
the example notebooks' figures follow the site's figure style: each carries its smallest-text
record and is shown at 11 CSS px or more, the rendering for the palette on screen only."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import CHROMIUM, PALETTE_TOGGLE, PROJECT, small_figure_text
from PIL import Image

from dlnotes import images, publish
from dlnotes.provenance import read_png


def _figure(transparent: bool = True, dpi: int = 200) -> bytes:
    """A small Matplotlib figure as the snippets save it: text, lines, a Comment, a DPI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.0))
    x = np.linspace(0, 1, 50)
    for k, colour in enumerate(["#0072B2", "#E69F00", "#009E73"]):
        ax.plot(x, x ** (k + 1), color=colour, label=f"power {k + 1}")
    ax.fill_between(x, x ** 3, x, alpha=0.2)
    ax.set(xlabel="x", ylabel="y", title="Three curves")
    ax.legend()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=dpi, transparent=transparent,
                metadata={"Comment": "smallest-text-pt=9"})
    plt.close(fig)
    return out.getvalue()


def _rgba(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=np.int32)


def test_a_figure_gets_smaller_and_keeps_its_picture_size_dpi_and_comment() -> None:
    original = _figure()
    smaller, how = images.optimise_png(original)
    assert how in ("exact palette", "quantised palette")
    assert len(smaller) < 0.8 * len(original)
    assert read_png(smaller) == read_png(original)  # width, height, DPI, Comment
    before, after = _rgba(original), _rgba(smaller)
    # Opacity-weighted, as the page composites it: on average the pixels hardly move.
    shown = np.abs(before[..., :3] * before[..., 3:] - after[..., :3] * after[..., 3:]) / 255
    assert shown.mean() <= images.MAX_MEAN_ERROR
    assert np.abs(before[..., 3] - after[..., 3]).mean() <= images.MAX_MEAN_ERROR


def test_few_colours_give_an_exact_palette() -> None:
    pixels = np.zeros((40, 60, 4), dtype=np.uint8)
    pixels[10:30, 10:50] = (0, 114, 178, 255)
    pixels[15:25, 20:30] = (230, 159, 0, 128)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG", dpi=(200, 200))
    smaller, how = images.optimise_png(out.getvalue())
    assert how == "exact palette"
    assert (_rgba(smaller) == pixels).all()
    assert read_png(smaller).dpi == pytest.approx(200, abs=0.01)


def test_a_photograph_keeps_its_file() -> None:
    """Smooth shades of many colours would band in 256 colours."""
    y, x = np.mgrid[0:96, 0:128]
    shades = np.stack([x * 2, y * 2, (x + y) % 256], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(shades).save(out, format="PNG")
    assert images.optimise_png(out.getvalue()) == (out.getvalue(), "kept")


def test_optimising_is_deterministic_and_idempotent() -> None:
    original = _figure()
    once, _ = images.optimise_png(original)
    assert images.optimise_png(original)[0] == once
    assert images.optimise_png(once) == (once, "kept")


@pytest.mark.parametrize("data", [b"not a png", b"\x89PNG\r\n\x1a\nbroken", b""])
def test_what_is_no_readable_png_is_kept_as_it_is(data: bytes) -> None:
    assert images.optimise_png(data) == (data, "kept")


def test_publish_optimises_the_staged_figures_and_a_notebooks_inline_figures(
        tmp_path: Path) -> None:
    staging, final = tmp_path / "staging", tmp_path / "final"
    (staging / "examples").mkdir(parents=True)
    figure = _figure()
    (staging / "curves.png").write_bytes(figure)
    (staging / "metrics.json").write_text('{"a": 1}')
    encoded = base64.b64encode(figure).decode() + "\n"
    notebook = {"cells": [{"cell_type": "code", "execution_count": 1, "id": "cell-0",
                           "metadata": {}, "source": ["plt.show()"],
                           "outputs": [{"output_type": "display_data", "metadata": {},
                                        "data": {"image/png": encoded,
                                                 "text/plain": ["<Figure>"]}}]}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (staging / "examples" / "walk.ipynb").write_text(json.dumps(notebook))
    publish.replace(staging, final)
    assert len((final / "curves.png").read_bytes()) < len(figure)
    assert (final / "metrics.json").read_text() == '{"a": 1}'
    saved = json.loads((final / "examples" / "walk.ipynb").read_text())
    output = saved["cells"][0]["outputs"][0]
    assert output["data"]["text/plain"] == ["<Figure>"]
    assert output["data"]["image/png"].endswith("\n")
    inline = base64.b64decode(output["data"]["image/png"])
    assert len(inline) < len(figure)
    assert read_png(inline) == read_png(figure)


def test_the_example_notebooks_draw_every_figure_with_the_site_style() -> None:
    """Every cell that draws shows its figure through show_figure (no plt.show, no inline
    figure without the smallest-text record), at most 7.2 in wide."""
    for path in PROJECT.examples().values():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        assert any("def show_figure(draw)" in source for source in code), path.name
        for source in code:
            assert "plt.show()" not in source, path.name
            for width in re.findall(r"figsize=\(([\d.]+),", source):
                assert float(width) <= 7.2, f"{path.name}: figsize width {width} in"


# --- In the browser: the notebooks' figures as the site shows them -----------------------

NOTEBOOK_PAGES = [f"examples/{path.stem}/" for path in PROJECT.examples().values()]
SHOWN_NOTEBOOK_FIGURES = """() => [...document.querySelectorAll(
        '.jupyter-wrapper .jp-RenderedImage img')]
    .map(img => [img.getAttribute('src'), img.getBoundingClientRect().width,
                 img.className])"""


def _notebook_figures(page) -> list[tuple[str, float, str]]:
    page.locator(".jupyter-wrapper .jp-RenderedImage img").first.wait_for(
        state="attached", timeout=30_000)
    page.evaluate("""() => Promise.all([...document.querySelectorAll('article img')].map(img => {
        img.loading = 'eager';
        return img.complete ? null : new Promise(done => { img.onload = img.onerror = done; });
    }))""")
    return page.evaluate(SHOWN_NOTEBOOK_FIGURES)


def _too_small(figures, site: Path, url: str) -> list[str]:
    shown = [(src, displayed) for src, displayed, _ in figures
             if displayed != 0]  # 0: the other palette's rendering
    return small_figure_text(shown, site, url, "show_figure")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.reuse("page")
@pytest.mark.parametrize("path", NOTEBOOK_PAGES)
def test_notebook_figures_show_the_palette_on_screen_with_text_of_11_px_or_more(
        context, browser, site: Path, base_url: str, path: str) -> None:
    page = context.new_page()
    page.goto(base_url + path, wait_until="networkidle")
    light = _notebook_figures(page)
    page.click(PALETTE_TOGGLE)
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    dark = _notebook_figures(page)
    page.close()
    for figures, shown, hidden in ((light, "light", "dark"), (dark, "dark", "light")):
        assert figures, "no figure on the page"
        assert all(width > 0 for _, width, kind in figures
                   if f"jp-needs-{shown}-background" in kind), f"{shown} palette"
        assert all(width == 0 for _, width, kind in figures
                   if f"jp-needs-{hidden}-background" in kind), f"{shown} palette"
        assert _too_small(figures, site, base_url + path) == [], f"{shown} palette"
    phone = browser.new_context(viewport={"width": 375, "height": 812},
                                device_scale_factor=2, is_mobile=True, has_touch=True)
    tab = phone.new_page()
    tab.goto(base_url + path, wait_until="networkidle")
    on_phone = _notebook_figures(tab)
    width = tab.evaluate("document.documentElement.scrollWidth")
    phone.close()
    assert _too_small(on_phone, site, base_url + path) == [], "phone"
    assert width <= 375, "the page scrolls sideways on a phone"
