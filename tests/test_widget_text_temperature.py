"""The text generator's samples with a temperature slider, in a real browser.

Moving the slider (mouse value or keyboard) moves the chart's marker, rewrites
the live readout and swaps the samples shown; the static figure stays in the
page for print but is hidden on screen. Checked in both palettes and on a
375-px phone (no sideways overflow of the widget).
"""

from __future__ import annotations

import pytest
from conftest import PALETTE_TOGGLE, open_page, phone_context

WIDGET = '[data-widget="text-temperature"]'


def _open(context, base_url: str):
    return open_page(context, base_url + "state-of-dl/text/", f"{WIDGET} .tt-chart")


def _drive(page) -> None:
    widget = page.locator(WIDGET)
    slider = widget.locator('input[type="range"]')
    label = widget.locator("label", has_text="Temperature")
    assert label.get_attribute("for") == slider.get_attribute("id")
    readout = widget.locator('[aria-live="polite"]')
    assert widget.locator("figure, img").first.is_hidden()
    assert widget.locator(".tt-chart").is_visible()
    marker = widget.locator(".tt-marker")
    samples = widget.locator(".tt-sample")

    slider.fill("0")
    assert readout.inner_text().startswith("Temperature 0.2:")
    assert samples.count() >= 1
    cold = samples.first.inner_text()
    assert cold.startswith("Return the ")
    x0 = float(marker.get_attribute("x1"))
    last = int(slider.get_attribute("max"))
    slider.fill(str(last))
    assert readout.inner_text().startswith("Temperature 1.5:")
    assert float(marker.get_attribute("x1")) > x0
    assert samples.first.inner_text() != cold
    # Keyboard: one step left, the readout follows.
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert readout.inner_text().startswith("Temperature 1.2:")
    assert "words of the corpus" in readout.inner_text()


@pytest.mark.reuse("page", "state-of-dl/text/")
def test_slider_swaps_samples_and_readout_in_both_palettes(
        context, site, base_url: str) -> None:
    page, errors = _open(context, base_url)
    _drive(page)
    page.click(PALETTE_TOGGLE)
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    assert page.evaluate(scheme) == "slate"
    colour = page.locator(f"{WIDGET} polyline.tt-real").evaluate(
        "e => getComputedStyle(e).stroke")
    assert colour == "rgb(86, 180, 233)"  # the dark palette's line colour
    _drive(page)
    assert errors == []


@pytest.mark.reuse("page", "state-of-dl/text/")
def test_widget_fits_a_phone(browser, site, base_url: str) -> None:
    phone = phone_context(browser)
    try:
        page, errors = _open(phone, base_url)
        widget = page.locator(f"{WIDGET} .tt-widget")
        overflow = widget.evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0
        box = widget.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375
        _drive(page)
        assert errors == []
    finally:
        phone.close()
