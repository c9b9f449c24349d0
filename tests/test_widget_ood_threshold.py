"""The out-of-domain threshold slider on the vision page, driven in a real browser.

Moving the slider rewrites the live readout (digits kept, their accuracy, outsiders accepted,
the baseline at the same share of digits kept), resizes the bars and picks the thumbnails
near the threshold; a higher threshold keeps fewer digits and accepts fewer outsiders.
Checked in both palettes and on a 375-px phone (no sideways overflow of the widget).
"""

from __future__ import annotations

import re

import pytest
from conftest import PALETTE_TOGGLE, open_page, phone_context

WIDGET = '[data-widget="ood-threshold"]'
PATH = "state-of-dl/vision/"


def _open(context, base_url: str):
    return open_page(context, base_url + PATH, f"{WIDGET} .ood-bars rect.ood-bar")


def _shares(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"(\d+(?:\.\d+)?) %", text)]


def _drive(page) -> None:
    widget = page.locator(WIDGET)
    slider = widget.locator('input[type="range"]')
    label = widget.locator("label", has_text="confidence")
    assert label.get_attribute("for") == slider.get_attribute("id")
    readout = widget.locator('[aria-live="polite"]')
    # The static figure stays in the page (print, no JavaScript) but is hidden on screen.
    assert widget.locator("figure, img").first.is_hidden()
    assert widget.locator(".ood-bars").is_visible()

    slider.fill("0")  # the lowest threshold, 0.10: (almost) everything accepted
    low = readout.inner_text()
    assert low.startswith("Threshold 0.10:")
    kept_low, _, accepted_low = _shares(low)[:3]
    bar = widget.locator("rect.ood-out")
    width_low = float(bar.get_attribute("width"))
    last = int(slider.get_attribute("max"))
    slider.fill(str(last))
    high = readout.inner_text()
    assert high.startswith("Threshold 0.99:")
    kept_high, _, accepted_high = _shares(high)[:3]
    assert kept_high < kept_low and accepted_high < accepted_low
    assert float(bar.get_attribute("width")) < width_low
    assert "nearest-digit baseline" in high
    # Keyboard: one step left.
    slider.focus()
    page.keyboard.press("ArrowLeft")
    assert readout.inner_text().startswith("Threshold 0.98:")
    # Thumbnails near the threshold: some accepted or rejected, each described.
    slider.fill("60")  # 0.70
    thumbs = widget.locator(".ood-thumb")
    assert 1 <= thumbs.count() <= 12
    labels = widget.locator(".ood-img").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))")
    assert all(("accepted" in a) or ("rejected" in a) for a in labels)


@pytest.mark.reuse("page", PATH)
def test_slider_rewrites_readout_bars_and_thumbnails_in_both_palettes(
        context, site, base_url: str) -> None:
    page, errors = _open(context, base_url)
    _drive(page)
    page.click(PALETTE_TOGGLE)
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
    _drive(page)
    assert errors == []


@pytest.mark.reuse("page", PATH)
def test_widget_fits_a_phone(browser, site, base_url: str) -> None:
    context = phone_context(browser)
    page = context.new_page()
    page.goto(base_url + PATH, wait_until="networkidle")
    widget = page.locator(f"{WIDGET} .ood-widget")
    widget.wait_for(timeout=10_000)
    widget.scroll_into_view_if_needed()
    overflow = widget.evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 0
    box = widget.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375
    page.locator(f'{WIDGET} input[type="range"]').fill("80")
    assert "Threshold 0.90:" in page.locator(f'{WIDGET} [aria-live="polite"]').inner_text()
    context.close()
