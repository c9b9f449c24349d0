"""A notebook page's inline CSS, cut to the rules that can match it.

mkdocs-jupyter inlines all of JupyterLab's CSS in every notebook page: 230 KB, of which
about nine rules in ten style widgets, menus and editors that a static page never shows. The
browser matches every rule against every element whenever it recomputes styles, and on a page
of thousands of elements that is most of the notebook pages' blocking time. A rule goes when
every one of its selectors needs a JupyterLab class (`jp-`, `lm-`, `p-`, Blueprint's `bp3-`)
that no element of the page carries; the page's classes are fixed when it is built, since no
script of the site adds JupyterLab classes. A rule also goes when each selector asks for the
document's root inside another element: mkdocs-jupyter prefixes every selector with
`.jupyter-wrapper `, so JupyterLab's `:root` block of 560 variables (88 KB, two fifths of what
the rest leaves) became `.jupyter-wrapper :root`, which no element can match.
"""

from __future__ import annotations

import re

RULE = re.compile(r"(?P<selectors>[^{}@;]+)\{[^{}]*\}")
JUPYTER_CLASS = re.compile(r"\.((?:jp|lm|p|bp\d)-[A-Za-z0-9_-]+)")
NEGATION = re.compile(r":not\([^()]*\)")
ROOT_INSIDE = re.compile(r"\S\s*[\s>+~]\s*:root\b")
CLASS_ATTRIBUTE = re.compile(r'\bclass="([^"]*)"')


def page_classes(html: str) -> set[str]:
    """Every class that an element of `html` carries."""
    return {name for value in CLASS_ATTRIBUTE.findall(html) for name in value.split()}


def unused_rules_dropped(css: str, classes: set[str]) -> str:
    """`css` without the rules that cannot match an element carrying only `classes`."""

    def can_match(selector: str) -> bool:
        if "\\" in selector or ":is(" in selector or ":where(" in selector:
            return True  # escapes and selector lists: keep, rather than parse them
        if ROOT_INSIDE.search(selector.strip()):
            return False
        # A class under :not() that is absent makes the :not() true, not false.
        return all(name in classes for name in JUPYTER_CLASS.findall(NEGATION.sub("", selector)))

    def keep(rule: re.Match[str]) -> str:
        return rule[0] if any(map(can_match, rule["selectors"].split(","))) else ""

    return RULE.sub(keep, css)
