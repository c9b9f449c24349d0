"""The glossary and the pages agree (issue 16).

The site's convention: bold (`**term**`) in a page's prose marks a technical term the page
introduces, and every such term has an entry in docs/glossary.md. So:
- every bold phrase of docs/**/*.md, outside code, is a glossary term (case and a plural
  ending do not matter; a leading "the"/"a" and closing punctuation are ignored);
- every entry is used: some page (or example notebook) sets one of its names in bold;
- every entry links to a page that exists, has the anchor, and sets the term in bold there.
Each failure names the page and line, the term, and the fix.
"""

from __future__ import annotations

import json
import re
from functools import cache

import markdown
from conftest import ROOT
from markdown.extensions.toc import slugify

from dlnotes import glossary

DOCS = ROOT / "docs"
GLOSSARY = DOCS / glossary.GLOSSARY

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.S)
BOLD = re.compile(r"\*\*(?=\S)(?P<phrase>.+?)(?<=\S)\*\*", re.S)
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*(?:\{[^}]*\})?\s*$", re.M)
EXPLICIT_ID = re.compile(r"\{[^}]*#(?P<id>[\w-]+)[^}]*\}")


def _blank(match: re.Match[str]) -> str:
    """Blank out a span but keep its line breaks, so line numbers stay right."""
    return re.sub(r"[^\n]", " ", match[0])


def prose(text: str) -> str:
    """The text with code blocks, inline code and comments blanked out, positions kept."""
    lines, in_fence = [], False
    for line in text.split("\n"):
        fence = bool(FENCE.match(line))
        lines.append(" " * len(line) if fence or in_fence else line)
        in_fence ^= fence
    return COMMENT.sub(_blank, INLINE_CODE.sub(_blank, "\n".join(lines)))


def bold_uses(text: str) -> list[tuple[int, str]]:
    """(line, phrase) of every bold phrase in the prose of a Markdown text."""
    clean = prose(text)
    return [(clean.count("\n", 0, m.start()) + 1, " ".join(m["phrase"].split()))
            for m in BOLD.finditer(clean)]


