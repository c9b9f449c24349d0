"""Generated figures and tables as a page shows them: numbered, captioned, sized, traced.

A page writes a figure as `![ALT](generated/NAME/FILE.png "CAPTION")` and a table as a line
`Table: CAPTION` right above `--8<-- "generated/NAME/FILE.md"`. The build turns each into a
<figure> numbered per page ("Figure 2.", "Table 1."), shows the light and the dark rendering of
a figure with Material's `#only-light` / `#only-dark`, declares every image's size and lets the
browser load it lazily, and after a snippet's first figure or table on the page adds one
collapsed note of the run that made them (mode, runtime, device, versions, time). A figure
whose snippet failed in a preview gets a warning that stays visible instead.
"""

from __future__ import annotations

import posixpath
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from dlnotes.manifest import Entry
from dlnotes.project import GENERATED

DARK = "-dark"
INCH = 0.0254  # metres: PNG's pHYs counts pixels per metre


@dataclass(frozen=True)
class Png:
    """What the site needs from a PNG file's header: its size, DPI and Comment text."""

    width: int
    height: int
    dpi: float
    comment: str = ""

    @property
    def css_size(self) -> tuple[int, int]:
        """Shown at 100 CSS px per inch, so a 6.4-inch figure is 640 px wide at any DPI."""
        return round(self.width * 100 / self.dpi), round(self.height * 100 / self.dpi)


def read_png(data: bytes) -> Png | None:
    """The header of a PNG (None if `data` is not one); without pHYs it counts as 100 dpi."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width = height = 0
    dpi, comment = 100.0, ""
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"pHYs" and body[8] == 1 and body[0:4] != b"\0\0\0\0":
            dpi = struct.unpack(">I", body[:4])[0] * INCH
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            key, _, value = body.partition(b"\0")
            if key == b"Comment":
                comment = _text_chunk(kind, value)
        elif kind == b"IEND":
            break
        at += 12 + length
    return Png(width, height, dpi, comment)


def _text_chunk(kind: bytes, value: bytes) -> str:
    """The text of a tEXt, zTXt or iTXt chunk after its keyword."""
    if kind == b"zTXt":
        return zlib.decompress(value[1:]).decode("latin-1")
    if kind == b"iTXt":  # compressed flag, method, language tag \0, translated keyword \0, text
        flag, rest = value[0], value[2:]
        text = rest.split(b"\0", 2)[2]
        return (zlib.decompress(text) if flag else text).decode("utf-8")
    return value.decode("latin-1")


# --- Markdown: mark each generated table so the HTML step can find it and its snippet --------

TABLE = re.compile(
    r"^(?:(?P<indent_caption>[ \t]*)Table:[ \t]*(?P<caption>\S.*?)[ \t]*\n)?"
    rf"(?P<include>(?P<indent>[ \t]*)--8<--\s*\"{GENERATED}/(?P<name>\w+)/[^\"]+\.md\"[ \t]*)$",
    re.M,
)


def mark_tables(markdown: str) -> str:
    """Put a paragraph carrying the snippet's name (and the caption, if any) above each table.

    Python-Markdown renders the included table after it wherever the include sits (in tabs and
    admonitions too), so `figures_and_tables` can then wrap the two into one numbered figure.
    """

    def mark(match: re.Match[str]) -> str:
        indent, name = match["indent"], match["name"]
        kind, text = ("caption", match["caption"]) if match["caption"] else ("mark", name)
        return (f"{indent}{text}\n{indent}{{: .dlnotes-table-{kind} data-snippet=\"{name}\" }}\n"
                f"\n{match['include']}")

    return TABLE.sub(mark, markdown)


# --- HTML: figures, tables, image sizes and provenance ----------------------------------------

ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
IMAGE = re.compile(r"<img\b[^>]*>")
FIGURE = re.compile(r"<p>\s*(?P<image><img\b[^>]*>)\s*</p>")
MARKED_TABLE = re.compile(
    r'<p class="dlnotes-table-(?P<kind>caption|mark)" data-snippet="(?P<name>\w+)">'
    r"(?P<caption>.*?)</p>\s*(?P<table><table>.*?</table>)?", re.S)
GENERATED_SRC = re.compile(rf"(?:^|/){GENERATED}/(?P<name>\w+)/(?P<file>[^/#?]+)\.png$")


@dataclass
class PageContext:
    """What one page's figures need: where its images are, the runs that made them, links."""

    png: Callable[[str], Png | None]  # an image's src (relative to the page) -> its header
    exists: Callable[[str], bool]  # does the file behind this src exist?
    entries: dict[str, Entry]
    download: Callable[[str], str]  # snippet name -> link to its .py, relative to the page
    report_url: str  # the build report, relative to the page


def figures_and_tables(html: str, context: PageContext) -> str:
    """Number and caption the page's generated figures and tables, once-per-snippet provenance,
    and give every other image its declared size and lazy loading."""
    counts = {"Figure": 0, "Table": 0}
    traced: set[str] = set()

    def numbered(kind: str, caption: str) -> str:
        if not caption:
            return ""
        counts[kind] += 1
        return (f'<figcaption><span class="dlnotes-label">{kind} {counts[kind]}.</span> '
                f"{caption}</figcaption>")

    def trace(name: str) -> str:
        if name in traced:
            return ""
        traced.add(name)
        return provenance(name, context.entries.get(name), context)

    def figure(match: re.Match[str]) -> str:
        attrs = dict(ATTRIBUTE.findall(match["image"]))
        generated = GENERATED_SRC.search(attrs.get("src", ""))
        if not generated:
            return match[0]
        caption = attrs.pop("title", "")
        images = _light_and_dark(attrs, context)
        stale = " dlnotes-stale" if _failed(context.entries, generated["name"]) else ""
        return (f'<figure class="dlnotes-figure{stale}">\n{images}\n'
                f"{numbered('Figure', caption)}\n</figure>\n{trace(generated['name'])}")

    def table(match: re.Match[str]) -> str:
        if not match["table"]:  # the include was no table: show the caption as it was written
            return f'<p>{match["caption"]}</p>' if match["kind"] == "caption" else ""
        caption = match["caption"] if match["kind"] == "caption" else ""
        return (f'<figure class="dlnotes-table">\n{numbered("Table", caption)}\n'
                f'{match["table"]}\n</figure>\n{trace(match["name"])}')

    def in_order(match: re.Match[str]) -> str:
        return table(match) if match["name"] else figure(match)

    either = re.compile(f"{MARKED_TABLE.pattern}|{FIGURE.pattern}", re.S)
    html = either.sub(in_order, html)
    return IMAGE.sub(lambda m: _sized(m[0], context), html)


