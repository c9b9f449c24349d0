"""Which training recipe makes a small CNN's first layer learn edge detectors?

The same small AlexNet-style network as cnn_features.py learns which of 16 bundled photos a
32 x 32 patch comes from, under four recipes, each adding one change to the one before. For each
we measure the first-layer filters: the share of their energy at low spatial frequencies and how
strongly they prefer one orientation (edges and bars do; colour blobs and noise do not).
Run it alone with `python filter_recipes.py`; outputs go to DLNOTES_OUT (default
./outputs/filter_recipes). DLNOTES_QUICK=1 trains for fewer steps.
"""
# dlnotes: expect quick recipes == 4
# dlnotes: expect quick best_orientation_gain >= 1.2
# dlnotes: expect full best_orientation_gain >= 2.5
# dlnotes: expect full edges_over_first_try >= 1.5

# --8<-- [start:setup]
import json
import os
import random
import sys
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
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
PATCH = 32
LONG_SIDE = 256
CONTRAST_WINDOW = 31
STEPS = 15 if QUICK else 230  # per recipe
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SEED = 0
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
    sys.exit(f"filter_recipes.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


def bundled_photos():
    """16 photos that ship with the installed packages, as float RGB arrays in [0, 1]."""
    china, flower = load_sample_images().images
    hopper = plt.imread(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    photos = {"china": china, "flower": flower, "grace_hopper": hopper}
    for name in ["astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass",
                 "gravel", "moon", "coins", "immunohistochemistry", "page", "clock"]:
        photos[name] = getattr(data, name)()
    out = []
    for image in photos.values():
        image = np.asarray(image, dtype=np.float32)
        image = image / 255.0 if image.max() > 1.5 else image
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        out.append(rescale(image, LONG_SIDE / max(image.shape[:2]), channel_axis=2,
                           anti_aliasing=True).astype(np.float32))
    return out


# --8<-- [start:inputs]
def local_contrast(gray):
    """Gray level minus its local mean, divided by the local standard deviation."""
    centred = gray - uniform_filter(gray, CONTRAST_WINDOW, mode="reflect")
    std = np.sqrt(uniform_filter(centred**2, CONTRAST_WINDOW, mode="reflect"))
    return torch.tensor(centred / np.maximum(std, std.mean()))[None]


photos = bundled_photos()
pixels = np.concatenate([p.reshape(-1, 3) for p in photos])
mean, std = pixels.mean(axis=0), pixels.std(axis=0)
colour_inputs = [torch.tensor((p - mean) / std).permute(2, 0, 1) for p in photos]  # global
gray_inputs = [local_contrast(p.mean(axis=2)) for p in photos]  # local, per pixel
# --8<-- [end:inputs]


def sample(inputs, batch_size, generator, valid=False):
    """Random patches (flipped half the time) and the photo each comes from; the bottom fifth
    of every photo is kept for validation."""
    labels = torch.randint(len(inputs), (batch_size,), generator=generator)
    patches = torch.empty(batch_size, inputs[0].shape[0], PATCH, PATCH)
    for i, label in enumerate(labels.tolist()):
        image = inputs[label]
        height, width = image.shape[1:]
        split = height - max(PATCH, height // 5)
        low, high = (split, height - PATCH) if valid else (0, split - PATCH)
        y = torch.randint(low, high + 1, (1,), generator=generator).item()
        x = torch.randint(0, width - PATCH + 1, (1,), generator=generator).item()
        patch = image[:, y:y + PATCH, x:x + PATCH]
        flip = not valid and torch.rand(1, generator=generator).item() < 0.5
        patches[i] = patch.flip(2) if flip else patch
    return patches.to(device), labels.to(device)


def spectrum_measures(kernel, size=32):
    """Share of a filter's energy at low spatial frequencies, and how much of the rest points
    one way (0: no preferred orientation, 1: all of it along one orientation)."""
    kernel = np.atleast_3d(kernel)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= 0.125].sum() / power.sum()
    ac = np.where(radius > 0, power, 0.0)
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation


def mean_measures(filters):
    return np.array([spectrum_measures(f.permute(1, 2, 0).numpy()) for f in filters]).mean(0)


# --8<-- [start:recipe]
def train(recipe):
    """Train the small network under one recipe; return its layer-1 filters before and after,
    and its validation accuracy."""
    torch.manual_seed(SEED)
    inputs = gray_inputs if recipe["gray"] else colour_inputs
    k = recipe["kernel"]
    model = nn.Sequential(
        nn.Conv2d(inputs[0].shape[0], 32, k, stride=2, padding=k // 2), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, len(inputs)),
    ).to(device)
    with torch.no_grad():
        model[0].weight.mul_(recipe["init"])
    before = model[0].weight.detach().cpu().clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE,
                                  weight_decay=recipe["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=STEPS)
    generator = torch.Generator().manual_seed(SEED)
    for _ in range(STEPS):
        x, y = sample(inputs, BATCH_SIZE, generator)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        x, y = sample(inputs, 1000, torch.Generator().manual_seed(SEED + 1), valid=True)
        accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    return before, model[0].weight.detach().cpu(), accuracy
# --8<-- [end:recipe]


# --8<-- [start:run]
rows, learned = [], {}
for name, recipe in RECIPES.items():
    before, after, accuracy = train(recipe)
    learned[name] = after
    (low_before, orientation_before), (low, orientation) = mean_measures(before), mean_measures(
        after)
    rows.append({"recipe": name, "valid accuracy": accuracy,
                 "low-freq. energy": low, "low-freq. energy, random init": low_before,
                 "orientation": orientation, "orientation, random init": orientation_before,
                 "orientation gain": orientation / orientation_before})
    print(f"{name}: accuracy {accuracy:.3f}, low-frequency energy {low:.3f} "
          f"(random {low_before:.3f}), orientation {orientation:.3f} "
          f"(random {orientation_before:.3f})")
table = pd.DataFrame(rows)
# --8<-- [end:run]

# --8<-- [start:report]
(OUT / "recipes.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")
table.to_csv(OUT / "recipes.csv", index=False)

fig, axes = plt.subplots(2, 2, figsize=(11, 6.4))
for ax, (name, filters) in zip(axes.flat, learned.items(), strict=True):
    n, channels, k, _ = filters.shape
    columns = 8
    rows_ = -(-n // columns)
    grid = np.ones((rows_ * (k + 1) + 1, columns * (k + 1) + 1, 3))
    for i, f in enumerate(filters.numpy()):
        f = f / (2 * np.abs(f).max() + 1e-12) + 0.5  # 0.5: zero weight, each filter own scale
        r, c = divmod(i, columns)
        grid[1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = (
            f.transpose(1, 2, 0) if channels == 3 else f[0][..., None])
    ax.imshow(grid, interpolation="nearest")
    ax.set_title(name, fontsize=10)
    ax.axis("off")
fig.suptitle(f"The 32 layer-1 filters after {STEPS} steps under each recipe "
             "(gray = 0, each filter scaled to its own range)", fontsize=11)
fig.tight_layout()
fig.savefig(OUT / "recipes.png", dpi=110)
plt.close(fig)

first, best = rows[0], max(rows, key=lambda r: r["orientation"])
metrics = {
    "recipes": len(rows),
    "steps_per_recipe": STEPS,
    **{f"recipe{i + 1}_{key}": round(float(r[column]), 4) for i, r in enumerate(rows)
       for key, column in [("accuracy", "valid accuracy"),
                           ("low_frequency", "low-freq. energy"),
                           ("orientation", "orientation"),
                           ("orientation_gain", "orientation gain")]},
    "best_recipe": rows.index(best) + 1,
    "best_orientation_gain": round(float(best["orientation gain"]), 4),
    # recipe 3 (gray, local contrast: the recipe of cnn_features.py) against the first try
    "edges_over_first_try": round(float(rows[2]["orientation"] / first["orientation"]), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
