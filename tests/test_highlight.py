"""Highlighted code keeps its look and its text with fewer elements (dlnotes/highlight.py)."""

from __future__ import annotations

import re
from importlib import resources

from conftest import ROOT

from dlnotes.highlight import plain_tokens

LINE = ('<div class="highlight"><pre><span></span><code><span class="n">loss</span>'
        '<span class="w"> </span><span class="o">=</span><span class="w"> </span>'
        '<span class="n">model</span><span class="p">(</span><span class="n">x</span>'
        '<span class="p">)</span>  <span class="c1"># the name n</span></code></pre></div>')


def test_names_and_whitespace_lose_their_spans_and_nothing_else_changes() -> None:
    assert plain_tokens(LINE) == (
        '<div class="highlight"><pre><span></span><code>loss <span class="o">=</span> '
        'model<span class="p">(</span>x<span class="p">)</span>  '
        '<span class="c1"># the name n</span></code></pre></div>')
    text = re.compile(r"<[^>]+>")
    assert text.sub("", plain_tokens(LINE)) == text.sub("", LINE)


def test_spans_outside_code_are_left_alone() -> None:
    prose = '<p><span class="n">a name in prose</span></p>'
    assert plain_tokens(prose) == prose


def test_the_theme_still_draws_names_and_whitespace_as_plain_code() -> None:
    """The unwrapping is only invisible while the theme colours `.n` like the code itself and
    gives `.w` no style: a theme upgrade that changes that fails here."""
    theme = resources.files("material") / "templates" / "assets" / "stylesheets"
    css = "".join(f.read_text() for f in theme.iterdir() if f.name.endswith(".min.css"))
    css += "".join(f.read_text() for f in (ROOT / "docs" / "stylesheets").rglob("*.css"))
    assert set(re.findall(r"--md-code-hl-name-color:\s*([^;}]+)", css)) == {
        "var(--md-code-fg-color)"}
    for rule in re.findall(r"[^{}]*\{[^{}]*\}", css):
        selectors = rule.split("{")[0]
        if re.search(r"\.highlight \.n(?=[,\s{]|$)", selectors):
            assert "--md-code-hl-name-color" in rule, rule
        assert not re.search(r"\.highlight \.w(?=[,\s{]|$)", selectors), rule


def test_notebook_cells_lose_the_same_spans() -> None:
    cell = LINE.replace('<div class="highlight">', '<div class="highlight-ipynb hl-python">')
    cell = cell.replace("<code>", "").replace("</code>", "")
    assert plain_tokens(cell) == (
        '<div class="highlight-ipynb hl-python"><pre><span></span>loss <span class="o">=</span> '
        'model<span class="p">(</span>x<span class="p">)</span>  '
        '<span class="c1"># the name n</span></pre></div>')


def test_notebook_styles_still_draw_names_and_whitespace_as_plain_code(tmp_path) -> None:
    """mkdocs-jupyter styles notebook cells with nbconvert's highlighting CSS: names must have
    no rule of their own there, and whitespace at most a colour (which it does not show)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

    styles = CSSHTMLHeaderPreprocessor(highlight_class=".highlight-ipynb")
    css = "".join(styles._generate_header({"config_dir": str(tmp_path)}))
    for rule in re.findall(r"[^{}]*\{[^{}]*\}", css):
        selectors, body = rule.split("{")
        assert not re.search(r"\.highlight-ipynb \.n(?=[,\s{]|$)", selectors), rule
        if re.search(r"\.highlight-ipynb \.w(?=[,\s{]|$)", selectors):
            assert re.fullmatch(r"\s*color:[^;]*;?\s*\}", body), rule