def _light_and_dark(attrs: dict[str, str], context: PageContext) -> str:
    """The light image, and its dark twin when the snippet drew one."""
    src = attrs["src"]
    dark = re.sub(r"\.png$", f"{DARK}.png", src)
    if not context.exists(dark):
        return _tag(attrs)
    return "\n".join([_tag({**attrs, "src": f"{src}#only-light"}),
                      _tag({**attrs, "src": f"{dark}#only-dark"})])


def _sized(tag: str, context: PageContext) -> str:
    """An image with lazy loading and, when its file is a PNG the site has, width and height.

    Declared sizes let the browser lay out the page before the images arrive (no jumping)."""
    attrs = dict(ATTRIBUTE.findall(tag))
    if "src" not in attrs:
        return tag
    return _tag(attrs, context.png(attrs["src"].split("#")[0]))


def _tag(attrs: dict[str, str], png: Png | None = None) -> str:
    attrs = {**attrs}
    attrs.setdefault("loading", "lazy")
    if png and "width" not in attrs and "height" not in attrs:
        attrs["width"], attrs["height"] = (str(n) for n in png.css_size)
    return "<img " + " ".join(f'{key}="{value}"' for key, value in attrs.items()) + " />"


def _failed(entries: dict[str, Entry], name: str) -> bool:
    entry = entries.get(name)
    return entry is not None and entry.status == "failed"


def provenance(name: str, entry: Entry | None, context: PageContext) -> str:
    """Where a snippet's outputs came from: collapsed, or a visible warning when stale."""
    script = (f'<a href="{escape(context.download(name))}" download="{name}.py">'
              f"<code>snippets/{name}.py</code></a>")
    report = f'<a href="{escape(context.report_url)}">build report</a>'
    if entry is not None and entry.status == "failed":
        return (f'<p class="dlnotes-provenance dlnotes-stale"><strong>⚠ Stale:</strong> '
                f"{script} failed in this build ({escape(entry.error or '')}); what you "
                f"see is its last good output, from {escape(entry.ran_at or 'an earlier run')}"
                f". See the {report}.</p>\n")
    summary = f"<summary>Made by <code>snippets/{name}.py</code></summary>"
    if entry is None or entry.inputs is None:
        details = f"Not run yet. Code: {script} · {report}"
    else:
        details = (f"{escape(entry.inputs['mode'])} mode · ran {entry.runtime_s or 0:.1f} s on "
                   f"{escape(entry.device or 'an unknown device')} · "
                   f"{escape(_versions(entry.inputs['environment']))} · "
                   f"{escape(entry.ran_at or '')} · code: {script} · {report}")
    # Not in the search index: a re-run changes its runtime and date, not what the page says.
    return (f'<details class="dlnotes-provenance" data-search-exclude>{summary}<p>{details}</p>'
            "</details>\n")


def _versions(environment: dict[str, str]) -> str:
    """Python first, then the packages that were installed: "Python 3.11.7, torch 2.5.1, …"."""
    python = environment.get("python", "?")
    return ", ".join([f"Python {python}", *(f"{package} {version}"
                                           for package, version in environment.items()
                                           if package != "python" and version != "absent")])


def page_context(page_url: str, resolve: Callable[[str], Path | None],
                 entries: dict[str, Entry], report_url: str) -> PageContext:
    """A PageContext for a page served at `page_url` (`resolve`: site path -> file on disk)."""
    folder = page_url if page_url.endswith("/") else posixpath.dirname(page_url)

    def file_of(src: str) -> Path | None:
        if re.match(r"^[a-z]+:|^/", src):
            return None
        return resolve(posixpath.normpath(posixpath.join(folder, src.split("#")[0])))

    def png(src: str) -> Png | None:
        path = file_of(src)
        if path is None or path.suffix.lower() != ".png" or not path.is_file():
            return None
        return read_png(path.read_bytes())

    def exists(src: str) -> bool:
        path = file_of(src)
        return path is not None and path.is_file()

    def relative(target: str) -> str:
        return posixpath.relpath(target, folder or ".") + ("/" if target.endswith("/") else "")

    return PageContext(png, exists, entries, lambda name: relative(f"downloads/{name}.py"),
                       relative(report_url))


def downloads_block(names: list[str], page_dir: str) -> str:
    """The line under a page's title offering its snippets as scripts and notebooks."""
    links = []
    for name in names:
        script = posixpath.relpath(f"downloads/{name}.py", page_dir)
        notebook = posixpath.relpath(f"downloads/{name}.ipynb", page_dir)
        links.append(f"[`{name}.py`]({script}){{ download=\"{name}.py\" }} · "
                     f"[`{name}.ipynb`]({notebook}){{ download=\"{name}.ipynb\" }}")
    return ('<p class="dlnotes-downloads" markdown="span">Run this page\'s code yourself: '
            + " · ".join(links) + "</p>")
