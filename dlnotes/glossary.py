"""The glossary page is the one source of every term's definition.

`docs/glossary.md` is a definition list: one or more term lines (`<dfn>term</dfn>`, then its
synonyms, each in a `<dfn>` of its own, which also keeps the page's own terms free of
tooltips), then a definition of one to three sentences ending in "See [page](link)."
`entries` reads it; the build hands `abbreviations` to Python-Markdown's `abbr` extension, so
that every page shows the same definition when a reader hovers over a term. The
tests read it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

GLOSSARY = "glossary.md"

TERM_LINE = re.compile(r"^<dfn>(?P<term>[^<]+)</dfn>\s*$")
DEFINITION = re.compile(r"^:\s{3}(?P<text>.*)$")
CONTINUATION = re.compile(r"^\s{4}(?P<text>\S.*)$")
SEE = re.compile(r"\s*See\s+\[(?P<title>[^\]]+)\]\((?P<link>[^)\s]+)\)\.?\s*$")
LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
CODE_OR_EMPHASIS = re.compile(r"`([^`]*)`|\*\*([^*]+)\*\*|\*([^*]+)\*|_([^_]+)_(?!\w)")


@dataclass(frozen=True)
class Entry:
    names: tuple[str, ...]  # the term first, then its synonyms
    definition: str         # Markdown, without the closing "See [...](...)."
    link: str               # the page (and anchor) that teaches it, relative to docs/
    line: int               # line of the term in the glossary page

    @property
    def term(self) -> str:
        return self.names[0]

    @property
    def plain(self) -> str:
        """The definition as plain text, for a tooltip."""
        text = LINK.sub(r"\1", self.definition)
        text = CODE_OR_EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), text)
        return " ".join(text.split())


def entries(glossary: Path) -> list[Entry]:
    """The entries of the glossary page, in page order."""
    found: list[Entry] = []
    names: list[str] = []
    text: list[str] | None = None
    first = 0

    def close() -> None:
        nonlocal names, text
        if names and text is not None:
            joined = " ".join(text)
            see = SEE.search(joined)
            found.append(Entry(tuple(names), joined[:see.start()] if see else joined,
                               see["link"] if see else "", first))
        names, text = [], None

    for number, line in enumerate(glossary.read_text("utf-8").splitlines(), 1):
        if (definition := DEFINITION.match(line)) and names:
            text = [definition["text"]]
        elif text is not None and (more := CONTINUATION.match(line)):
            text.append(more["text"])
        elif text is None and names and (term := TERM_LINE.match(line)):
            names.append(term["term"])
        else:
            close()
            if term := TERM_LINE.match(line):
                names, first = [term["term"]], number
    close()
    return [e for e in found if e.definition]


def variants(name: str) -> set[str]:
    """The spellings of a term a page may use: as written, capitalised or not, and plural."""
    forms = {name}
    if not name[:1].isupper() or name.lower().capitalize() == name:  # not an acronym like IoU
        forms |= {name[:1].upper() + name[1:], name[:1].lower() + name[1:]}
    for form in list(forms):
        forms.add(form[:-1] + "ies" if re.search(r"[^aeiou]y$", form) else
                  form + "es" if re.search(r"(s|x|ch|sh)$", form) else form + "s")
    return forms


def abbreviations(glossary: Path) -> dict[str, str]:
    """Every spelling of every term, mapped to the first sentence of its definition as plain
    text: a tooltip is repeated at every use of the term, so it stays short (the glossary page
    has the rest)."""
    result: dict[str, str] = {}
    for entry in entries(glossary):
        first = re.split(r"(?<=[.!?])\s+(?=[A-Z])", entry.plain, maxsplit=1)[0]
        for name in entry.names:
            for form in variants(name):
                result.setdefault(form, f"{entry.term}: {first}")
    return result


def configure(config: Any, docs_dir: Path) -> None:
    """Give the `abbr` extension (when mkdocs.yml enables it) the glossary's definitions."""
    page = docs_dir / GLOSSARY
    if "abbr" in config.markdown_extensions and page.is_file():
        config.mdx_configs.setdefault("abbr", {})["glossary"] = abbreviations(page)


TIPS_SCRIPT = "javascripts/glossary-tips.js"
OWN_TIP = "data-preview"


def own_tips(html: str) -> str:
    """Glossary terms get their tooltip from the site's one listener (TIPS_SCRIPT, which says
    why) instead of a component each from the theme. The theme gives a tooltip component to
    every `[title]` of a page except those marked `data-preview`, its marker for links that
    show a page preview instead; on an `abbr` the marker does nothing else, and the theme's
    CSS underlines both alike. The title stays, for readers without JavaScript."""
    return html.replace("<abbr title=", f'<abbr {OWN_TIP}="" title=')


def has_own_tips(html: str) -> bool:
    return f'<abbr {OWN_TIP}="" title=' in html


CODE_SPAN = re.compile(r"<code\b[^>]*>.*?</code>", re.S)
ABBR_TAG = re.compile(r"<abbr\b[^>]*>|</abbr>")
MARKDOWN_CELL = re.compile(r'<div class="[^"]*\bjp-RenderedMarkdown\b')
TAG = re.compile(r"(<[^>]*>)")
TAG_NAME = re.compile(r"</?([a-zA-Z][\w-]*)")
NOT_PROSE = {"a", "abbr", "button", "code", "kbd", "label", "math", "pre", "samp", "script",
             "select", "style", "svg", "textarea"}


def mark_notebook(html: str, config: Any) -> str:
    """The same hover definitions in a notebook page's Markdown cells, which mkdocs-jupyter
    renders without Python-Markdown: wrap each term of their prose in `<abbr title>`, outside
    code, links and math (KaTeX typesets `$...$` in the browser, so text with `$` is left)."""
    abbrs: dict[str, str] = config.mdx_configs.get("abbr", {}).get("glossary", {})
    if not abbrs:
        return html
    # mkdocs-jupyter's own Markdown pass marks terms inside code spans too (a chirp's `f1`
    # became the F1 score): code is never prose, so those marks go first.
    html = CODE_SPAN.sub(lambda code: ABBR_TAG.sub("", code[0]), html)
    longest_first = sorted(abbrs, key=len, reverse=True)
    term = re.compile(r"\b(?:" + "|".join(map(re.escape, longest_first)) + r")\b")
    out: list[str] = []
    depth, cell_depth, skipping = 0, -1, 0
    for token in TAG.split(html):
        if token.startswith("<") and (name := TAG_NAME.match(token)):
            tag, closing = name[1].lower(), token.startswith("</")
            if tag == "div" and not closing:
                depth += 1
                if cell_depth < 0 and MARKDOWN_CELL.match(token):
                    cell_depth = depth
            elif tag == "div":
                cell_depth = -1 if depth == cell_depth else cell_depth
                depth -= 1
            elif tag in NOT_PROSE and not token.endswith("/>"):
                skipping += -1 if closing else 1
        elif cell_depth > 0 and not skipping and "$" not in token and "\\(" not in token:
            token = term.sub(lambda m: f'<abbr title="{escape(abbrs[m[0]], quote=True)}">'
                                       f"{m[0]}</abbr>", token)
        out.append(token)
    return "".join(out)
