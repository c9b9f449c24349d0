"""What a small AlexNet-style CNN learns, layer by layer.

The network learns to tell which of 16 bundled photos (scikit-image,
scikit-learn, Matplotlib) a 32 x 32 patch was cut from. Five copies, one
per seed, train side by side. Then we look inside, the way Zeiler & Fergus
did: the layer-1 filters next to their random initialisation, the patches
that excite units of layers 1-3 most, and the feature maps of one photo.
A fixed Gabor filter bank with logistic regression on top is the baseline.
Run it alone with `python cnn_features.py`; outputs go to DLNOTES_OUT
(default ./outputs/cnn_features). DLNOTES_QUICK=1 trains for fewer steps.
"""

# --8<-- [start:setup]
# Settings, in one place. Every run is seeded: SEEDS are the five networks'
# initialisations and batch orders; the data split is fixed (see below).
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
from skimage.filters import gabor_kernel
from skimage.transform import rescale
from sklearn.datasets import load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one network per seed
PATCH = 32  # pixels: each training example is a 32 x 32 patch
LONG_SIDE = 256  # each photo is shrunk so its longer side has 256 pixels
CONTRAST_WINDOW = 31  # pixels: local contrast normalisation, ~ a patch
STEPS = 30 if QUICK else 110
BATCH_SIZE = 32
VALID_PATCHES = 400 if QUICK else 1500
BASELINE_PATCHES = 400 if QUICK else 2000  # training patches per seed
LEARNING_RATE = 4e-3
WEIGHT_DECAY = 0.05  # pulls every weight the loss does not need to zero
FIRST_LAYER_INIT = 0.1  # start layer 1 at a tenth of the default size
TOP = 9  # patches shown per unit
UNITS_SHOWN = 8  # units shown per layer

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/cnn_features"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"cnn_features.py: cannot write outputs to {OUT}: "
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


# --8<-- [start:data]
# The data: random 32 x 32 patches of 16 photos; the label is the photo.
# Gray and locally contrast-normalised, so that brightness and colour do
# not give the photo away (the deeper dive shows why that matters).
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


def local_contrast(gray):
    """Each pixel minus its neighbourhood's mean, divided by the
    neighbourhood's standard deviation (flat regions are not blown up)."""
    centred = gray - uniform_filter(gray, CONTRAST_WINDOW, mode="reflect")
    std = np.sqrt(uniform_filter(centred**2, CONTRAST_WINDOW,
                                 mode="reflect"))
    return torch.tensor(centred / np.maximum(std, std.mean()))[None]


photos = bundled_photos()
names = list(photos)
inputs = [local_contrast(p.mean(axis=2)) for p in photos.values()]  # gray
# all photos in one zero-padded tensor, so a batch is cut by indexing
heights = torch.tensor([image.shape[1] for image in inputs])
widths = torch.tensor([image.shape[2] for image in inputs])
stacked = torch.zeros(len(inputs), 1, int(heights.max()), int(widths.max()))
for i, image in enumerate(inputs):
    stacked[i, :, :image.shape[1], :image.shape[2]] = image
