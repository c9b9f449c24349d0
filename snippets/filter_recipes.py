"""Which training recipe makes a small CNN's first layer learn edges?

A narrower copy of cnn_features.py's small AlexNet-style network learns
which of 16 bundled photos a 32 x 32 patch comes from, under four
recipes, each adding one change to the one before, five seeds each
(trained side by side). For each we measure the first-layer filters: the
share of their energy at low spatial frequencies and how strongly they
prefer one orientation (edges and bars do; colour blobs and noise do
not). A baseline shows how far the
patch's mean colour alone goes. Run it alone with `python
filter_recipes.py`; outputs go to DLNOTES_OUT (default
./outputs/filter_recipes). DLNOTES_QUICK=1 trains for fewer steps.
"""

# --8<-- [start:setup]
# Settings. Each recipe adds one change to the one above it; every recipe
# is trained once per seed (initialisation and batch order).
import io
import json
import os
import random
import sys
import zlib
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter
from skimage import data
from skimage.transform import rescale
from sklearn.datasets import load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]
PATCH = 32
LONG_SIDE = 256
CONTRAST_WINDOW = 31
STEPS = 12 if QUICK else 80  # per recipe
BATCH_SIZE = 16
VALID_PATCHES = 300 if QUICK else 1000
BASELINE_PATCHES = 400 if QUICK else 4000
LEARNING_RATE = 8e-3
WIDTHS = (32, 48)  # layers 2 and 3: narrower than the main model's
RECIPES = {  # each adds one change to the one above it
    "1. first try: colour, global normalisation": dict(
        gray=False, init=1.0, weight_decay=0.0, kernel=7),
    "2. + small layer-1 start, weight decay": dict(
        gray=False, init=0.1, weight_decay=0.05, kernel=7),
    "3. + gray, local contrast normalisation": dict(
        gray=True, init=0.1, weight_decay=0.05, kernel=7),
    "4. + larger first kernel (11×11)": dict(
        gray=True, init=0.1, weight_decay=0.05, kernel=11),
}

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/filter_recipes"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"filter_recipes.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
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


def bundled_photos():
    """16 photos that ship with the installed packages, RGB in [0, 1]."""
    china, flower = load_sample_images().images
    hopper = plt.imread(Path(matplotlib.get_data_path()) / "sample_data"
                        / "grace_hopper.jpg")
    photos = {"china": china, "flower": flower, "grace_hopper": hopper}
    for name in ["astronaut", "coffee", "chelsea", "rocket", "camera",
                 "brick", "grass", "gravel", "moon", "coins",
                 "immunohistochemistry", "page", "clock"]:
        photos[name] = getattr(data, name)()
    out = {}
    for name, image in photos.items():
        image = np.asarray(image, dtype=np.float32)
        image = image / 255.0 if image.max() > 1.5 else image
        image = (np.repeat(image[..., None], 3, axis=2) if image.ndim == 2
                 else image[..., :3])
        out[name] = rescale(image, LONG_SIDE / max(image.shape[:2]),
                            channel_axis=2,
                            anti_aliasing=True).astype(np.float32)
    return out


# --8<-- [start:inputs]
# Two ways to feed the photos: colour, normalised once for the whole data
# set (the usual way), or gray with each pixel normalised by its own
# neighbourhood, which removes colour, brightness and contrast as cues.
def local_contrast(gray):
    """Gray level minus its local mean, over the local std."""
    centred = gray - uniform_filter(gray, CONTRAST_WINDOW, mode="reflect")
    std = np.sqrt(uniform_filter(centred**2, CONTRAST_WINDOW,
                                 mode="reflect"))
    return torch.tensor(centred / np.maximum(std, std.mean()))[None]


photos = list(bundled_photos().values())
pixels = np.concatenate([p.reshape(-1, 3) for p in photos])
mean, std = pixels.mean(axis=0), pixels.std(axis=0)
colour_inputs = [torch.tensor((p - mean) / std).permute(2, 0, 1)
                 for p in photos]  # global
gray_inputs = [local_contrast(p.mean(axis=2)) for p in photos]  # local
# --8<-- [end:inputs]


