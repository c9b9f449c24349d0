"""Smaller figure files that show the same picture: palette PNGs where they are faithful.

A Matplotlib figure is saved as 8-bit RGBA, yet most of it is a few inks, their anti-aliased
edges and a transparent background: as a palette PNG (at most 256 colours, one byte a pixel)
it is often a third of the size. `optimise_png` keeps the smallest of

- the file as it was;
- an exact palette, when the image has at most 256 distinct RGBA colours (lossless);
- a 256-colour palette from Pillow's octree quantiser, kept only where it does not show:
  the pixels move little on average and few move far (`MAX_MEAN_ERROR`, `FAR`), measured on
  colours weighted by their opacity (what the page composites); photographs keep their file.

A palette image is written at zlib's highest level. (Re-compressing a true-colour file gains
about 3 % for half a second of CPU per figure: not done.) Text chunks (the Comment that
records the figure's smallest text size, Software...) and the pixel density (pHYs: the DPI
the site sizes images by) are kept, so `provenance.read_png` reads the same header. The
result depends only on the input bytes and the Pillow and zlib versions (Pillow's version is
part of every cache key): two builds write byte-identical files. Optimising an optimised file
returns it unchanged.

The engine applies this to every PNG a run writes (also the figures inside an executed
notebook) before the outputs are published; `python -m dlnotes.images FOLDER...` does it in
place to outputs published before this step existed.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A quantised palette is kept when, in every channel (colour weighted by opacity, in levels
# of 255), the pixels change by at most MAX_MEAN_ERROR on average and by more than FAR for at
# most MAX_FAR_SHARE of them. Measured on this site's figures: curves, bars, text and heat maps
# change by 0.21 or less on average; figures of photographs by 1.8 to 4.3, and their smooth
# shades band visibly in 256 colours.
MAX_MEAN_ERROR = 1.0
FAR, MAX_FAR_SHARE = 16, 0.01
# zlib level 9 makes palette files about 9 % smaller than the default 6, for about 30 ms more
# CPU per figure.
COMPRESS_LEVEL = 9


@dataclass(frozen=True)
class Saving:
    """What optimising one file did: bytes before and after, and how."""

    path: str
    before: int
    after: int
    how: str  # "exact palette", "quantised palette" or "kept"


def optimise_png(data: bytes) -> tuple[bytes, str]:
    """The smallest faithful encoding of a PNG, and how it was made ('kept': unchanged)."""
    if not data.startswith(PNG_SIGNATURE):
        return data, "kept"
    try:
        candidate = _smaller(data)
    except Exception:  # a file Pillow cannot read is published as it was written
        return data, "kept"
    if candidate is None or len(candidate[0]) >= len(data):
        return data, "kept"
    return candidate


def _smaller(data: bytes) -> tuple[bytes, str] | None:
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    if image.mode not in ("RGBA", "RGB", "LA", "L"):
        return None  # already a palette, or a mode (16-bit, CMYK) this does not handle
    rgba = image.convert("RGBA")
    exact = _exact_palette(rgba)
    if exact is not None:
        return _encode(exact, image), "exact palette"
    quantised = _faithful_quantised(rgba)
    if quantised is None:
        return None
    return _encode(quantised, image), "quantised palette"


def _exact_palette(rgba):  # type: ignore[no-untyped-def]
    """The image as a palette image with exactly its own colours, if it has at most 256."""
    import numpy as np
    from PIL import Image

    if rgba.getcolors(256) is None:  # more than 256 colours (Pillow stops counting there)
        return None
    pixels = np.asarray(rgba, dtype=np.uint8)
    packed = pixels.reshape(-1, 4).copy().view(">u4").ravel()  # R, G, B, A in one number
    # Ordered by colour, not by count or position: the same picture gives the same file.
    colours, indices = np.unique(packed, return_inverse=True)
    image = Image.frombytes("P", rgba.size, indices.astype(np.uint8).tobytes())
    palette = colours.astype(">u4").view(np.uint8).reshape(-1, 4)
    image.putpalette(palette.tobytes(), rawmode="RGBA")
    return image


def _faithful_quantised(rgba):  # type: ignore[no-untyped-def]
    """A 256-colour octree palette of the image, or None where it would show: on a photo
    (smooth shades of many colours) the palette bands visibly, on lines, text, flat areas
    and heat maps it does not."""
    from PIL import Image, ImageChops

    quantised = rgba.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    # What the page shows is colour times opacity ("RGBa"): a colour under alpha 0 does not
    # matter. One histogram of the absolute differences per channel gives both measures.
    difference = ImageChops.difference(rgba.convert("RGBa"),
                                       quantised.convert("RGBA").convert("RGBa"))
    histogram = difference.histogram()
    pixels = rgba.width * rgba.height
    for channel in range(4):
        counts = histogram[256 * channel:256 * (channel + 1)]
        mean = sum(level * count for level, count in enumerate(counts)) / pixels
        if mean > MAX_MEAN_ERROR or sum(counts[FAR + 1:]) > MAX_FAR_SHARE * pixels:
            return None
    return quantised


def _encode(image, original) -> bytes:  # type: ignore[no-untyped-def]
    """PNG bytes at zlib's highest level, with the original's text chunks and DPI."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in getattr(original, "text", {}).items():
        info.add_text(key, value)
    options = {"pnginfo": info, "compress_level": COMPRESS_LEVEL}
    if "dpi" in original.info:
        options["dpi"] = original.info["dpi"]
    if image.mode == "P" and "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    out = io.BytesIO()
    image.save(out, format="PNG", **options)
    return out.getvalue()