def pages() -> dict[str, str]:
    """Every page's Markdown by its path under docs/ (notebooks: their Markdown cells)."""
    found = {p.relative_to(DOCS).as_posix(): p.read_text("utf-8") for p in DOCS.rglob("*.md")
             if "generated" not in p.relative_to(DOCS).parts and p != GLOSSARY}
    for notebook in sorted((ROOT / "examples").glob("*.ipynb")):
        cells = json.loads(notebook.read_text("utf-8"))["cells"]
        found[f"examples/{notebook.name}"] = "\n\n".join(
            "".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return found


def normalise(phrase: str) -> str:
    phrase = phrase.lower().strip().rstrip(".:;,!?").strip()
    return re.sub(r"^(the|a|an) ", "", phrase)


@cache
def entries() -> tuple[glossary.Entry, ...]:
    return tuple(glossary.entries(GLOSSARY))


@cache
def term_index() -> dict[str, glossary.Entry]:
    """Every accepted spelling of every term, lower case, to its entry."""
    return {form.lower(): entry for entry in entries() for name in entry.names
            for form in glossary.variants(name)}


def uses_by_page() -> dict[str, set[str]]:
    """For each page, the terms (entry's first name) it sets in bold."""
    index = term_index()
    return {page: {index[normalise(p)].term for _, p in bold_uses(text) if normalise(p) in index}
            for page, text in pages().items()}


def anchors(text: str) -> set[str]:
    clean = prose(text)
    found = {slugify(re.sub(r"[*_`]", "", m["title"]), "-") for m in HEADING.finditer(clean)}
    return found | {m["id"] for m in EXPLICIT_ID.finditer(clean)}


def test_the_glossary_has_entries_in_alphabetical_order() -> None:
    terms = [e.term for e in entries()]
    assert len(terms) >= 40, f"docs/glossary.md: only {len(terms)} entries could be read"
    order = sorted(terms, key=lambda term: term.lower().replace("-", ""))
    assert terms == order, (
        "docs/glossary.md: put the entries in alphabetical order (hyphens ignored): "
        f"{[t for t, s in zip(terms, order, strict=True) if t != s]}")
    names = [n.lower() for e in entries() for n in e.names]
    assert len(names) == len(set(names)), "docs/glossary.md: a term has two entries"


def test_every_entry_is_one_to_three_sentences_with_a_link() -> None:
    problems = []
    for entry in entries():
        sentences = len(re.split(r"(?<=[.!?])\s+(?=[A-Z0-9])", entry.definition.strip()))
        if not entry.link:
            problems.append(f"docs/glossary.md:{entry.line}: '{entry.term}' has no link. "
                            "Fix: end it with 'See [Page title](page.md#section).'")
        if sentences > 3:
            problems.append(f"docs/glossary.md:{entry.line}: '{entry.term}' has {sentences} "
                            "sentences. Fix: say it in at most three.")
    assert not problems, "\n".join(problems)


def test_every_bold_phrase_on_a_page_is_a_glossary_term() -> None:
    index, problems = term_index(), []
    for page, text in pages().items():
        if page.startswith("examples/"):
            continue  # the notebooks' prose is not held to the convention (yet)
        for line, phrase in bold_uses(text):
            if normalise(phrase) in index:
                continue
            if "{{" in phrase:
                fix = "a number is not a term: drop the bold (or use italics)"
            else:
                fix = (f"write *{phrase}* (italics) if it is emphasis or a label, or add an "
                       "entry for it to docs/glossary.md if it is a term the page introduces")
            problems.append(f"docs/{page}:{line}: **{phrase}** is not a glossary term. Fix: {fix}.")
    assert not problems, f"{len(problems)} bold phrases are not terms:\n" + "\n".join(problems)


def test_every_entry_is_used_on_some_page() -> None:
    used = set().union(*uses_by_page().values())
    problems = [
        f"docs/glossary.md:{e.line}: no page sets '{e.term}' in bold. Fix: set it in bold "
        f"where {e.link.split('#')[0]} introduces it, or remove the entry."
        for e in entries() if e.term not in used]
    assert not problems, "\n".join(problems)


def test_every_entry_links_to_a_page_that_uses_it() -> None:
    texts, uses, problems = pages(), uses_by_page(), []
    for entry in entries():
        page, _, anchor = entry.link.partition("#")
        where = f"docs/glossary.md:{entry.line}: '{entry.term}' links to {entry.link}"
        if page not in texts:
            problems.append(f"{where}, which is not a page. Fix: link the page that teaches it.")
            continue
        if anchor and anchor not in anchors(texts[page]):
            problems.append(f"{where}, which has no section '#{anchor}'. Fix: link one of "
                            f"{sorted(anchors(texts[page]))} or the page alone.")
        if entry.term not in uses[page]:
            problems.append(f"{where}, which does not set it in bold. Fix: bold the term "
                            f"where {page} introduces it, or link the page that does.")
    assert not problems, "\n".join(problems)


def test_hover_definitions_skip_code_and_keep_links_and_numbers() -> None:
    """The `abbr` extension, fed from the glossary, marks terms in prose and nowhere else."""
    md = markdown.Markdown(extensions=["abbr", "toc", "pymdownx.superfences"],
                           extension_configs={"abbr": {"glossary": glossary.abbreviations(
                               GLOSSARY)}})
    html = md.convert(
        "## Overfitting\n\nThe `loss` and the loss, [the logits](losses.md), 0.25 Loss.\n\n"
        "```python\nloss = cross_entropy(logits, y)\n```\n\n![A loss curve](c.png \"Loss\")\n")
    assert '<h2 id="overfitting"><abbr title="overfitting: ' in html
    assert "<code>loss</code>" in html and "<abbr" not in html[html.index("<pre"):]
    assert '<a href="losses.md">the <abbr title="logit: ' in html
    assert html.count('<abbr title="loss: ') == 2  # "the loss" and "Loss", not the code
    assert 'alt="A loss curve"' in html and 'title="Loss"' in html


def test_notebook_pages_get_the_same_hover_definitions_in_their_prose_only() -> None:
    class Config:
        mdx_configs = {"abbr": {"glossary": glossary.abbreviations(GLOSSARY)}}

    html = ('<div class="jp-Cell jp-MarkdownCell"><div class="jp-RenderedHTMLCommon '
            'jp-RenderedMarkdown" data-mime-type="text/markdown"><p>Each epoch, the '
            '<code>loss</code> and <a href="x">the loss</a>; $\\log p$ loss, from '
            '<code><abbr title="F1: a score">f1</abbr></code></p></div></div>'
            '<div class="jp-CodeCell"><pre>loss = 1</pre><p>loss</p></div>')
    marked = glossary.mark_notebook(html, Config())
    assert marked.count("<abbr") == 1 and '<abbr title="epoch: ' in marked
    assert "from <code>f1</code>" in marked  # a variable, marked by mkdocs-jupyter's pass
    assert marked.endswith('<div class="jp-CodeCell"><pre>loss = 1</pre><p>loss</p></div>')
