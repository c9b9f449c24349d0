"""Code listings in collapsed blocks, rendered when the reader opens them.

Most of a page's elements are code listings that sit in collapsed blocks ("The code: ...", the
solutions): on the text page 3,500 of its 4,900 elements. The theme mounts every code block as
the page loads (a copy button and layout reads per block), and that work on a large DOM is
most of the pages' Total Blocking Time in Lighthouse. A listing inside a closed `<details>` is
not seen until the block opens, so the page ships it inside a `<template>`: the browser parses
it but neither renders nor lays it out, and `javascripts/lazy-code.js` puts it in place (with
the theme's copy button) when its block opens, and before the page is printed. Without
JavaScript a collapsed listing shows a link to the snippet's download instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable

SCRIPT = "javascripts/lazy-code.js"
TEMPLATE_CLASS = "dlnotes-lazy-code"
TOKEN = re.compile(r'(?P<open><details\b(?P<attrs>[^>]*)>)|(?P<close></details>)'
                   r'|(?P<code><div class="highlight"[^>]*>.*?</code></pre></div>)', re.S)
OPEN = re.compile(r"(?:^|\s)open(?:[\s=]|$)")
FILENAME = re.compile(r'<span class="filename">snippets/([\w-]+)\.py\b')


def defer_collapsed(html: str, download: Callable[[str], str | None]) -> str:
    """The page with every code listing that sits in a closed `<details>` (at any depth)
    wrapped in a `<template>`. `download(name)` gives the link to the download of snippet
    `name` (`losses` for snippets/losses.py), or None: the fallback that readers without
    JavaScript see."""
    parts: list[str] = []
    closed: list[bool] = []  # per enclosing <details>: is it closed?
    done = 0
    for token in TOKEN.finditer(html):
        if token["open"]:
            closed.append(not OPEN.search(token["attrs"]))
        elif token["close"]:
            if closed:
                closed.pop()
        elif any(closed):
            parts += [html[done:token.start()], _template(token["code"], download)]
            done = token.end()
    return "".join(parts) + html[done:]


def _template(block: str, download: Callable[[str], str | None]) -> str:
    name = FILENAME.search(block)
    href = download(name[1]) if name else None
    script = f"{name[1]}.py" if name else ""
    where = (f'the code is in <a href="{href}" download="{script}"><code>{script}</code></a>'
             if href else "the code is shown with JavaScript on")
    return (f'<template class="{TEMPLATE_CLASS}">{block}</template>'
            f'<noscript><p>{where[0].upper()}{where[1:]}.</p></noscript>')
