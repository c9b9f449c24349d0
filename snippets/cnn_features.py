"""What a small AlexNet-style CNN learns, layer by layer, shown the way Zeiler & Fergus did.

The network learns to tell which of 16 bundled photos (scikit-image, scikit-learn, Matplotlib)
a 32 x 32 patch was cut from. Then we look inside: the layer-1 filters next to their random
initialisation, the patches that excite units of layers 1-3 most, and the feature maps of one
photo. Run it alone with `python cnn_features.py`; outputs go to DLNOTES_OUT (default
./outputs/cnn_features). DLNOTES_QUICK=1 trains for fewer steps.
"""
# dlnotes: expect quick orientation_gain >= 1.5
# dlnotes: expect quick low_frequency_gain >= 1.5
# dlnotes: expect quick valid_accuracy >= 0.15
# dlnotes: expect full valid_accuracy >= 0.45
# dlnotes: expect full orientation_gain >= 2.5
# dlnotes: expect full low_frequency_gain >= 3

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
PATCH = 32  # pixels: each training example is a 32 x 32 patch
LONG_SIDE = 256  # every photo is shrunk so that its longer side has this many pixels
CONTRAST_WINDOW = 31  # pixels: local contrast normalisation, about one patch wide
STEPS = 40 if QUICK else 700
BATCH_SIZE = 64
VALID_PATCHES = 500 if QUICK else 2000
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 0.05  # pulls every weight the loss does not need back towards zero
FIRST_LAYER_INIT = 0.1  # start layer 1 at a tenth of the default size (see the page)
TOP = 9  # patches shown per unit
UNITS_SHOWN = 8  # units shown per layer
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/cnn_features"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"cnn_features.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:data]
def bundled_photos():
    """16 photos that ship with the installed packages, as float RGB arrays in [0, 1]."""
    china, flower = load_sample_images().images
    hopper = plt.imread(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")
    photos = {"china": china, "flower": flower, "grace_hopper": hopper}
    for name in ["astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass",
                 "gravel", "moon", "coins", "immunohistochemistry",
                 "page", "clock"]:
        photos[name] = getattr(data, name)()
    out = {}
    for name, image in photos.items():
        image = np.asarray(image, dtype=np.float32)
        image = image / 255.0 if image.max() > 1.5 else image
        image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        out[name] = rescale(image, LONG_SIDE / max(image.shape[:2]), channel_axis=2,
                            anti_aliasing=True).astype(np.float32)
    return out


def local_contrast(gray):
    """Subtract the local mean and divide by the local standard deviation, pixel by pixel:
    the brightness and contrast of a region no longer tell which photo it came from."""
    centred = gray - uniform_filter(gray, CONTRAST_WINDOW, mode="reflect")
    std = np.sqrt(uniform_filter(centred**2, CONTRAST_WINDOW, mode="reflect"))
    # flat regions (std below the photo's average) are not blown up into noise
    return torch.tensor(centred / np.maximum(std, std.mean()))[None]  # (1, height, width)


photos = bundled_photos()
names = list(photos)
inputs = [local_contrast(p.mean(axis=2)) for p in photos.values()]  # gray


def valid_rows(height):
    """The bottom fifth of each photo (at least one patch high) is kept for validation."""
    return max(PATCH, height // 5)


def sample(batch_size, generator, valid=False):
    """Random patches (flipped left-right half the time) and the index of their photo."""
    labels = torch.randint(len(inputs), (batch_size,), generator=generator)
    patches = torch.empty(batch_size, 1, PATCH, PATCH)
    for i, label in enumerate(labels.tolist()):
        image = inputs[label]
        height, width = image.shape[1:]
        split = height - valid_rows(height)
        low, high = (split, height - PATCH) if valid else (0, split - PATCH)
        y = torch.randint(low, high + 1, (1,), generator=generator).item()
        x = torch.randint(0, width - PATCH + 1, (1,), generator=generator).item()
        patch = image[:, y:y + PATCH, x:x + PATCH]
        flip = not valid and torch.rand(1, generator=generator).item() < 0.5
        patches[i] = patch.flip(2) if flip else patch
    return patches.to(device), labels.to(device)
# --8<-- [end:data]


# --8<-- [start:model]
features = nn.Sequential(
    nn.Conv2d(1, 32, kernel_size=7, stride=2, padding=3), nn.ReLU(),  # layer 1: 32 x 16 x 16
    nn.MaxPool2d(2),                                                   #          32 x 8 x 8
    nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(),           # layer 2: 64 x 8 x 8
    nn.MaxPool2d(2),                                                   #          64 x 4 x 4
    nn.Conv2d(64, 96, kernel_size=3, padding=1), nn.ReLU(),           # layer 3: 96 x 4 x 4
)
model = nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(96, len(names))).to(device)
with torch.no_grad():
    features[0].weight.mul_(FIRST_LAYER_INIT)
initial_filters = features[0].weight.detach().cpu().clone()  # kept to compare with at the end
LAYERS = {1: 1, 2: 4, 3: 7}  # layer number -> index of its ReLU in `features`
# --8<-- [end:model]

# --8<-- [start:train]
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=STEPS)
generator = torch.Generator().manual_seed(SEED)
model.train()
for step in range(STEPS):
    x, y = sample(BATCH_SIZE, generator)
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    if step % 100 == 0 or step == STEPS - 1:
        print(f"step {step}: loss {loss.item():.3f}")