def optimise_file(path: Path) -> Saving:
    """Optimise one PNG in place (written only when it got smaller)."""
    data = path.read_bytes()
    smaller, how = optimise_png(data)
    if len(smaller) < len(data):
        path.write_bytes(smaller)
    return Saving(path.as_posix(), len(data), len(smaller), how)


def optimise_notebook(path: Path) -> list[Saving]:
    """Optimise the PNG figures inside an executed notebook, in place."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    savings = []
    for number, cell in enumerate(notebook.get("cells", [])):
        for output in cell.get("outputs", []):
            encoded = output.get("data", {}).get("image/png")
            if not isinstance(encoded, str):
                continue
            data = base64.b64decode(encoded)
            smaller, how = optimise_png(data)
            savings.append(Saving(f"{path.as_posix()}#cell-{number}", len(data), len(smaller),
                                  how))
            if len(smaller) < len(data):
                trailing = "\n" if encoded.endswith("\n") else ""
                output["data"]["image/png"] = base64.b64encode(smaller).decode() + trailing
    if any(s.after < s.before for s in savings):
        path.write_text(_notebook_json(notebook), encoding="utf-8")
    return savings


def _notebook_json(notebook: dict) -> str:
    """The layout nbformat writes (so the file stays as a notebook tool would save it)."""
    return json.dumps(notebook, sort_keys=True, indent=1,
                      ensure_ascii=False, separators=(",", ": ")) + "\n"


def optimise_folder(folder: Path) -> list[Saving]:
    """Every PNG file, and every notebook's figures, under `folder`, in sorted order."""
    savings: list[Saving] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() == ".png":
            savings.append(optimise_file(path))
        elif path.suffix == ".ipynb":
            savings.extend(optimise_notebook(path))
    return savings


def summary(savings: Iterable[Saving]) -> str:
    savings = list(savings)
    before = sum(s.before for s in savings)
    after = sum(s.after for s in savings)
    share = f" ({after / before:.0%} of before)" if before else ""
    return f"{len(savings)} figures: {before:,} -> {after:,} bytes{share}"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m dlnotes.images FOLDER_OR_FILE...", file=sys.stderr)
        return 2
    everything: list[Saving] = []
    for name in argv:
        path = Path(name)
        if path.is_dir():
            found = optimise_folder(path)
        elif path.suffix == ".ipynb":
            found = optimise_notebook(path)
        else:
            found = [optimise_file(path)]
        everything += found
        print(f"{name}: {summary(found)}")
    if len(argv) > 1:
        print(f"all: {summary(everything)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
