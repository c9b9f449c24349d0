"""Layers 4 and 5: are the deepest units more specific to one class?

The data are those of cnn_features.py: 32 x 32 patches of 16 photos that
ship with the installed packages (scikit-image, scikit-learn, Matplotlib),
gray and locally contrast-normalised; the label is the photo. The network
has five convolutional layers, AlexNet's pattern in miniature, so that a
unit of layer 5 sees the whole patch. Five copies, one per seed, train side
by side on the top three fifths of every photo. Then, on held-out tiles cut
from the bottom two fifths (non-overlapping, so no two are near copies), we
find each unit's TOP strongest tiles and ask how many of them come from its
most common photo, at every layer. Two references: chance (TOP tiles drawn
at random from the same tiles) and the same network before training, whose
deep units may look photo-specific without having learned anything.

Run it alone with `python deep_units.py`; outputs go to DLNOTES_OUT
(default ./outputs/deep_units). DLNOTES_QUICK=1 trains for fewer steps.
"""

# --8<-- [start:setup]
# Settings, in one place. SEEDS are the five networks' initialisations and
# batch orders; the split into training area and held-out tiles is fixed.
import importlib.util
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
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one network per seed
PATCH = 32  # pixels: each training example and each tile is 32 x 32
LONG_SIDE = 256  # each photo is shrunk so its longer side has 256 pixels
CONTRAST_WINDOW = 31  # pixels: local contrast normalisation, ~ a patch
HELD_OUT = 0.4  # the bottom two fifths of every photo: tiles, not training
STEPS = 20 if QUICK else 120
BATCH_SIZE = 32
LEARNING_RATE = 4e-3
WEIGHT_DECAY = 0.05  # pulls every weight the loss does not need to zero
CHANNELS = [32, 48, 64, 64, 64]  # units per layer, layers 1 to 5
TOP = 9  # strongest tiles per unit, as on the page
SHOWN = 4  # units shown per layer in the figure
TEXTURES = ["brick", "grass", "gravel"]  # photos of one texture throughout

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/deep_units"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"deep_units.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# One figure style for the site (as in cnn_features.py): 6.4-in figures at
# 200 dpi shown 640 px wide, Okabe-Ito colours, drawn once per palette.
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


# --8<-- [start:data]
# The page's data: 16 photos, gray and locally contrast-normalised, the
# label is the photo. Training patches come from the top three fifths;
# the held-out tiles tile the bottom two fifths without overlapping.
def bundled_photos():
    """16 photos that ship with the installed packages, RGB in [0, 1].
    (China and flower are scikit-learn's sample images, read from its
    package folder as load_sample_images does, without importing it.)"""
    sklearn_images = (Path(importlib.util.find_spec("sklearn").origin)
                      .parent / "datasets" / "images")
    china = plt.imread(sklearn_images / "china.jpg")
    flower = plt.imread(sklearn_images / "flower.jpg")
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
heights = torch.tensor([image.shape[1] for image in inputs])
widths = torch.tensor([image.shape[2] for image in inputs])
stacked = torch.zeros(len(inputs), 1, int(heights.max()), int(widths.max()))
for i, image in enumerate(inputs):
    stacked[i, :, :image.shape[1], :image.shape[2]] = image
split = heights - (heights * HELD_OUT).long()  # first held-out row


def sample(n, generator):
    """n random training patches, flipped left-right half the time, and
    the index of the photo each was cut from."""
    labels = torch.randint(len(inputs), (n,), generator=generator)
    u = torch.rand(3, n, generator=generator)
    y = (u[0] * (split[labels] - PATCH + 1)).long()
    x = (u[1] * (widths[labels] - PATCH + 1)).long()
    patches = torch.stack([stacked[i, :, r:r + PATCH, c:c + PATCH]
                           for i, r, c in zip(labels.tolist(), y.tolist(),
                                              x.tolist(), strict=True)])
    flip = u[2] < 0.5
    return torch.where(flip[:, None, None, None], patches.flip(3),
                       patches), labels


# held-out tiles: (photo, top row, left column) of every whole tile
corners = [(p, int(r), c) for p in range(len(inputs))
           for r in range(int(split[p]), int(heights[p]) - PATCH + 1, PATCH)
           for c in range(0, int(widths[p]) - PATCH + 1, PATCH)]