model.eval()
with torch.no_grad():
    x, y = sample(VALID_PATCHES, torch.Generator().manual_seed(SEED + 1), valid=True)
    valid_accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
print(f"validation accuracy {valid_accuracy:.3f} (chance {1 / len(names):.3f})")
# --8<-- [end:train]


# --8<-- [start:measures]
def spectrum_measures(kernel, size=32):
    """Share of a filter's energy at low spatial frequencies, and how much of the rest points
    one way (0: no preferred orientation, 1: all of it along one orientation)."""
    kernel = np.atleast_3d(kernel)  # (height, width, channels)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= 0.125].sum() / power.sum()  # wavelengths of 8 px or more
    ac = np.where(radius > 0, power, 0.0)  # leave out the mean (DC) term
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation


def mean_measures(filters):
    values = np.array([spectrum_measures(f.permute(1, 2, 0).numpy()) for f in filters])
    return values.mean(axis=0)


learned_filters = features[0].weight.detach().cpu()
learned_low, learned_orientation = mean_measures(learned_filters)
random_low, random_orientation = mean_measures(initial_filters)
print(f"low-frequency energy: learned {learned_low:.3f}, random {random_low:.3f}")
print(f"orientation selectivity: learned {learned_orientation:.3f}, "
      f"random {random_orientation:.3f}")
# --8<-- [end:measures]


