"""A hand-made bank of edge detectors: Gabor filters and what they respond to in a photo.

Nothing here is learned: the kernels are written down by formula (skimage.filters.gabor_kernel),
as computer vision did before deep learning. They show what "edge detector" means, and give the
numbers a learned first layer is compared with. Run it alone with `python gabor.py`; outputs go to
DLNOTES_OUT (default ./outputs/gabor). Quick and full mode do the same (it takes a second).
"""
# dlnotes: expect quick orientation_selectivity >= 0.8
# dlnotes: expect quick n_kernels == 12
# dlnotes: expect full orientation_selectivity >= 0.8

# --8<-- [start:setup]
import json
import os
import random
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.signal import fftconvolve
from skimage import data
from skimage.filters import gabor_kernel
from skimage.transform import rescale

QUICK = os.environ.get("DLNOTES_QUICK") == "1"  # same work in both modes: it is fast
FREQUENCIES = [0.1, 0.2, 0.3]  # cycles per pixel: wide, medium and narrow stripes
ORIENTATIONS = [0, 45, 90, 135]  # degrees
SHOWN_FREQUENCY = 0.2  # the kernels whose responses the figure shows
LOW_FREQUENCY = 0.125  # cycles per pixel: "low" means a wavelength of 8 pixels or more
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/gabor"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"gabor.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
# --8<-- [end:setup]


# --8<-- [start:measures]
def spectrum_measures(kernel, size=32):
    """Share of a filter's energy at low spatial frequencies, and how much of the rest points
    one way (0: no preferred orientation, 1: all of it along one orientation)."""
    kernel = np.atleast_3d(kernel)  # (height, width, channels)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= LOW_FREQUENCY].sum() / power.sum()
    ac = np.where(radius > 0, power, 0.0)  # leave out the mean (DC) term
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation
# --8<-- [end:measures]


# --8<-- [start:bank]
bank = {(f, theta): gabor_kernel(f, theta=np.deg2rad(theta))  # complex: even + odd part
        for f in FREQUENCIES for theta in ORIENTATIONS}
photo = rescale(data.camera() / 255.0, 0.5, anti_aliasing=True)  # 256 x 256, grayscale
# the edges and lines each orientation picks up
LINES = {0: "vertical", 45: "rising diagonal", 90: "horizontal", 135: "falling diagonal"}
responses = {}
for theta in ORIENTATIONS:
    kernel = bank[(SHOWN_FREQUENCY, theta)]
    padded = np.pad(photo, kernel.shape[0] // 2, mode="reflect")  # no fake edge at the border
    even = fftconvolve(padded, kernel.real, mode="valid")
    odd = fftconvolve(padded, kernel.imag, mode="valid")
    responses[theta] = np.hypot(even, odd)  # the edge/line strength at that orientation
# --8<-- [end:bank]

# --8<-- [start:report]
rows = []
for (f, theta), kernel in bank.items():
    low, orientation = spectrum_measures(kernel.real)
    rows.append({"frequency (cycles/px)": f, "orientation (°)": theta,
                 "size (px)": f"{kernel.shape[0]}×{kernel.shape[1]}",
                 "low-frequency energy": low, "orientation selectivity": orientation})
table = pd.DataFrame(rows)
table.to_csv(OUT / "bank.csv", index=False)
total = sum(r.mean() for r in responses.values())
by_angle = pd.DataFrame({"orientation (°)": ORIENTATIONS,
                         "edges it picks up": [LINES[t] for t in ORIENTATIONS],
                         "share of the response": [responses[t].mean() / total
                                                   for t in ORIENTATIONS]})
shown = by_angle.copy()
shown["share of the response"] = shown["share of the response"].map("{:.1%}".format)
(OUT / "responses.md").write_text(shown.to_markdown(index=False) + "\n")

fig, axes = plt.subplots(len(FREQUENCIES), len(ORIENTATIONS), figsize=(6.5, 5.2))
for ax, ((f, theta), kernel) in zip(axes.flat, bank.items(), strict=True):
    limit = np.abs(kernel.real).max()
    ax.imshow(kernel.real, cmap="gray", vmin=-limit, vmax=limit)
    ax.set_xticks([])
    ax.set_yticks([])
    if f == FREQUENCIES[0]:
        ax.set_title(f"θ = {theta}°", fontsize=9)
    if theta == 0:
        ax.set_ylabel(f"{f} cycles/px", fontsize=9)
fig.suptitle("A hand-made Gabor filter bank (written by formula, not learned)")
fig.tight_layout()
fig.savefig(OUT / "bank.png", dpi=110)
plt.close(fig)

fig, axes = plt.subplots(2, 3, figsize=(9.5, 6.6))
axes[0, 0].imshow(photo, cmap="gray")
axes[0, 0].set_title("photo (skimage 'camera')", fontsize=9)
top = max(r.max() for r in responses.values())
for ax, theta in zip([axes[0, 1], axes[0, 2], axes[1, 1], axes[1, 2]], ORIENTATIONS, strict=True):
    ax.imshow(responses[theta], cmap="magma", vmin=0, vmax=top)
    ax.set_title(f"hand-made Gabor, θ = {theta}°\n({LINES[theta]} edges)", fontsize=9)
axes[1, 0].imshow(np.max(list(responses.values()), axis=0), cmap="magma", vmin=0, vmax=top)
axes[1, 0].set_title("strongest of the four:\nan edge map", fontsize=9)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"Response strength of the {SHOWN_FREQUENCY} cycles/px Gabor filters\n"
             "(bright = strong edge or line at that orientation)", fontsize=10)
fig.tight_layout()
fig.savefig(OUT / "responses.png", dpi=110)
plt.close(fig)

strongest = by_angle.loc[by_angle["share of the response"].idxmax()]
metrics = {
    "n_kernels": len(bank),
    "low_frequency_energy": round(float(table["low-frequency energy"].mean()), 4),
    "orientation_selectivity": round(float(table["orientation selectivity"].mean()), 4),
    "strongest_orientation": int(strongest["orientation (°)"]),
    "strongest_share": round(float(strongest["share of the response"]), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(table.to_string(index=False))
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