tiles = torch.stack([stacked[p, :, r:r + PATCH, c:c + PATCH]
                     for p, r, c in corners])
tile_labels = torch.tensor([p for p, _, _ in corners])
print(f"{len(tiles)} held-out tiles, {len(names)} photos")
# --8<-- [end:data]


# --8<-- [start:model]
# AlexNet's pattern in miniature: a large strided first kernel and a pool,
# then 3x3 convolutions, the last three on one grid (as AlexNet's 3-5).
# Receptive fields: 7, 17, 25, 45 and 61 pixels, so a unit of layer 5
# sees the whole 32-pixel patch. Batch normalisation after every
# convolution lets five layers train in a few seconds.
def five_layers():
    c1, c2, c3, c4, c5 = CHANNELS

    def block(c_in, c_out, kernel=3, stride=1):
        return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2),
                nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(
        *block(1, c1, kernel=7, stride=2), nn.MaxPool2d(2),  # 1: 16 x 16
        *block(c1, c2),                                      # 2: 8 x 8
        *block(c2, c3), nn.MaxPool2d(2),                     # 3: 8 x 8
        *block(c3, c4),                                      # 4: 4 x 4
        *block(c4, c5),                                      # 5: 4 x 4
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c5, len(names)))


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


def side_by_side(layers):
    """One layer holding the seeds' copies of it (batch norm and ReLU act
    on each unit alone, so one wide layer keeps the seeds apart)."""
    if isinstance(layers[0], nn.Conv2d):
        return grouped(layers)
    if isinstance(layers[0], nn.BatchNorm2d):
        return nn.BatchNorm2d(len(layers) * layers[0].num_features)
    return layers[0]


class Seeds(nn.Module):
    """len(SEEDS) independent networks, each initialised from its seed."""

    def __init__(self, seeds):
        super().__init__()
        nets = []
        for seed in seeds:
            torch.manual_seed(seed)
            nets.append(five_layers())
        self.n = len(seeds)
        self.features = nn.Sequential(*[
            side_by_side([net[i] for net in nets])
            for i in range(len(nets[0]) - 3)])
        self.weight = nn.Parameter(torch.stack([n[-1].weight for n in nets]))
        self.bias = nn.Parameter(torch.stack([n[-1].bias for n in nets]))

    def forward(self, x):  # x: (batch, seeds, 1, 32, 32)
        x = x.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        h = self.features(x).mean(dim=(2, 3)).view(len(x), self.n, -1)
        return torch.einsum("bsf,scf->bsc", h, self.weight) + self.bias


model = Seeds(SEEDS).to(device)
# the baseline: the same seeds' starting weights, never trained. Its batch
# norm stays in training mode, so it standardises every unit over the
# tiles and no random unit is drowned by its bias or a shrinking signal.
untrained = Seeds(SEEDS).to(device)
RELUS = [i for i, m in enumerate(model.features) if isinstance(m, nn.ReLU)]
# --8<-- [end:model]

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
    if step % 40 == 0 or step == STEPS - 1:
        print(f"step {step}: loss per seed "
              f"{losses.mean(dim=0).detach().cpu().numpy().round(3)}")


# --8<-- [start:purity]
# Every unit's response to a tile is its strongest response anywhere in
# the tile. Its TOP tiles are those with the strongest responses; its
# purity is the share of them cut from its most common photo.
def responses(net):
    """Per layer: (tiles, seeds, units) strongest response, and where."""
    x = tiles[:, None].expand(-1, len(SEEDS), -1, -1, -1).flatten(1, 2)
    out = []
    with torch.no_grad():
        for index, layer in enumerate(net.features):
            x = layer(x.to(device))
            if index in RELUS:
                flat = x.flatten(2)  # (tiles, seeds * units, places)
                best, where = flat.max(dim=2)
                shape = (len(tiles), len(SEEDS), -1)
                out.append((best.view(shape).cpu(), where.view(shape).cpu(),
                            x.shape[3]))
    return out


def purity(best, top=TOP):
    """(seeds, units) share of each unit's top tiles from one photo; NaN
    for a unit that responds to fewer than `top` tiles (a dead unit)."""
    values, found = best.topk(top, dim=0)  # (top, seeds, units)
    counts = F.one_hot(tile_labels[found], len(names)).sum(dim=0)
    share = counts.max(dim=-1).values.float() / top
    return torch.where(values[-1] > 0, share, torch.nan).numpy()


