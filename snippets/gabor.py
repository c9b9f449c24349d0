"""A hand-made bank of edge detectors: Gabor filters and what they see.

Nothing here is learned: the kernels are written down by formula
(skimage.filters.gabor_kernel), as computer vision did before deep
learning. They show what "edge detector" means, and give the numbers a
learned first layer is compared with. Run it alone with `python gabor.py`;
outputs go to DLNOTES_OUT (default ./outputs/gabor). Quick and full mode
do the same (it takes a second).
"""

# --8<-- [start:setup]
# Settings: three stripe widths, four orientations. No randomness at all:
# every kernel comes from a formula.
import io
import json
import os
import random
import sys
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.signal import fftconvolve
from skimage import data
from skimage.filters import gabor_kernel
from skimage.transform import rescale

QUICK = os.environ.get("DLNOTES_QUICK") == "1"  # same work in both modes
FREQUENCIES = [0.1, 0.2, 0.3]  # cycles per pixel: wide to narrow stripes
ORIENTATIONS = [0, 45, 90, 135]  # degrees
SHOWN_FREQUENCY = 0.2  # the kernels whose responses the figure shows
LOW_FREQUENCY = 0.125  # cycles/px: "low" is a wavelength of 8 px or more
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/gabor"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"gabor.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
# --8<-- [end:setup]


# --8<-- [start:style]
# One figure style for the site: figures 6.4 in wide saved at 200 dpi are
# shown 640 px wide, so 9-pt text reads at 12.5 px. Okabe-Ito colours stay
# distinct for colour-blind readers. Each figure is drawn twice, with dark
# ink for the light palette and light ink for the dark one, on a
# transparent background.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9"]
STYLE = {
    "figure.figsize": (6.4, 3.6), "font.size": 10, "axes.titlesize": 10,
    "axes.labelsize": 10, "legend.fontsize": 9, "xtick.labelsize": 9,
    "ytick.labelsize": 9, "axes.prop_cycle": plt.cycler(color=COLORS),
    "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "grid.color": "#8c8c8c", "grid.alpha": 0.3,
}
INKS = {"": "#1f1f1f", "-dark": "#e2e2e2"}  # file suffix: text, axes colour


def save_figure(draw, name):
    """Draw the figure once per palette: name.png and name-dark.png.

    The PNG's Comment records the smallest text size, which the site's
    tests turn into on-screen pixels.
    """
    for suffix, ink in INKS.items():
        inks = dict.fromkeys(("text.color", "axes.labelcolor",
                              "axes.edgecolor", "xtick.color",
                              "ytick.color"), ink)
        with plt.rc_context({**STYLE, **inks}):
            fig = draw()
            fig.savefig(png := io.BytesIO(), format="png", dpi=200,
                        transparent=True)  # one drawing; it sets the text
            smallest = min(t.get_fontsize() for t in fig.findobj(plt.Text)
                           if t.get_visible() and t.get_text())
            # the Comment goes in a tEXt chunk after the 33-byte PNG header
            note = f"Comment\0smallest-text-pt={smallest:g}".encode()
            chunk = (len(note).to_bytes(4, "big") + b"tEXt" + note
                     + zlib.crc32(b"tEXt" + note).to_bytes(4, "big"))
            data = png.getvalue()
            path = OUT / f"{name}{suffix}.png"
            path.write_bytes(data[:33] + chunk + data[33:])
            plt.close(fig)
# --8<-- [end:style]


# --8<-- [start:measures]
# Two numbers for a filter, from its 2-D Fourier spectrum: the share of
# its energy at low frequencies, and how much of the rest points one way.
def spectrum_measures(kernel, size=32):
    """Low-frequency share and orientation selectivity (0: no preferred
    orientation, 1: all of the energy along one orientation)."""
    kernel = np.atleast_3d(kernel)  # (height, width, channels)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2
             ).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size),
                         indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= LOW_FREQUENCY].sum() / power.sum()
    ac = np.where(radius > 0, power, 0.0)  # leave out the mean (DC) term
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation
# --8<-- [end:measures]


# --8<-- [start:bank]
# The bank: one complex kernel per (frequency, orientation); its real
# part responds to lines, its imaginary part to edges. Their combined
# strength at each pixel is the filter's response to the photo.
bank = {(f, theta): gabor_kernel(f, theta=np.deg2rad(theta))
        for f in FREQUENCIES for theta in ORIENTATIONS}
