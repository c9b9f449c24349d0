"""A notebook page keeps the CSS rules that can match it (dlnotes/notebook_css.py)."""

from __future__ import annotations

from dlnotes.notebook_css import page_classes, unused_rules_dropped

PAGE = '<div class="jp-Cell jp-CodeCell"><div class="jp-InputArea md-typeset">x</div></div>'


def test_the_page_classes_are_every_class_of_every_element() -> None:
    assert page_classes(PAGE) == {"jp-Cell", "jp-CodeCell", "jp-InputArea", "md-typeset"}


def test_rules_for_jupyterlab_parts_the_page_lacks_are_dropped() -> None:
    css = (".jp-Cell{a:1}.jp-Menu{b:2}.lm-Widget .jp-Cell{c:3}.bp3-button{d:4}"
           ".jp-Toolbar, .jp-InputArea{e:5}")
    kept = ".jp-Cell{a:1}.jp-Toolbar, .jp-InputArea{e:5}"
    assert unused_rules_dropped(css, page_classes(PAGE)) == kept


def test_rules_it_cannot_rule_out_stay() -> None:
    """Other classes, elements and variables, a missing class under :not(), selector lists
    and escapes, and the at-rules around kept rules."""
    css = (":root{--jp-x:1}.md-nav{a:1}pre{b:2}.jp-Cell:not(.jp-mod-hidden){c:3}"
           ":is(.jp-Menu, .jp-Cell){d:4}.jp-a\\:b{e:5}@media print{.jp-Cell{f:6}}")
    assert unused_rules_dropped(css, page_classes(PAGE)) == css


def test_the_root_asked_for_inside_another_element_never_matches() -> None:
    """mkdocs-jupyter's prefix turns JupyterLab's `:root` variables into a dead rule."""
    css = (".jupyter-wrapper :root{--jp-x:1}.jupyter-wrapper > :root, .a+:root{--jp-y:2}"
           ":root{--jp-z:3}:root .md-nav, .jupyter-wrapper :root{a:1}")
    kept = ":root{--jp-z:3}:root .md-nav, .jupyter-wrapper :root{a:1}"
    assert unused_rules_dropped(css, page_classes(PAGE)) == kept
