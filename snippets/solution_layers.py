"""Exercise 4 of the layers page: the page's CNN with a fourth layer.

The data and training are those of cnn_features.py: 32 x 32 patches of 16
photos that ship with the installed packages (scikit-image, scikit-learn,
Matplotlib), gray and locally contrast-normalised; the label is the photo.
The network gets another 2x2 max-pool and a fourth 3x3 convolution. Five
copies train side by side; then, as on the page, each unit's TOP strongest
regions over whole photos, and how many distinct photos they come from, at
every layer. The same count for the untrained copies is the baseline.

Run it alone with `python solution_layers.py`; outputs go to DLNOTES_OUT
(default ./outputs/solution_layers). DLNOTES_QUICK=1 trains for fewer steps.
"""

# --8<-- [start:setup]
# The page's settings (cnn_features.py), unchanged; the fourth layer is
# the only change.
import json
import os
import random
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter
from skimage import data
from skimage.transform import rescale
from sklearn.datasets import load_sample_images
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one network per seed
PATCH = 32  # pixels: each training example is a 32 x 32 patch
LONG_SIDE = 256  # each photo is shrunk so its longer side has 256 pixels
CONTRAST_WINDOW = 31  # pixels: local contrast normalisation, ~ a patch
STEPS = 30 if QUICK else 110
BATCH_SIZE = 32
VALID_PATCHES = 400 if QUICK else 1500
LEARNING_RATE = 4e-3
WEIGHT_DECAY = 0.05  # pulls every weight the loss does not need to zero
FIRST_LAYER_INIT = 0.1  # start layer 1 at a tenth of the default size
TOP = 9  # strongest regions per unit
MAP_SIDE = 96 if QUICK else None  # quick: count on a corner of each photo
UNITS = 24 if QUICK else None  # quick: count only the first 24 units
CHANNELS_4 = 96  # the new fourth layer's units (as many as layer 3)

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_layers"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_layers.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


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
# The exercise's change: after layer 3, another 2x2 max-pool and a fourth
# 3x3 convolution. The rest is the page's network, one copy per seed.
def small_net():
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=7, stride=2, padding=3), nn.ReLU(),
        nn.MaxPool2d(2),                          # layer 1: 32 x 8 x 8
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),                          # layer 2: 64 x 4 x 4
        nn.Conv2d(64, 96, kernel_size=3, padding=1), nn.ReLU(),  # layer 3
        nn.MaxPool2d(2),                          # 96 x 2 x 2
        nn.Conv2d(96, CHANNELS_4, kernel_size=3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),    # layer 4: 96 x 2 x 2
        nn.Linear(CHANNELS_4, len(names)))


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
            else m for i, m in enumerate(nets[0][:11])])
        self.weight = nn.Parameter(torch.stack([n[-1].weight for n in nets]))
        self.bias = nn.Parameter(torch.stack([n[-1].bias for n in nets]))

    def forward(self, x):  # x: (batch, seeds, 1, 32, 32)
        x = x.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        h = self.features(x).mean(dim=(2, 3))  # channels_last: faster
        h = h.view(len(x), self.n, -1)  # (batch, seeds, 96)
        return torch.einsum("bsf,scf->bsc", h, self.weight) + self.bias


model = Seeds(SEEDS).to(device)
features = model.features
LAYERS = {1: 1, 2: 4, 3: 7, 4: 10}  # layer -> index of its ReLU
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
        image = image[:, :MAP_SIDE, :MAP_SIDE]
        x = image[None].expand(1, len(SEEDS), -1, -1).to(device)
        for index, layer in enumerate(features):
            x = layer(x)
            for number, relu in LAYERS.items():
                if index == relu:
                    maps[number].append(x[0].view(
                        len(SEEDS), -1, *x.shape[2:])[:, :UNITS].cpu())


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
# --8<-- [end:top9]

# --8<-- [start:count]
# At every layer: the mean number of distinct photos among a unit's TOP
# regions, per seed; the same for the untrained copies (the baseline).
def photo_counts():
    return {number: np.array([np.mean([len({p for _, p, _, _ in t})
                                        for t in top_patches(number, s)])
                              for s in range(len(SEEDS))])
            for number in LAYERS}


trained = photo_counts()
untrained_model = Seeds(SEEDS).to(device)  # the same seeds: the start
features = untrained_model.features
with torch.no_grad():
    maps = {layer: [] for layer in LAYERS}
    for image in inputs:
        image = image[:, :MAP_SIDE, :MAP_SIDE]
        x = image[None].expand(1, len(SEEDS), -1, -1).to(device)
        for index, layer in enumerate(features):
            x = layer(x)
            for number, relu in LAYERS.items():
                if index == relu:
                    maps[number].append(x[0].view(
                        len(SEEDS), -1, *x.shape[2:])[:, :UNITS].cpu())
untrained = photo_counts()
for number in LAYERS:
    print(f"layer {number} ({int(geometry[LAYERS[number]][0])} px): "
          f"photos per unit {trained[number].round(2)}, "
          f"untrained {untrained[number].round(2)}")
# --8<-- [end:count]


# --8<-- [start:report]
def mean_std(values):
    return {"mean": round(float(np.mean(values)), 4),
            "std": round(float(np.std(values)), 4)}


metrics = {
    "n_seeds": len(SEEDS),
    "steps": STEPS,
    "receptive_field": {f"layer{k}": int(geometry[i][0])
                        for k, i in LAYERS.items()},
    "valid_accuracy": mean_std(accuracy),
    "chance_accuracy": round(1 / len(names), 4),
    "photos_per_unit": {f"layer{k}": mean_std(v) for k, v in trained.items()},
    "baseline_untrained_photos_per_unit": {
        f"layer{k}": mean_std(v) for k, v in untrained.items()},
    "layer4_fewer_than_layer3": int((trained[4] < trained[3]).sum()),
    "layer4_more_than_layer3": int((trained[4] > trained[3]).sum()),
    "fewer_photos_each_layer": int(((trained[1] > trained[2])
                                    & (trained[2] > trained[3])
                                    & (trained[3] > trained[4])).sum()),
    "layer4_fewer_than_untrained": int((trained[4] < untrained[4]).sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds == 2
# dlnotes: expect quick photos_per_unit.layer4.mean >= 1
# dlnotes: expect full n_seeds >= 5
# the four-layer network trained (chance is 1 in 16)
# dlnotes: expect full valid_accuracy.mean >= 0.15
# dlnotes: expect full receptive_field.layer4 == 77
