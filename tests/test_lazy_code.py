"""Collapsed code listings ship as templates and open as code (dlnotes/lazy_code.py)."""

from __future__ import annotations

import re

from dlnotes.lazy_code import TEMPLATE_CLASS, defer_collapsed

BLOCK = ('<div class="highlight" data-search-exclude><span class="filename">'
         'snippets/losses.py: model</span><pre><span></span><code>model = nn.Linear(64, 10)'
         '\n</code></pre></div>')


def _download(name: str) -> str | None:
    return f"../downloads/{name}.py" if name == "losses" else None


def _templates(html: str) -> list[str]:
    return re.findall(rf'<template class="{TEMPLATE_CLASS}">(.*?)</template>', html, re.S)


def test_a_listing_in_a_closed_block_becomes_a_template_with_a_download_fallback() -> None:
    html = defer_collapsed(f'<details class="example"><summary>Code</summary>{BLOCK}'
                           '</details>', _download)
    assert _templates(html) == [BLOCK]
    assert ('<noscript><p>The code is in <a href="../downloads/losses.py" download="losses.py">'
            '<code>losses.py</code></a>.</p></noscript>') in html


def test_listings_in_view_stay_as_they_are() -> None:
    """On the page itself, in an open block (`???+`), or after a closed block has ended."""
    html = (f'<p>Text</p>{BLOCK}<details class="example" open="open"><summary>Code</summary>'
            f'{BLOCK}</details><details><summary>Q</summary><p>A</p></details>{BLOCK}')
    assert defer_collapsed(html, _download) == html


def test_a_closed_block_anywhere_above_the_listing_defers_it() -> None:
    """A solution nested in an open block, and an open block nested in a closed one."""
    nested = (f'<details open><summary>Q</summary><details><summary>Solution</summary>{BLOCK}'
              f'</details>{BLOCK}</details>'
              f'<details><summary>Q</summary><details open><summary>S</summary>{BLOCK}'
              '</details></details>')
    assert len(_templates(defer_collapsed(nested, _download))) == 2


def test_a_listing_that_is_not_a_snippet_falls_back_to_a_plain_note() -> None:
    other = BLOCK.replace("snippets/losses.py: model", "make site")
    html = defer_collapsed(f"<details><summary>Shell</summary>{other}</details>", _download)
    assert _templates(html) == [other]
    assert "<noscript><p>The code is shown with JavaScript on.</p></noscript>" in html