def chance(top=TOP, draws=5000):
    """Mean purity of `top` tiles drawn at random, without replacement."""
    rng = np.random.default_rng(0)
    labels = tile_labels.numpy()
    picks = np.argpartition(rng.random((draws, len(labels))), top,
                            axis=1)[:, :top]
    counts = np.apply_along_axis(np.bincount, 1, labels[picks],
                                 minlength=len(names))
    return float((counts.max(axis=1) / top).mean())


def layer_purity(maps, top=TOP):
    """(layers, seeds): mean purity over the units that respond."""
    return np.array([np.nanmean(purity(best, top), axis=1)
                     for best, _, _ in maps])


model.eval()
trained_maps, untrained_maps = responses(model), responses(untrained)
trained, baseline = layer_purity(trained_maps), layer_purity(untrained_maps)
chance_purity = chance()
for layer, (t, u) in enumerate(zip(trained, baseline, strict=True), 1):
    print(f"layer {layer}: purity trained {t.round(3)}, "
          f"untrained {u.round(3)} (chance {chance_purity:.3f})")
# --8<-- [end:purity]

# validation accuracy on the held-out tiles, per seed
with torch.no_grad():
    logits = model(tiles[:, None].expand(-1, len(SEEDS), -1, -1, -1)
                   .to(device))
accuracy = (logits.argmax(2).cpu() == tile_labels[:, None]).float().mean(0)
accuracy = accuracy.numpy()
print(f"held-out tile accuracy per seed {accuracy.round(3)}")


# --8<-- [start:wrong]
# What goes wrong. Confident mistakes: the held-out tiles that seed 0's
# network gives to the wrong photo with the highest probability.
probability, guess = logits.softmax(2).cpu().max(dim=2)  # (tiles, seeds)
wrong = guess != tile_labels[:, None]
confident_wrong = ((probability > 0.5) & wrong).sum(0) / wrong.sum(0)
worst = [t for t in probability[:, 0].argsort(descending=True).tolist()
         if wrong[t, 0]][:5]
mistakes = pd.DataFrame(
    [(names[corners[t][0]], names[guess[t, 0]], f"{probability[t, 0]:.0%}")
     for t in worst],
    columns=["tile cut from", "network's answer", "its probability"])

# Which photos the layer-5 units prefer: for every unit with at least
# 5 of its top 9 tiles from one photo (all seeds), that photo.
best5 = trained_maps[4][0]
found = best5.topk(TOP, dim=0).indices
votes = F.one_hot(tile_labels[found], len(names)).sum(dim=0)
most, favourite = votes.max(dim=-1)  # (seeds, units)
majority = most > TOP // 2
liked = np.bincount(favourite[majority].numpy(), minlength=len(names))
tile_share = np.bincount(tile_labels.numpy(), minlength=len(names))
favourites = pd.DataFrame({
    "photo": names, "layer-5 units": liked,
    "share of those units": liked / max(liked.sum(), 1),
    "share of the tiles": tile_share / len(tiles)})
favourites = favourites.sort_values("layer-5 units",
                                    ascending=False).head(5)
print(mistakes.to_string(index=False))
print(favourites.to_string(index=False))
# --8<-- [end:wrong]

# Two variants for the exercise and the deeper dive, cheap because the
# responses are already computed: top 25 tiles instead of 9, and the
# untrained network without batch norm's standardisation (a fresh copy in
# evaluation mode: its batch norm passes the input through unchanged).
TOP_WIDE = 25
wide_trained = layer_purity(trained_maps, TOP_WIDE)
wide_baseline = layer_purity(untrained_maps, TOP_WIDE)
wide_chance = chance(TOP_WIDE)
plain = layer_purity(responses(Seeds(SEEDS).to(device).eval()))


# --8<-- [start:geometry]
# Receptive field size, and the input pixel under a layer's first unit,
# from the kernels, strides and paddings below it.
def geometry(net):
    found, jump, field, start = [], 1, 1, 0.0
    for index, layer in enumerate(net.features):
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k, s, p = (v if isinstance(v, int) else v[0] for v in
                       (layer.kernel_size, layer.stride, layer.padding))
            start += ((k - 1) / 2 - p) * jump
            field += (k - 1) * jump
            jump *= s
        if index in RELUS:
            found.append((field, jump, start))
    return found


