"""The clickable confusion matrix on docs/debugging.md, driven in a real browser."""

from __future__ import annotations

import pytest
from conftest import open_page, phone_context

PAGE = "debugging/"
WIDGET = '[data-widget="confusion-cells"]'


def _open(context, base_url: str, dark: bool = False):
    page, _ = open_page(context, base_url + PAGE, f"{WIDGET} .cc-live", dark)
    return page, page.locator(WIDGET)


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.reuse("page", PAGE)
def test_clicking_a_cell_shows_its_images(context, site, base_url: str, dark: bool) -> None:
    page, widget = _open(context, base_url, dark)
    cells = widget.locator("button.cc-cell")
    assert cells.count() == 100
    readout = widget.locator(".cc-readout")
    assert readout.get_attribute("aria-live") == "polite"
    # the static figure stays in the page (for print) but is hidden on screen
    assert widget.locator("img").count() >= 1
    assert not widget.locator("img").first.is_visible()
    # a diagonal cell: many images, a dozen thumbnails at most
    seven = widget.locator('button.cc-cell[data-row="7"][data-col="7"]')
    seven.click()
    count = int(seven.inner_text())
    assert seven.get_attribute("aria-pressed") == "true"
    assert readout.inner_text().startswith(f"{count} images: true 7, predicted 7")
    assert widget.locator(".cc-thumb").count() == min(count, 12)
    # an empty cell: no thumbnails
    for k in range(cells.count()):
        cell = cells.nth(k)
        if cell.inner_text() == "0":
            cell.click()
            assert widget.locator(".cc-thumb").count() == 0
            assert readout.inner_text().startswith("0 images: true ")
            break
    # keyboard: arrows move the selection, Enter on a focused cell selects it too
    seven.focus()
    page.keyboard.press("ArrowRight")
    assert widget.locator('button.cc-cell[data-row="7"][data-col="8"]') \
        .get_attribute("aria-pressed") == "true"
    assert "true 7, predicted 8" in readout.inner_text()
    page.keyboard.press("ArrowUp")
    assert "true 6, predicted 8" in readout.inner_text()
    page.close()


@pytest.mark.reuse("page", PAGE)
def test_fits_a_phone(browser, site, base_url: str) -> None:
    small = phone_context(browser)
    page, widget = _open(small, base_url)
    box = widget.locator(".cc-live")
    overflow = box.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0, f"the widget overflows by {overflow} px"
    right = box.evaluate("e => e.getBoundingClientRect().right")
    assert right <= 375
    smallest = box.evaluate(
        "e => Math.min(...[...e.querySelectorAll('*')].filter(n => n.textContent.trim())"
        ".map(n => parseFloat(getComputedStyle(n).fontSize)))")
    assert smallest >= 12
    small.close()
