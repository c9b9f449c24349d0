"""Highlighted code with fewer elements.

Code listings make up most of a page's DOM (on the text page 6,400 of its 7,600 elements),
and the theme's script reads the layout of every code block as the page loads: the larger
the DOM, the longer each of those reads blocks the page. Pygments wraps every name and every
run of whitespace in its own `<span>`, but the theme draws names in the code's own colour
(`--md-code-hl-name-color` is `--md-code-fg-color`) and gives whitespace no style, so those
spans change nothing a reader sees; unwrapping them removes a third of the page's elements.
Notebook cells (`.highlight-ipynb`, styled by nbconvert's JupyterLab style) are the same:
names have no rule there and whitespace only a colour, which whitespace does not show.
"""

from __future__ import annotations

import re

# The token classes the theme draws exactly like unhighlighted code: names and whitespace.
PLAIN_TOKEN = re.compile(r'<span class="(?:n|w)">([^<]*)</span>')
CODE = re.compile(r'<code\b[^>]*>.*?</code>|<div class="highlight-ipynb[^>]*><pre>.*?</pre>', re.S)


def plain_tokens(html: str) -> str:
    """The page with the spans of plain-looking tokens inside its code unwrapped."""
    return CODE.sub(lambda code: PLAIN_TOKEN.sub(r"\1", code[0]), html)