# the split is fixed: the bottom fifth of each photo is kept for validation
split = heights - torch.clamp(heights // 5, min=PATCH)


def sample(n, generator, valid=False):
    """n random patches (training ones flipped left-right half the time)
    and the index of the photo each was cut from."""
    labels = torch.randint(len(inputs), (n,), generator=generator)
    h, w, s = heights[labels], widths[labels], split[labels]
    low = s if valid else torch.zeros_like(s)
    high = h - PATCH if valid else s - PATCH
    u = torch.rand(2, n, generator=generator)
    y = low + (u[0] * (high - low + 1)).long()
    x = (u[1] * (w - PATCH + 1)).long()
    flip = torch.rand(n, generator=generator) < 0.5
    patches = torch.stack([stacked[i, :, r:r + PATCH, c:c + PATCH]
                           for i, r, c in zip(labels.tolist(), y.tolist(),
                                              x.tolist(), strict=True)])
    if not valid:
        patches = torch.where(flip[:, None, None, None], patches.flip(3),
                              patches)
    return patches, labels  # (n, 1, PATCH, PATCH), (n,)
# --8<-- [end:data]


# --8<-- [start:model]
# AlexNet's shape in miniature, and one copy per seed. The copies train
# side by side as one network: grouped convolutions (group s holds seed
# s's filters) and a batched last layer, so five seeds cost one pass.
def small_net():
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=7, stride=2, padding=3), nn.ReLU(),
        nn.MaxPool2d(2),                          # layer 1: 32 x 8 x 8
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),                          # layer 2: 64 x 4 x 4
        nn.Conv2d(64, 96, kernel_size=3, padding=1), nn.ReLU(),  # layer 3
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(96, len(names)))


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
    """len(SEEDS) independent networks, each initialised from its seed."""

    def __init__(self, seeds):
        super().__init__()
        nets = []
        for seed in seeds:
            torch.manual_seed(seed)
            nets.append(small_net())
            with torch.no_grad():
                nets[-1][0].weight.mul_(FIRST_LAYER_INIT)
        self.n = len(seeds)
        self.features = nn.Sequential(*[
            grouped([net[i] for net in nets]) if isinstance(m, nn.Conv2d)
            else m for i, m in enumerate(nets[0][:8])])
        self.weight = nn.Parameter(torch.stack([n[-1].weight for n in nets]))
        self.bias = nn.Parameter(torch.stack([n[-1].bias for n in nets]))

    def forward(self, x):  # x: (batch, seeds, 1, 32, 32)
        x = x.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        h = self.features(x).mean(dim=(2, 3))  # channels_last: faster
        h = h.view(len(x), self.n, -1)  # (batch, seeds, 96)
        return torch.einsum("bsf,scf->bsc", h, self.weight) + self.bias


model = Seeds(SEEDS).to(device)
features = model.features
LAYERS = {1: 1, 2: 4, 3: 7}  # layer number -> index of its ReLU
initial_filters = features[0].weight.detach().cpu().clone()
# --8<-- [end:model]

# --8<-- [start:train]
# Training: each seed draws its own batches. The loss is the sum of the
# seeds' losses, so each copy gets exactly its own gradient.
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE,
                              weight_decay=WEIGHT_DECAY)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE,
                                               total_steps=STEPS)
generators = [torch.Generator().manual_seed(1000 + s) for s in SEEDS]
model.train()
for step in range(STEPS):
    batches = [sample(BATCH_SIZE, g) for g in generators]
    x = torch.stack([b[0] for b in batches], dim=1).to(device)
    y = torch.stack([b[1] for b in batches], dim=1).to(device)
    losses = F.cross_entropy(model(x).transpose(1, 2), y, reduction="none")
    optimizer.zero_grad()
    losses.mean(dim=0).sum().backward()
    optimizer.step()
    schedule.step()
    if step % 100 == 0 or step == STEPS - 1:
        print(f"step {step}: loss per seed "
              f"{losses.mean(dim=0).detach().cpu().numpy().round(3)}")

# one validation set, the same for every seed and for the baseline
x_valid, y_valid = sample(VALID_PATCHES, torch.Generator().manual_seed(99),
                          valid=True)
model.eval()
with torch.no_grad():
    logits = model(x_valid[:, None].expand(-1, len(SEEDS), -1, -1, -1)
                   .to(device))
    accuracy = (logits.argmax(2).cpu() == y_valid[:, None]).float().mean(0)
accuracy = accuracy.numpy()
print(f"validation accuracy per seed {accuracy.round(3)} "
      f"(chance {1 / len(names):.3f})")
# --8<-- [end:train]


# --8<-- [start:baseline]
# The baseline a practitioner of 2010 would try first: a fixed bank of
# Gabor filters (18 = 3 frequencies x 6 orientations, nothing learned),
# the strength of each one's response pooled over the patch's quarters,
# and logistic regression on those 72 numbers.
bank = [gabor_kernel(f, theta=t, sigma_x=2.5, sigma_y=2.5, n_stds=2)
        for f in (0.1, 0.2, 0.3) for t in np.arange(6) * np.pi / 6]
bank = torch.tensor(np.stack([np.concatenate([[k.real], [k.imag]])
                              for k in bank]), dtype=torch.float32)