def stack(inputs):
    """All photos in one zero-padded tensor, and their sizes."""
    heights = torch.tensor([image.shape[1] for image in inputs])
    widths = torch.tensor([image.shape[2] for image in inputs])
    out = torch.zeros(len(inputs), inputs[0].shape[0], int(heights.max()),
                      int(widths.max()))
    for i, image in enumerate(inputs):
        out[i, :, :image.shape[1], :image.shape[2]] = image
    return out, heights, widths


STACKS = {False: stack(colour_inputs), True: stack(gray_inputs)}


def sample(gray, n, generator, valid=False):
    """n random patches (training ones flipped half the time) and the
    photo each comes from; the bottom fifth of every photo is kept for
    validation."""
    images, heights, widths = STACKS[gray]
    labels = torch.randint(len(images), (n,), generator=generator)
    h, w = heights[labels], widths[labels]
    split = h - torch.clamp(h // 5, min=PATCH)
    low = split if valid else torch.zeros_like(split)
    high = h - PATCH if valid else split - PATCH
    u = torch.rand(2, n, generator=generator)
    y = low + (u[0] * (high - low + 1)).long()
    x = (u[1] * (w - PATCH + 1)).long()
    flip = torch.rand(n, generator=generator) < 0.5
    patches = torch.stack([images[i, :, r:r + PATCH, c:c + PATCH]
                           for i, r, c in zip(labels.tolist(), y.tolist(),
                                              x.tolist(), strict=True)])
    if not valid:
        patches = torch.where(flip[:, None, None, None], patches.flip(3),
                              patches)
    return patches, labels  # (n, channels, PATCH, PATCH), (n,)


def spectrum_measures(kernel, size=32):
    """Low-frequency share (wavelengths of 8 px or more) and orientation
    selectivity (0: no preferred orientation, 1: all along one)."""
    kernel = np.atleast_3d(kernel)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2
             ).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size),
                         indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= 0.125].sum() / power.sum()
    ac = np.where(radius > 0, power, 0.0)
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation


def per_seed(filters):
    """Mean (low share, orientation) of each seed's 32 filters."""
    filters = filters.view(len(SEEDS), -1, *filters.shape[1:])
    return np.array([np.mean([spectrum_measures(f.permute(1, 2, 0).numpy())
                              for f in seed], axis=0) for seed in filters])


def grouped(convs):
    """One convolution holding several seeds' convolutions as groups."""
    c = convs[0]
    conv = nn.Conv2d(len(convs) * c.in_channels,
                     len(convs) * c.out_channels, c.kernel_size,
                     c.stride, c.padding, groups=len(convs))
    with torch.no_grad():
        conv.weight.copy_(torch.cat([c.weight for c in convs]))
        conv.bias.copy_(torch.cat([c.bias for c in convs]))
    return conv


