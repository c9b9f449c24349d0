"""The overfitting curves with an epoch slider, driven in a real browser.

Moving the slider moves the drawn cursor and rewrites the live readout; the Loss button
switches the curves; at the early-stopping pick the readout says so. Checked in both palettes
and on a 375-px phone (no sideways overflow of the widget).
"""

from __future__ import annotations

import pytest
from conftest import PALETTE_TOGGLE, open_page, phone_context

WIDGET = '[data-widget="overfitting-epochs"]'


def _open(context, base_url: str):
    return open_page(context, base_url + "overfitting/", f"{WIDGET} .ofw-plot path")


def _drive(page) -> None:
    widget = page.locator(WIDGET)
    slider = widget.locator('input[type="range"]')
    label = widget.locator("label", has_text="Epoch")
    assert label.get_attribute("for") == slider.get_attribute("id")
    readout = widget.locator('[aria-live="polite"]')
    assert readout.locator("li").count() == 3  # one line per run
    # The static figure stays in the page (print, no JavaScript) but is hidden on screen.
    assert widget.locator("figure, img").first.is_hidden()
    assert widget.locator(".ofw-plot").is_visible()

    cursor = widget.locator(".ofw-cursor").first
    slider.fill("0")
    assert "At epoch 0 " in readout.inner_text()
    x0 = float(cursor.get_attribute("x1"))
    last = int(slider.get_attribute("max"))
    slider.fill(str(last))
    assert f"At epoch {last} " in readout.inner_text()
    assert float(cursor.get_attribute("x1")) > x0
    # Keyboard: one step left.
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert f"At epoch {last - 1} " in readout.inner_text()
    # Each run's line compares the epoch with that run's early-stopping pick.
    for text in readout.locator("li").all_inner_texts():
        assert "validation accuracy" in text
        assert "against the pick" in text or "this is the early-stopping pick" in text
    # The Loss button switches the curves and says it is pressed.
    loss = widget.locator("button", has_text="Loss")
    before = widget.locator(".ofw-line").first.get_attribute("d")
    loss.click()
    assert loss.get_attribute("aria-pressed") == "true"
    assert widget.locator(".ofw-line").first.get_attribute("d") != before
    widget.locator("button", has_text="Accuracy").click()


@pytest.mark.reuse("page", "overfitting/")
def test_slider_moves_the_cursor_and_rewrites_the_readout_in_both_palettes(
        context, site, base_url: str) -> None:
    page, errors = _open(context, base_url)
    _drive(page)
    page.click(PALETTE_TOGGLE)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    # Colours follow the palette: the validation curve's colour changes.
    colour = page.locator(f"{WIDGET} .ofw-line.ofw-valid").first.evaluate(
        "e => getComputedStyle(e).stroke")
    assert colour == "rgb(230, 159, 0)"
    _drive(page)
    assert errors == []


@pytest.mark.reuse("page", "overfitting/")
def test_the_pick_is_named_at_its_epoch(context, site, base_url: str) -> None:
    page, _ = _open(context, base_url)
    widget = page.locator(WIDGET)
    widget.locator('input[type="range"]').fill(
        str(page.evaluate("""src => fetch(src).then(r => r.json())
            .then(d => d.runs[1].best_epoch)""", widget.get_attribute("data-src"))))
    assert "this is the early-stopping pick" in widget.locator(
        '[aria-live="polite"] li').nth(1).inner_text()


@pytest.mark.reuse("page", "overfitting/")
def test_fits_a_phone(browser, site, base_url: str) -> None:
    phone = phone_context(browser)
    try:
        page, errors = _open(phone, base_url)
        widget = page.locator(f"{WIDGET} .ofw")
        overflow = widget.evaluate("e => e.scrollWidth - e.clientWidth")
        assert overflow <= 0
        box = widget.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
        page.locator(f"{WIDGET} input[type=range]").fill("5")
        assert "At epoch 5 " in page.locator(f"{WIDGET} [aria-live=polite]").inner_text()
        assert errors == []
    finally:
        phone.close()