fields = geometry(model)
print("receptive fields:", [int(f) for f, _, _ in fields])
# --8<-- [end:geometry]


# The figure: seed 0, layers 1, 3 and 5, SHOWN units picked at random
# among those that respond; each unit's TOP tiles (the part of the tile it
# sees at its strongest place), with its purity in the title.
def region(tile, place, width, layer):
    """The colour photo under a unit's receptive field, kept in the tile."""
    field, jump, start = fields[layer]
    p, r, c = corners[tile]
    size = int(min(field, PATCH))
    cy = start + (place // width) * jump
    cx = start + (place % width) * jump
    y0 = int(np.clip(round(cy - size / 2), 0, PATCH - size))
    x0 = int(np.clip(round(cx - size / 2), 0, PATCH - size))
    return photos[names[p]][r + y0:r + y0 + size, c + x0:c + x0 + size]


def mosaic(regions, size=48):
    """3 x 3 regions, each enlarged to size x size pixels, 2-px gaps."""
    grid = np.zeros((3 * (size + 2), 3 * (size + 2), 4), dtype=np.float32)
    for i, tile in enumerate(regions):
        r, c = divmod(i, 3)
        idx = np.arange(size) * tile.shape[0] // size
        grid[r * (size + 2) + 1:r * (size + 2) + 1 + size,
             c * (size + 2) + 1:c * (size + 2) + 1 + size] = np.dstack(
                 [tile[idx][:, idx], np.ones((size, size))])
    return grid


SHOWN_LAYERS = [0, 2, 4]
picker = np.random.default_rng(1)
panels = []
for layer in SHOWN_LAYERS:
    best, where, width = trained_maps[layer]
    alive = np.flatnonzero(~np.isnan(purity(best)[0]))
    for unit in sorted(picker.choice(alive, SHOWN, replace=False)):
        top = best[:, 0, unit].topk(TOP).indices.tolist()
        share = purity(best)[0, unit]
        regions = [region(t, int(where[t, 0, unit]), width, layer)
                   for t in top]
        panels.append((layer, unit, share, mosaic(regions)))


def draw_top9():
    fig, axes = plt.subplots(len(SHOWN_LAYERS), SHOWN, figsize=(6.4, 5.4))
    for ax, (_, unit, share, image) in zip(axes.flat, panels, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(f"unit {unit}: {round(share * TOP)}/{TOP}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for row, layer in enumerate(SHOWN_LAYERS):
        size = int(min(fields[layer][0], PATCH))
        axes[row, 0].set_ylabel(f"layer {layer + 1}\n{size}×{size} px",
                                fontsize=9)
    fig.subplots_adjust(left=0.09, right=0.99, bottom=0.01, top=0.95,
                        wspace=0.08, hspace=0.25)
    return fig


save_figure(draw_top9, "top9")


def draw_purity():
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    layers = np.arange(1, len(trained) + 1)
    for rows, label, colour, shift in ((baseline, "untrained", COLORS[1],
                                        -0.08),
                                       (trained, "trained", COLORS[0],
                                        0.08)):
        ax.errorbar(layers + shift, rows.mean(1), yerr=rows.std(1),
                    color=colour, marker="o", capsize=4, label=label)
        for seed in rows.T:
            ax.plot(layers + shift + 0.06, seed, ".", color=colour,
                    markersize=4, alpha=0.6)
    ax.axhline(chance_purity, ls="--", lw=1,
               color=plt.rcParams["text.color"])
    ax.annotate(f"chance (random {TOP} tiles)", (0.75, chance_purity),
                va="bottom", ha="left", fontsize=9)
    ax.set_xticks(layers, [f"layer {k}\n{int(f)} px" for k, (f, _, _) in
                           zip(layers, fields, strict=True)])
    ax.set_ylabel(f"share of top {TOP} tiles\nfrom one photo")
    ax.set_ylim(0, 1)
    ax.grid(axis="y")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


save_figure(draw_purity, "purity")


# --8<-- [start:report]
# Every number the page quotes: mean and std over seeds, and in how many
# seeds each direction held.
def pm(values, fmt=".2f"):
    return f"{np.mean(values):{fmt}} ± {np.std(values):{fmt}}"


n = len(SEEDS)
table = pd.DataFrame({
    "layer": [f"{k}" for k in range(1, len(trained) + 1)],
    "receptive field": [f"{int(f)} px"
                        f"{' (wider than a tile)' if f > PATCH else ''}"
                        for f, _, _ in fields],
    "trained": [pm(t) for t in trained],
    "untrained (baseline)": [pm(u) for u in baseline],
    "trained above untrained": [f"{int((t > u).sum())} of {n} seeds"
                                for t, u in zip(trained, baseline,
                                                strict=True)],
})
(OUT / "purity.md").write_text(table.to_markdown(index=False) + "\n")
(OUT / "mistakes.md").write_text(mistakes.to_markdown(index=False) + "\n")
(OUT / "favourites.md").write_text(favourites.to_markdown(
    index=False, floatfmt=".0%") + "\n")
metrics = {
    "n_seeds": n,
    "steps": STEPS,
    "patches_seen": STEPS * BATCH_SIZE,
    "top": TOP,
    "n_tiles": len(tiles),
    "n_photos": len(names),
    "largest_photo_share": round(float(np.bincount(tile_labels).max()
                                       / len(tiles)), 4),
    "largest_photo_tiles": int(np.bincount(tile_labels).max()),
    "chance_purity": round(chance_purity, 4),
    "valid_accuracy_mean": round(float(accuracy.mean()), 4),
    "valid_accuracy_std": round(float(accuracy.std()), 4),
    "chance_accuracy": round(1 / len(names), 4),
    **{f"receptive_field_layer{k}": int(f)
       for k, (f, _, _) in enumerate(fields, 1)},
    **{f"purity_layer{k}_mean": round(float(t.mean()), 4)
       for k, t in enumerate(trained, 1)},
    **{f"purity_layer{k}_std": round(float(t.std()), 4)
       for k, t in enumerate(trained, 1)},
    **{f"baseline_untrained_purity_layer{k}_mean": round(float(u.mean()), 4)
       for k, u in enumerate(baseline, 1)},
    **{f"baseline_untrained_purity_layer{k}_std": round(float(u.std()), 4)
       for k, u in enumerate(baseline, 1)},
    **{f"above_untrained_layer{k}": int((t > u).sum())
       for k, (t, u) in enumerate(zip(trained, baseline, strict=True), 1)},
    "layer5_above_layer1": int((trained[4] > trained[0]).sum()),
    "layer5_above_layer3": int((trained[4] > trained[2]).sum()),
    "untrained_layer5_above_layer1": int((baseline[4] > baseline[0]).sum()),
    "gain_layer5_over_untrained_mean": round(float((trained[4]
                                                    - baseline[4]).mean()),
                                             4),
    "confident_wrong_mean": round(float(confident_wrong.mean()), 4),
    "layer5_majority_units_mean": round(float(majority.float().mean()), 4),
    "layer5_texture_units_share": round(float(
        liked[[names.index(t) for t in TEXTURES]].sum()
        / max(liked.sum(), 1)), 4),
    "texture_tiles_share": round(float(
        tile_share[[names.index(t) for t in TEXTURES]].sum() / len(tiles)),
        4),
    "top_wide": TOP_WIDE,
    "chance_purity_wide": round(wide_chance, 4),
    **{f"purity_wide_layer{k}_mean": round(float(wide_trained[k - 1].mean()),
                                           4) for k in (1, 5)},
    **{f"baseline_untrained_purity_wide_layer{k}_mean": round(
        float(wide_baseline[k - 1].mean()), 4) for k in (1, 5)},
    **{f"baseline_plain_untrained_purity_layer{k}_mean": round(
        float(plain[k - 1].mean()), 4) for k in (1, 5)},
    "gain_layer1_over_untrained_mean": round(float((trained[0]
                                                    - baseline[0]).mean()),
                                             4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds == 2
# dlnotes: expect quick purity_layer5_mean >= 0.1
# dlnotes: expect full n_seeds >= 5
# the network trained (chance is 1 in 16)
# dlnotes: expect full valid_accuracy_mean >= 0.15
# dlnotes: expect full receptive_field_layer5 >= 32
# the stated direction, failing only on a reversal: trained layer-5 units
# are no less photo-specific than the untrained network's
# dlnotes: expect full gain_layer5_over_untrained_mean >= 0