photo = rescale(data.camera() / 255.0, 0.5, anti_aliasing=True)  # 256 px
LINES = {0: "vertical", 45: "rising diagonal", 90: "horizontal",
         135: "falling diagonal"}  # the edges each orientation picks up
responses = {}
for theta in ORIENTATIONS:
    kernel = bank[(SHOWN_FREQUENCY, theta)]
    # reflect at the border, so the frame is not an edge
    padded = np.pad(photo, kernel.shape[0] // 2, mode="reflect")
    even = fftconvolve(padded, kernel.real, mode="valid")
    odd = fftconvolve(padded, kernel.imag, mode="valid")
    responses[theta] = np.hypot(even, odd)
# --8<-- [end:bank]


def draw_bank():
    fig, axes = plt.subplots(len(FREQUENCIES), len(ORIENTATIONS),
                             figsize=(5.2, 4.2))
    for ax, ((f, theta), kernel) in zip(axes.flat, bank.items(),
                                        strict=True):
        limit = np.abs(kernel.real).max()
        ax.imshow(kernel.real, cmap="gray", vmin=-limit, vmax=limit)
        ax.set_xticks([])
        ax.set_yticks([])
        if f == FREQUENCIES[0]:
            ax.set_title(f"θ = {theta}°", fontsize=9)
        if theta == 0:
            ax.set_ylabel(f"{f} cycles/px", fontsize=9)
    fig.tight_layout()
    return fig


def draw_responses():
    fig, axes = plt.subplots(2, 3, figsize=(6.4, 4.6))
    axes[0, 0].imshow(photo, cmap="gray", interpolation="nearest")
    axes[0, 0].set_title("photo", fontsize=9)
    top = max(r.max() for r in responses.values())
    panels = [axes[0, 1], axes[0, 2], axes[1, 1], axes[1, 2]]
    for ax, theta in zip(panels, ORIENTATIONS, strict=True):
        ax.imshow(responses[theta], cmap="magma", vmin=0, vmax=top,
                  interpolation="nearest")
        ax.set_title(f"θ = {theta}°: {LINES[theta]}", fontsize=9)
    axes[1, 0].imshow(np.max(list(responses.values()), axis=0),
                      cmap="magma", vmin=0, vmax=top,
                      interpolation="nearest")
    axes[1, 0].set_title("strongest of the four", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --8<-- [start:report]
# The bank's two spectrum numbers, and each orientation's share of the
# total response on this photo.
rows = []
for (f, theta), kernel in bank.items():
    low, orientation = spectrum_measures(kernel.real)
    rows.append({"frequency (cycles/px)": f, "orientation (°)": theta,
                 "size (px)": f"{kernel.shape[0]}×{kernel.shape[1]}",
                 "low-frequency energy": low,
                 "orientation selectivity": orientation})
table = pd.DataFrame(rows)
table.to_csv(OUT / "bank.csv", index=False)
total = sum(r.mean() for r in responses.values())
by_angle = pd.DataFrame({
    "orientation (°)": ORIENTATIONS,
    "edges it picks up": [LINES[t] for t in ORIENTATIONS],
    "share of the response": [responses[t].mean() / total
                              for t in ORIENTATIONS]})
shown = by_angle.copy()
shown["share of the response"] = shown["share of the response"].map(
    "{:.1%}".format)
(OUT / "responses.md").write_text(shown.to_markdown(index=False) + "\n")
save_figure(draw_bank, "bank")
save_figure(draw_responses, "responses")

strongest = by_angle.loc[by_angle["share of the response"].idxmax()]
metrics = {
    "n_kernels": len(bank),
    "low_frequency_energy": round(float(
        table["low-frequency energy"].mean()), 4),
    "orientation_selectivity": round(float(
        table["orientation selectivity"].mean()), 4),
    "strongest_orientation": int(strongest["orientation (°)"]),
    "strongest_share": round(float(strongest["share of the response"]), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(table.to_string(index=False))
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick orientation_selectivity >= 0.8
# dlnotes: expect quick n_kernels == 12
# dlnotes: expect full orientation_selectivity >= 0.8