class Seeds(nn.Module):
    """One small network per seed, side by side: grouped convolutions
    (group s holds seed s's filters) and a batched last layer."""

    def __init__(self, seeds, channels, kernel, init):
        super().__init__()
        nets = []
        for seed in seeds:
            torch.manual_seed(seed)
            nets.append(nn.Sequential(
                nn.Conv2d(channels, 32, kernel, stride=2,
                          padding=kernel // 2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, WIDTHS[0], 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(*WIDTHS, 3, padding=1), nn.ReLU(),
                nn.Linear(WIDTHS[1], len(photos))))
            with torch.no_grad():
                nets[-1][0].weight.mul_(init)
        self.n = len(seeds)
        self.features = nn.Sequential(*[
            grouped([net[i] for net in nets]) if isinstance(m, nn.Conv2d)
            else m for i, m in enumerate(nets[0][:8])])
        self.weight = nn.Parameter(torch.stack([n[8].weight for n in nets]))
        self.bias = nn.Parameter(torch.stack([n[8].bias for n in nets]))

    def forward(self, x):  # x: (batch, seeds, channels, 32, 32)
        x = x.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        h = self.features(x).mean(dim=(2, 3)).view(len(x), self.n, -1)
        return torch.einsum("bsf,scf->bsc", h, self.weight) + self.bias


# --8<-- [start:recipe]
# One recipe, all seeds at once: the same training loop as the main
# model, with fewer and smaller batches (to fit twenty runs in seconds).
# Returns the layer-1 filters before and after training and each seed's
# validation accuracy.
def train(recipe):
    gray = recipe["gray"]
    model = Seeds(SEEDS, 1 if gray else 3, recipe["kernel"],
                  recipe["init"]).to(device)
    before = model.features[0].weight.detach().cpu().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE,
                                  weight_decay=recipe["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, LEARNING_RATE, total_steps=STEPS)
    generators = [torch.Generator().manual_seed(1000 + s) for s in SEEDS]
    for _ in range(STEPS):
        batches = [sample(gray, BATCH_SIZE, g) for g in generators]
        x = torch.stack([b[0] for b in batches], dim=1).to(device)
        y = torch.stack([b[1] for b in batches], dim=1).to(device)
        losses = F.cross_entropy(model(x).transpose(1, 2), y,
                                 reduction="none")
        optimizer.zero_grad()
        losses.mean(dim=0).sum().backward()
        optimizer.step()
        schedule.step()
    model.eval()
    x, y = sample(gray, VALID_PATCHES, torch.Generator().manual_seed(99),
                  valid=True)  # the same patches for every recipe
    with torch.no_grad():
        logits = model(x[:, None].expand(-1, len(SEEDS), -1, -1, -1)
                       .to(device))
    accuracy = (logits.argmax(2).cpu() == y[:, None]).float().mean(0)
    after = model.features[0].weight.detach().cpu()
    return before, after, accuracy.numpy()
# --8<-- [end:recipe]


# --8<-- [start:run]
# Every recipe, and the mean +- std over seeds of what it learned.
results, learned = [], {}
for name, recipe in RECIPES.items():
    before, after, accuracy = train(recipe)
    learned[name] = after[:32]  # seed 0's filters, to look at
    (low0, orientation0), (low, orientation) = (per_seed(before).T,
                                                per_seed(after).T)
    results.append(dict(accuracy=accuracy, low=low, orientation=orientation,
                        orientation_random=orientation0,
                        low_random=low0))
    print(f"{name}: accuracy {accuracy.round(3)}, low-frequency energy "
          f"{low.round(3)}, orientation {orientation.round(3)} "
          f"(random {orientation0.round(3)})")
# --8<-- [end:run]


# --8<-- [start:baseline]
# The cheapest cue, on its own: each patch's mean and spread of red,
# green and blue (6 numbers), and logistic regression on them.
def colour_stats(patches):
    return torch.cat([patches.mean(dim=(2, 3)), patches.std(dim=(2, 3))],
                     dim=1).numpy()


x_valid, y_valid = sample(False, VALID_PATCHES,
                          torch.Generator().manual_seed(99), valid=True)
baseline_accuracy = []
for seed in SEEDS:
    x, y = sample(False, BASELINE_PATCHES,
                  torch.Generator().manual_seed(1000 + seed))
    scaler = StandardScaler().fit(colour_stats(x))
    classifier = LogisticRegression(max_iter=1000).fit(
        scaler.transform(colour_stats(x)), y.numpy())
    baseline_accuracy.append(classifier.score(
        scaler.transform(colour_stats(x_valid)), y_valid.numpy()))
baseline_accuracy = np.array(baseline_accuracy)
print(f"colour statistics + logistic regression {baseline_accuracy}")
# --8<-- [end:baseline]


def draw_recipes():
    fig, axes = plt.subplots(2, 2, figsize=(6.4, 4.2))
    for ax, (name, filters) in zip(axes.flat, learned.items(), strict=True):
        n, channels, k, _ = filters.shape
        columns, rows = 8, -(-n // 8)
        grid = np.zeros((rows * (k + 1) + 1, columns * (k + 1) + 1, 4))
        for i, f in enumerate(filters.numpy()):
            f = f / (2 * np.abs(f).max() + 1e-12) + 0.5  # 0.5: zero weight
            r, c = divmod(i, columns)
            tile = f.transpose(1, 2, 0) if channels == 3 else np.repeat(
                f[0][..., None], 3, axis=2)
            grid[1 + r * (k + 1):1 + r * (k + 1) + k,
                 1 + c * (k + 1):1 + c * (k + 1) + k] = np.dstack(
                     [tile, np.ones((k, k))])
        ax.imshow(grid, interpolation="nearest")
        ax.set_title(name.split(":")[0].replace("+ ", "").replace(
            " normalisation", ""), fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig


def spread(ax, columns, title, reference=None, random=None):
    """Each seed as a dot, the mean as a bar, the std as an error bar;
    dashed: each recipe's filters at random initialisation, or a
    reference level across the whole plot."""
    ink = plt.rcParams["text.color"]
    for i, values in enumerate(columns):
        ax.bar(i + 1, values.mean(), yerr=values.std(), color=COLORS[i],
               alpha=0.5, capsize=4, ecolor=ink)
        ax.plot(i + 1 + np.linspace(-0.15, 0.15, len(values)), values, "o",
                color=COLORS[i], markersize=4)
        if random is not None:
            ax.hlines(random[i].mean(), i + 0.6, i + 1.4, colors=ink,
                      linestyles="--", lw=1)
    if reference is not None:
        ax.axhline(reference, ls="--", lw=1, color=ink)
    ax.set_xticks(range(1, len(columns) + 1))
    ax.set_xlabel("recipe")
    ax.set_title(title)
    ax.grid(axis="y")


def draw_spread():
    fig, axes = plt.subplots(1, 3, figsize=(6.4, 3.1))
    spread(axes[0], [r["orientation"] for r in results],
           "orientation\nselectivity",
           random=[r["orientation_random"] for r in results])
    spread(axes[1], [r["low"] for r in results], "low-frequency\nenergy",
           random=[r["low_random"] for r in results])
    spread(axes[2], [r["accuracy"] for r in results],
           "validation\naccuracy", reference=baseline_accuracy.mean())
    fig.tight_layout()
    return fig


# --8<-- [start:report]
# The table and the numbers the page quotes, as mean +- std over seeds
# and paired counts ("recipe 3 beat recipe 1 in n of N seeds").
def pm(values, fmt=".3f"):
    return f"{np.mean(values):{fmt}} ± {np.std(values):{fmt}}"


table = pd.DataFrame([{
    "recipe": name, "valid accuracy": pm(r["accuracy"], ".1%"),
    "low-freq. energy": pm(r["low"]),
    "orientation selectivity": pm(r["orientation"]),
    "orientation, random init": pm(r["orientation_random"]),
} for name, r in zip(RECIPES, results, strict=True)])
(OUT / "recipes.md").write_text(table.to_markdown(index=False) + "\n")
table.to_csv(OUT / "recipes.csv", index=False)
save_figure(draw_recipes, "recipes")
save_figure(draw_spread, "recipes_spread")

r1, r2, r3, r4 = results
metrics = {
    "n_seeds": len(SEEDS),
    "recipes": len(results),
    "steps_per_recipe": STEPS,
    "batch_size": BATCH_SIZE,
    **{f"recipe{i + 1}_{key}_{stat}": round(float(f(r[key])), 4)
       for i, r in enumerate(results)
       for key in ("accuracy", "low", "orientation", "low_random",
                   "orientation_random")
       for stat, f in (("mean", np.mean), ("std", np.std))},
    "random_orientation_mean": round(float(
        np.mean([r["orientation_random"] for r in results])), 4),
    "baseline_colour_accuracy_mean": round(float(baseline_accuracy.mean()),
                                           4),
    "baseline_colour_accuracy_std": round(float(baseline_accuracy.std()),
                                          4),
    # recipe 3 (gray, local contrast: the main model's) against recipe 1
    "edges_over_first_try": round(float(r3["orientation"].mean()
                                        / r1["orientation"].mean()), 4),
    "edges_over_first_try_wins": int((r3["orientation"]
                                      > r1["orientation"]).sum()),
    "blobs_low_frequency_wins": int((r2["low"] > r1["low"]).sum()),
    "colour_accuracy_wins": int((r2["accuracy"] > r3["accuracy"]).sum()),
    "larger_kernel_orientation_wins": int((r4["orientation"]
                                           > r3["orientation"]).sum()),
    "recipe1_orientation_over_random": round(float(
        r1["orientation"].mean() / r1["orientation_random"].mean()), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick recipes == 4
# dlnotes: expect quick n_seeds == 2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full recipe3_accuracy_mean >= 0.1
# dlnotes: expect full recipe2_accuracy_mean >= 0.1
# dlnotes: expect full edges_over_first_try_wins >= 3
# dlnotes: expect full blobs_low_frequency_wins >= 3