bank = bank.flatten(0, 1)[:, None]  # (36, 1, 11, 11): even and odd parts


def gabor_features(patches):
    r = F.conv2d(patches, bank, stride=2, padding=bank.shape[-1] // 2)
    energy = r.view(len(r), -1, 2, *r.shape[2:]).pow(2).sum(2).sqrt()
    return F.adaptive_avg_pool2d(energy, 2).flatten(1).numpy()


def fit_score(train_features, train_labels):
    """Validation accuracy of logistic regression on standardised
    features."""
    scaler = StandardScaler().fit(train_features)
    classifier = LogisticRegression(max_iter=1000).fit(
        scaler.transform(train_features), train_labels)
    return classifier.score(scaler.transform(valid_features),
                            y_valid.numpy())


# a learning curve in two points: a quarter of the patches, and all
valid_features = gabor_features(x_valid)
baseline_accuracy, baseline_small = [], []
for seed in SEEDS:
    x_train, y_train = sample(BASELINE_PATCHES,
                              torch.Generator().manual_seed(1000 + seed))
    train_features, y_train = gabor_features(x_train), y_train.numpy()
    baseline_accuracy.append(fit_score(train_features, y_train))
    baseline_small.append(fit_score(train_features[:BASELINE_PATCHES // 4],
                                    y_train[:BASELINE_PATCHES // 4]))
baseline_accuracy = np.array(baseline_accuracy)
baseline_small = np.array(baseline_small)
print(f"Gabor + logistic regression per seed {baseline_accuracy.round(3)}"
      f" ({baseline_small.round(3)} on a quarter of the patches)")
# --8<-- [end:baseline]


# --8<-- [start:measures]
# Two numbers for a filter, from its 2-D Fourier spectrum: the share of
# its energy at low frequencies, and how much of the rest points one way.
def spectrum_measures(kernel, size=32):
    """Low-frequency share (wavelengths of 8 px or more) and orientation
    selectivity (0: no preferred orientation, 1: all along one)."""
    kernel = np.atleast_3d(kernel)  # (height, width, channels)
    size = max(size, *kernel.shape[:2])
    power = (np.abs(np.fft.fft2(kernel, s=(size, size), axes=(0, 1))) ** 2
             ).sum(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size),
                         indexing="ij")
    radius, angle = np.hypot(fx, fy), np.arctan2(fy, fx)
    low_share = power[radius <= 0.125].sum() / power.sum()
    ac = np.where(radius > 0, power, 0.0)  # leave out the mean (DC) term
    orientation = np.abs((ac * np.exp(2j * angle)).sum()) / ac.sum()
    return low_share, orientation


def per_seed(filters):
    """Mean (low share, orientation) of each seed's 32 filters."""
    filters = filters.view(len(SEEDS), -1, *filters.shape[1:])
    return np.array([np.mean([spectrum_measures(f.permute(1, 2, 0).numpy())
                              for f in seed], axis=0) for seed in filters])


learned_filters = features[0].weight.detach().cpu()
learned = per_seed(learned_filters)  # (seeds, 2)
initial = per_seed(initial_filters)
print(f"low-frequency energy: learned {learned[:, 0].round(3)}, "
      f"random {initial[:, 0].round(3)}")
print(f"orientation selectivity: learned {learned[:, 1].round(3)}, "
      f"random {initial[:, 1].round(3)}")
# --8<-- [end:measures]


# --8<-- [start:figures]
# Seed 0's filters, before and after training: one run, to look at.
def filter_grid(ax, filters, title):
    """32 filters side by side, each scaled to its own range (gray: 0)."""
    n, _, k, _ = filters.shape
    columns, rows = 8, -(-n // 8)
    grid = np.full((rows * (k + 1) + 1, columns * (k + 1) + 1), np.nan)
    for i, f in enumerate(filters[:, 0].numpy()):
        r, c = divmod(i, columns)
        grid[1 + r * (k + 1):1 + r * (k + 1) + k,
             1 + c * (k + 1):1 + c * (k + 1) + k] = f / (np.abs(f).max()
                                                          + 1e-12)
    ax.imshow(np.ma.masked_invalid(grid), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def draw_filters():
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.2))
    filter_grid(axes[0], initial_filters[:32], "at random initialisation")
    filter_grid(axes[1], learned_filters[:32],
                f"after training ({STEPS} steps)")
    fig.tight_layout()
    return fig


save_figure(draw_filters, "filters")


def spread(ax, columns, labels, title, reference=None):
    """Each seed as a dot, the mean as a bar, the std as an error bar."""
    for i, (values, colour) in enumerate(zip(columns, COLORS,
                                             strict=False)):
        ax.bar(i, values.mean(), yerr=values.std(), color=colour,
               alpha=0.5, capsize=4, ecolor=plt.rcParams["text.color"])
        ax.plot(np.full(len(values), i) + np.linspace(-0.15, 0.15,
                                                       len(values)),
                values, "o", color=colour, markersize=4)
    if reference is not None:
        ax.axhline(reference[0], ls="--", lw=1,
                   color=plt.rcParams["text.color"])
        ax.annotate(reference[1], (len(columns) - 0.5, reference[0]),
                    ha="right", va="bottom", fontsize=9)
    ax.set_xticks(range(len(columns)), labels)
    ax.set_title(title)
    ax.grid(axis="y")


def draw_seeds():
    fig, axes = plt.subplots(1, 3, figsize=(6.4, 2.8))
    spread(axes[0], [initial[:, 1], learned[:, 1]], ["random", "learned"],
           "orientation\nselectivity")
    spread(axes[1], [initial[:, 0], learned[:, 0]], ["random", "learned"],
           "low-frequency\nenergy")
    spread(axes[2], [baseline_accuracy, accuracy], ["Gabor\n+ LR", "CNN"],
           "validation accuracy\n(dashed: chance)",
           reference=(1 / len(names), ""))
    fig.tight_layout()
    return fig


save_figure(draw_seeds, "seeds")
# --8<-- [end:figures]

# --8<-- [start:top9]
# Where each unit of a layer looks in the input: its receptive field's
# size and position, from the kernels and strides below it.
geometry, jump, field, start = {}, 1, 1, 0.0
for index, layer in enumerate(features):
    if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        k, s, p = (v if isinstance(v, int) else v[0] for v in
                   (layer.kernel_size, layer.stride, layer.padding))
        start += ((k - 1) / 2 - p) * jump  # input pixel under unit 0
        field += (k - 1) * jump
        jump *= s
    geometry[index] = (field, jump, start)

# The network is convolutional: run it over whole photos, every position
# (and every seed) at once; maps[layer][photo] is (seeds, units, h, w).
with torch.no_grad():
    maps = {layer: [] for layer in LAYERS}
    for image in inputs:
        x = image[None].expand(1, len(SEEDS), -1, -1).to(device)
        for index, layer in enumerate(features):
            x = layer(x)
            for number, relu in LAYERS.items():
                if index == relu:
                    maps[number].append(
                        x[0].view(len(SEEDS), -1, *x.shape[2:]).cpu())


def top_patches(number, seed):
    """For every unit: its TOP strongest responses over all photos, at
    least half a receptive field apart, as (value, photo, y, x)."""
    field, jump, start = geometry[LAYERS[number]]
    candidates = []  # per photo: (units, 20) values and positions
    for photo, act in enumerate(maps[number]):
        act = act[seed].flatten(1)
        values, flat = act.topk(min(20, act.shape[1]), dim=1)
        width = maps[number][photo].shape[3]
        candidates.append((values, photo, start + (flat // width) * jump,
                           start + (flat % width) * jump))
    tops = []
    for unit in range(len(candidates[0][0])):
        found = sorted(((v, p, y, x) for values, p, ys, xs in candidates
                        for v, y, x in zip(values[unit].tolist(),
                                           ys[unit].tolist(),
                                           xs[unit].tolist(), strict=True)),
                       reverse=True)
        chosen = []
        for v, p, cy, cx in found:
            if all(q != p or max(abs(cy - y), abs(cx - x)) >= field / 2
                   for _, q, y, x in chosen):
                chosen.append((v, p, cy, cx))
                if len(chosen) == TOP:
                    break
        tops.append(chosen)
    return tops


def crop(photo, cy, cx, size):
    """The colour photo under a receptive field (kept inside the photo)."""
    image = photos[names[photo]]
    size = min(size, *image.shape[:2])
    y0 = int(np.clip(round(cy - size / 2), 0, image.shape[0] - size))
    x0 = int(np.clip(round(cx - size / 2), 0, image.shape[1] - size))
    return image[y0:y0 + size, x0:x0 + size]
# --8<-- [end:top9]


def mosaic(tiles, size=48):
    """3 x 3 tiles, each enlarged to size x size pixels, 2-px gaps."""
    grid = np.zeros((3 * (size + 2), 3 * (size + 2), 4), dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, 3)
        idx = np.arange(size) * tile.shape[0] // size
        grid[r * (size + 2) + 1:r * (size + 2) + 1 + size,
             c * (size + 2) + 1:c * (size + 2) + 1 + size] = np.dstack(
                 [tile[idx][:, idx], np.ones((size, size))])
    return grid


photos_per_unit = {}  # layer -> per seed: mean number of distinct photos
for number in LAYERS:
    field = int(geometry[LAYERS[number]][0])
    per_seed_tops = [top_patches(number, s) for s in range(len(SEEDS))]
    photos_per_unit[number] = np.array([
        np.mean([len({p for _, p, _, _ in t}) for t in tops])
        for tops in per_seed_tops])
    # shown (seed 0): the most active units, one per favourite photo first
    tops = per_seed_tops[0]
    by_strength = sorted(range(len(tops)), key=lambda u: -tops[u][0][0])
    units, favourites = [], set()
    for unit in by_strength:
        if tops[unit][0][1] not in favourites:
            units.append(unit)
            favourites.add(tops[unit][0][1])
    units = (units + [u for u in by_strength if u not in units])
    units = units[:UNITS_SHOWN]

    def draw_top9(number=number, units=units, tops=tops, field=field):
        fig, axes = plt.subplots(2, UNITS_SHOWN // 2, figsize=(6.4, 3.7))
        for ax, unit in zip(axes.flat, units, strict=True):
            ax.imshow(mosaic([crop(p, cy, cx, field)
                              for _, p, cy, cx in tops[unit]]),
                      interpolation="nearest")
            ax.set_title(f"unit {unit}", fontsize=9)
            ax.axis("off")
        fig.suptitle(f"Layer {number}: {field}×{field}-px regions, "
                     "enlarged", fontsize=10)
        # fixed margins: tight_layout would render the figure once more
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.87,
                            wspace=0.08, hspace=0.22)
        return fig

    save_figure(draw_top9, f"top9_layer{number}")
    print(f"layer {number}: photos per unit {photos_per_unit[number]}")

# --8<-- [start:feature_maps]
# One photo seen through seed 0's network: for each layer, the maps of
# the four units whose response varies most across the photo.
SHOWN_PHOTO = "chelsea"
index = names.index(SHOWN_PHOTO)


def draw_feature_maps():
    fig, axes = plt.subplots(len(LAYERS), 5, figsize=(7.2, 4.4))
    for row, number in enumerate(LAYERS):
        act = maps[number][index][0]  # seed 0: (units, height, width)
        strongest = act.flatten(1).std(dim=1).argsort(descending=True)[:4]
        for ax, unit in zip(axes[row, 1:], strongest.tolist(), strict=True):
            ax.imshow(act[unit], cmap="magma", interpolation="nearest")
            ax.set_title(f"unit {unit}", fontsize=9)
        axes[row, 1].set_ylabel(f"layer {number}\n"
                                f"{act.shape[1]}×{act.shape[2]}",
                                fontsize=9)
    axes[0, 0].imshow(photos[SHOWN_PHOTO], interpolation="nearest")
    axes[0, 0].set_title("photo", fontsize=9)
    axes[1, 0].imshow(inputs[index][0], cmap="gray",
                      interpolation="nearest")
    axes[1, 0].set_title("network input", fontsize=9)
    axes[2, 0].set_visible(False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


save_figure(draw_feature_maps, "feature_maps")
# --8<-- [end:feature_maps]


# --8<-- [start:report]
# Every number the page quotes: mean and std over the seeds, and how
# many seeds showed each direction.
def pm(values, fmt=".3f"):
    return f"{np.mean(values):{fmt}} ± {np.std(values):{fmt}}"


n = len(SEEDS)
table = pd.DataFrame({
    "layer-1 filters": ["at random initialisation",
                        f"after training ({STEPS} steps)",
                        "learned above random in"],
    "low-frequency energy": [pm(initial[:, 0]), pm(learned[:, 0]),
                             f"{(learned[:, 0] > initial[:, 0]).sum()} "
                             f"of {n} seeds"],
    "orientation selectivity": [pm(initial[:, 1]), pm(learned[:, 1]),
                                f"{(learned[:, 1] > initial[:, 1]).sum()} "
                                f"of {n} seeds"],
})
(OUT / "filters.md").write_text(table.to_markdown(index=False) + "\n")
wins = int((accuracy > baseline_accuracy).sum())
scores = pd.DataFrame({
    "model": ["small CNN (learned filters)",
              "Gabor bank + logistic regression", "guessing"],
    "validation accuracy": [pm(accuracy, ".1%"), pm(baseline_accuracy,
                                                    ".1%"),
                            f"{1 / len(names):.1%}"],
})
(OUT / "accuracy.md").write_text(scores.to_markdown(index=False) + "\n")
ppu = photos_per_unit
deeper = (ppu[1] > ppu[2]) & (ppu[2] > ppu[3])
metrics = {
    "n_seeds": n,
    "steps": STEPS,
    "batch_size": BATCH_SIZE,
    "patches_seen": STEPS * BATCH_SIZE,
    "n_photos": len(names),
    "chance_accuracy": round(1 / len(names), 4),
    "valid_accuracy_mean": round(float(accuracy.mean()), 4),
    "valid_accuracy_std": round(float(accuracy.std()), 4),
    "baseline_accuracy_mean": round(float(baseline_accuracy.mean()), 4),
    "baseline_accuracy_std": round(float(baseline_accuracy.std()), 4),
    "baseline_patches": BASELINE_PATCHES,
    "baseline_small_patches": BASELINE_PATCHES // 4,
    "baseline_small_accuracy_mean": round(float(baseline_small.mean()), 4),
    "baseline_small_accuracy_std": round(float(baseline_small.std()), 4),
    "cnn_beats_baseline": wins,
    "accuracy_gap_mean": round(float((accuracy - baseline_accuracy).mean()),
                               4),
    "low_frequency_learned_mean": round(float(learned[:, 0].mean()), 4),
    "low_frequency_learned_std": round(float(learned[:, 0].std()), 4),
    "low_frequency_random_mean": round(float(initial[:, 0].mean()), 4),
    "low_frequency_random_std": round(float(initial[:, 0].std()), 4),
    "low_frequency_gain": round(float(learned[:, 0].mean()
                                      / initial[:, 0].mean()), 4),
    "low_frequency_wins": int((learned[:, 0] > initial[:, 0]).sum()),
    "orientation_learned_mean": round(float(learned[:, 1].mean()), 4),
    "orientation_learned_std": round(float(learned[:, 1].std()), 4),
    "orientation_random_mean": round(float(initial[:, 1].mean()), 4),
    "orientation_random_std": round(float(initial[:, 1].std()), 4),
    "orientation_gain": round(float(learned[:, 1].mean()
                                    / initial[:, 1].mean()), 4),
    "orientation_wins": int((learned[:, 1] > initial[:, 1]).sum()),
    **{f"photos_per_unit_layer{k}_mean": round(float(v.mean()), 4)
       for k, v in ppu.items()},
    **{f"photos_per_unit_layer{k}_std": round(float(v.std()), 4)
       for k, v in ppu.items()},
    "fewer_photos_deeper_wins": int(deeper.sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds == 2
# dlnotes: expect quick valid_accuracy_mean >= 0.08
# dlnotes: expect quick baseline_accuracy_mean >= 0.2
# dlnotes: expect quick orientation_gain >= 1.2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full valid_accuracy_mean >= 0.2
# dlnotes: expect full baseline_accuracy_mean >= 0.15
# dlnotes: expect full orientation_wins >= 3
# dlnotes: expect full low_frequency_wins >= 3