def filter_grid(filters, ax, title):
    """The filters of one layer side by side, each scaled to its own range (gray: 0)."""
    n, _, k, _ = filters.shape
    columns = 8
    rows = -(-n // columns)
    grid = np.full((rows * (k + 1) + 1, columns * (k + 1) + 1), np.nan)
    for i, f in enumerate(filters[:, 0].numpy()):
        r, c = divmod(i, columns)
        grid[1 + r * (k + 1):1 + r * (k + 1) + k, 1 + c * (k + 1):1 + c * (k + 1) + k] = (
            f / (np.abs(f).max() + 1e-12))
    ax.imshow(np.ma.masked_invalid(grid), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


fig, (ax_random, ax_learned) = plt.subplots(1, 2, figsize=(10, 3.3))
ax_learned.set_facecolor("tab:blue")
ax_random.set_facecolor("tab:blue")
filter_grid(initial_filters, ax_random,
            f"layer 1 at random initialisation\nlow-freq. energy {random_low:.2f}, "
            f"orientation {random_orientation:.2f}")
filter_grid(learned_filters, ax_learned,
            f"layer 1 after {STEPS} steps ({STEPS * BATCH_SIZE:,} patches)\n"
            f"low-freq. energy {learned_low:.2f}, orientation {learned_orientation:.2f}")
fig.suptitle("The 32 first-layer filters (7×7, gray input; each scaled to its own range)")
fig.tight_layout()
fig.savefig(OUT / "filters.png", dpi=110)
plt.close(fig)

# --8<-- [start:top9]
# Where each unit of a layer looks in the input: its receptive field's size and position.
geometry, jump, field, start = {}, 1, 1, 0.0
for index, layer in enumerate(features):
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
        s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
        p = layer.padding if isinstance(layer.padding, int) else layer.padding[0]
        start += ((k - 1) / 2 - p) * jump  # input pixel at the centre of output unit 0
        field += (k - 1) * jump
        jump *= s
    geometry[index] = (field, jump, start)

# The network is convolutional: run it over whole photos, every position at once.
with torch.no_grad():
    maps = {layer: [] for layer in LAYERS}
    for image in inputs:
        x = image[None].to(device)
        for index, layer in enumerate(features):
            x = layer(x)
            for number, relu in LAYERS.items():
                if index == relu:
                    maps[number].append(x[0].cpu())


def top_patches(number, unit):
    """The TOP strongest responses of one unit over all photos, at least half a receptive
    field apart, as (photo, centre y, centre x) in input pixels."""
    field, jump, start = geometry[LAYERS[number]]
    candidates = []
    for photo, act in enumerate(maps[number]):
        values, flat = act[unit].flatten().topk(min(40, act[unit].numel()))
        width = act.shape[2]
        candidates += [(v, photo, start + (i // width) * jump, start + (i % width) * jump)
                       for v, i in zip(values.tolist(), flat.tolist(), strict=True)]
    chosen = []
    for v, photo, cy, cx in sorted(candidates, reverse=True):
        if all(p != photo or max(abs(cy - y), abs(cx - x)) >= field / 2
               for _, p, y, x in chosen):
            chosen.append((v, photo, cy, cx))
        if len(chosen) == TOP:
            break
    return chosen


def crop(photo, cy, cx, size):
    """The colour photo under a receptive field (kept inside the photo)."""
    image = photos[names[photo]]
    size = min(size, *image.shape[:2])
    y0 = int(np.clip(round(cy - size / 2), 0, image.shape[0] - size))
    x0 = int(np.clip(round(cx - size / 2), 0, image.shape[1] - size))
    return image[y0:y0 + size, x0:x0 + size]
# --8<-- [end:top9]


def mosaic(tiles, size=48):
    """3 x 3 tiles, each enlarged to size x size pixels, with a white border."""
    grid = np.ones((3 * (size + 2), 3 * (size + 2), 3), dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, 3)
        idx = (np.arange(size) * tile.shape[0] // size)
        grid[r * (size + 2) + 1:r * (size + 2) + 1 + size,
             c * (size + 2) + 1:c * (size + 2) + 1 + size] = tile[idx][:, idx]
    return grid


top_photos = {}
for number in LAYERS:
    field = int(geometry[LAYERS[number]][0])
    tops = {unit: top_patches(number, unit) for unit in range(maps[number][0].shape[0])}
    # how many different photos a unit's top patches come from, averaged over all units
    top_photos[number] = float(np.mean([len({p for _, p, _, _ in t}) for t in tops.values()]))
    # shown: the most active units, at most one per favourite photo, to show their variety
    by_strength = sorted(tops, key=lambda u: -tops[u][0][0])
    units, favourites = [], set()
    for unit in by_strength:
        if tops[unit][0][1] not in favourites:
            units.append(unit)
            favourites.add(tops[unit][0][1])
    units = (units + [u for u in by_strength if u not in units])[:UNITS_SHOWN]
    fig, axes = plt.subplots(2, UNITS_SHOWN // 2, figsize=(9.5, 6.0))
    for ax, unit in zip(axes.flat, units, strict=True):
        ax.imshow(mosaic([crop(p, cy, cx, field) for _, p, cy, cx in tops[unit]]),
                  interpolation="nearest")
        ax.set_title(f"unit {unit}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Layer {number}: the {TOP} photo regions that excite each unit most\n"
                 f"({field}×{field} px receptive field, enlarged; shown in colour, the network "
                 "sees them in gray)", fontsize=10)
    fig.tight_layout()
    fig.savefig(OUT / f"top9_layer{number}.png", dpi=110)
    plt.close(fig)

# --8<-- [start:feature_maps]
SHOWN_PHOTO = "chelsea"
index = names.index(SHOWN_PHOTO)
fig, axes = plt.subplots(len(LAYERS), 5, figsize=(10, 5.6))
for row, number in enumerate(LAYERS):
    act = maps[number][index]  # (channels, height, width)
    strongest = act.flatten(1).std(dim=1).argsort(descending=True)[:4].tolist()
    for ax, unit in zip(axes[row, 1:], strongest, strict=True):
        ax.imshow(act[unit], cmap="magma")
        ax.set_title(f"layer {number}, unit {unit}\n{act.shape[1]}×{act.shape[2]}", fontsize=8)
axes[0, 0].imshow(photos[SHOWN_PHOTO])
axes[0, 0].set_title("photo", fontsize=8)
axes[1, 0].imshow(inputs[index][0], cmap="gray")
axes[1, 0].set_title("what the network sees\n(gray, local contrast)", fontsize=8)
axes[2, 0].axis("off")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Feature maps of layers 1-3 for one photo (the 4 most varied units of each; "
             "bright = strong response)", fontsize=10)
fig.tight_layout()
fig.savefig(OUT / "feature_maps.png", dpi=110)
plt.close(fig)
# --8<-- [end:feature_maps]

# --8<-- [start:report]
table = pd.DataFrame({
    "layer 1 filters": ["at random initialisation", f"after training ({STEPS} steps)"],
    "low-frequency energy": [random_low, learned_low],
    "orientation selectivity": [random_orientation, learned_orientation],
})
(OUT / "filters.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")
metrics = {
    "steps": STEPS,
    "patches_seen": STEPS * BATCH_SIZE,
    "n_photos": len(names),
    "chance_accuracy": round(1 / len(names), 4),
    "valid_accuracy": round(valid_accuracy, 4),
    "low_frequency_learned": round(float(learned_low), 4),
    "low_frequency_random": round(float(random_low), 4),
    "low_frequency_gain": round(float(learned_low / random_low), 4),
    "orientation_learned": round(float(learned_orientation), 4),
    "orientation_random": round(float(random_orientation), 4),
    "orientation_gain": round(float(learned_orientation / random_orientation), 4),
    **{f"photos_per_unit_layer{n}": round(v, 4) for n, v in top_photos.items()},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
