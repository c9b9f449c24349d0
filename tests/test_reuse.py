"""A check is reused only on the very bytes it passed on (tests/reuse.py)."""

from __future__ import annotations

from pathlib import Path

import reuse


def _site(root: Path) -> Path:
    for path, text in {
        "a/index.html": '<img src="../generated/a/f.png"><script src="../js/x.js"></script>'
                        '<div data-widget="w" data-src="../generated/a/w.json"></div>'
                        f'<audio src="data:audio/wav;base64,{"A" * 5000}"></audio>'
                        '<a href="../b/">b</a><a href="https://example.org/x">x</a>',
        "b/index.html": '<img src="../generated/b/f.png">',
        "generated/a/f.png": "A", "generated/a/w.json": "{}", "generated/b/f.png": "B",
        "js/x.js": "x", "search/search_index.json": "[]",
    }.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_a_pages_digest_follows_its_html_and_every_file_it_loads(tmp_path: Path) -> None:
    site = _site(tmp_path)
    before = reuse.page(site, "a/")
    for changed in ("a/index.html", "generated/a/f.png", "generated/a/w.json", "js/x.js"):
        (site / changed).write_text((site / changed).read_text() + " ")
        after = reuse.page(site, "a/")
        assert after != before, f"{changed} changed but the page's digest did not"
        before = after


def test_only_a_check_that_weighs_the_page_follows_the_search_index_and_only_its_size(
        tmp_path: Path) -> None:
    """The index holds every page's text: a change on page b must not re-check page a. A
    weight check follows the index's size step, and counts the index at its top."""
    site = _site(tmp_path)
    index = site / "search" / "search_index.json"
    plain, weighed = reuse.page(site, "a/"), reuse.page(site, "a/", search_index="size")
    index.write_text('["b changed"]')
    assert reuse.page(site, "a/") == plain
    assert reuse.page(site, "a/", search_index="size") == weighed, "same size step"
    index.write_text("x" * reuse.INDEX_SIZE_STEP)
    assert reuse.page(site, "a/", search_index="size") != weighed, "the next size step"
    assert reuse.page(site, "a/") == plain
    searched = reuse.page(site, "a/", search_index="content")
    index.write_text("y" * reuse.INDEX_SIZE_STEP)
    assert reuse.page(site, "a/", search_index="content") != searched, "a search reads it"
    for size in (0, 1, reuse.INDEX_SIZE_STEP - 1, reuse.INDEX_SIZE_STEP, 10**6):
        ceiling = reuse.index_size_ceiling(size)
        assert size <= ceiling == reuse.index_size_ceiling(ceiling)
        assert reuse.index_size_ceiling(ceiling + 1) == ceiling + reuse.INDEX_SIZE_STEP


def test_a_pages_digest_ignores_other_pages(tmp_path: Path) -> None:
    site = _site(tmp_path)
    before = reuse.page(site, "a/")
    (site / "b" / "index.html").write_text("changed")
    (site / "generated" / "b" / "f.png").write_text("changed")
    assert reuse.page(site, "a/") == before


def test_the_same_check_on_other_bytes_or_other_test_code_has_another_record(
        tmp_path: Path) -> None:
    test_file = Path(__file__)
    one = reuse.record("tests/test_x.py::test_y[a/]", test_file, "digest-1")
    assert reuse.record("tests/test_x.py::test_y[a/]", test_file, "digest-2") != one
    assert reuse.record("tests/test_x.py::test_y[b/]", test_file, "digest-1").parent \
        != one.parent
    assert reuse.record("tests/test_x.py::test_y[a/]", test_file, "digest-1") == one
