"""The budget slider of docs/drivetrain.md, driven in a real browser."""

from __future__ import annotations

import pytest
from conftest import open_page, phone_context

PAGE = "drivetrain/"
WIDGET = '[data-widget="drivetrain-budget"]'


def _open(context, base_url: str, dark: bool = False):
    page, _ = open_page(context, base_url + PAGE, f"{WIDGET} .dw-live", dark)
    return page, page.locator(WIDGET)


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.reuse("page", PAGE)
def test_slider_moves_the_budget(context, site, base_url: str, dark: bool) -> None:
    page, widget = _open(context, base_url, dark)
    slider = widget.locator('input[type="range"]')
    readout = widget.locator(".dw-readout")
    assert readout.get_attribute("aria-live") == "polite"
    assert widget.locator("label").first.inner_text()
    assert not widget.locator("img").first.is_visible()
    # starts at the page's budget, 10 %
    assert readout.inner_text().startswith("At 10% of the customers")
    x_before = float(widget.locator(".dw-marker").get_attribute("x1"))
    slider.fill("39")  # index 39: 40 %
    assert readout.inner_text().startswith("At 40% of the customers")
    assert "policy 1" in readout.inner_text() and "random customers" in readout.inner_text()
    x_after = float(widget.locator(".dw-marker").get_attribute("x1"))
    assert x_after > x_before
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert readout.inner_text().startswith("At 39% of the customers")
    # at 100 % every policy recommends to everyone: the same extra purchases
    slider.fill("99")
    text = readout.inner_text()
    parts = text.split("runs: ")[1].split("; ")
    numbers = [part.rsplit(": ", 1)[1].split(" ± ")[0] for part in parts]
    assert len(set(numbers)) == 1, text
    page.close()


@pytest.mark.reuse("page", PAGE)
def test_fits_a_phone(browser, site, base_url: str) -> None:
    small = phone_context(browser)
    page, widget = _open(small, base_url)
    box = widget.locator(".dw-live")
    overflow = box.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0, f"the widget overflows by {overflow} px"
    assert box.evaluate("e => e.getBoundingClientRect().right") <= 375
    # the chart is drawn in the container's pixels: its text is not scaled down
    width = widget.locator("svg.dw-chart").evaluate("e => e.getBoundingClientRect().width")
    view = widget.locator("svg.dw-chart").evaluate("e => e.viewBox.baseVal.width")
    assert abs(width - view) <= 2
    small.close()
