"""Data augmentation: what torchvision's transforms.v2 do, and what they buy.

First a grid of random rotations, brightness and contrast changes of a
bundled photo. Then the measured effect: the digits CNN trained on only 50
labelled digits, with and without random rotations and shifts of its
training images, repeated on several random training sets (all runs are
trained side by side as one batched model). Run it alone with
`python augmentation.py`; outputs go to DLNOTES_OUT (default
./outputs/augmentation). DLNOTES_QUICK=1 trains fewer, shorter runs.
"""

# --8<-- [start:setup]
# Settings first, so a reader sees the size of the experiment at a glance:
# 50 labelled digits is a small-data problem, where augmentation matters.
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
import torch
import torch.nn.functional as F
from skimage import data
from sklearn.datasets import load_digits
from torch import nn
from torchvision.transforms import v2

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
PER_CLASS = 5  # labelled training digits per class: a small-data problem
N_VALID = 500
N_CURVE = 200  # validation digits for the curve; all N_VALID at the end
N_SEEDS = 2 if QUICK else 8  # runs: training set, init, batch order
EPOCHS = 25 if QUICK else 100
WINDOW = 3  # read the error off the mean of the last 3 epochs
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/augmentation"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"augmentation.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
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
INKS = {"": "#1f1f1f", "-dark": "#e2e2e2"}  # file suffix: text and axes colour


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


# --8<-- [start:grid]
# Seeing the transforms first: each picture is a new random draw, and the
# label ("cat") would stay the same for all of them.
photo = torch.tensor(data.chelsea()).permute(2, 0, 1)  # uint8, 3 x 300 x 451
photo = v2.functional.resize(photo, [150, 225], antialias=True)
transforms = {
    "rotation ±30°": v2.RandomRotation(30),
    "brightness, contrast": v2.ColorJitter(brightness=0.6, contrast=0.7),
    "both, in a row": v2.Compose([
        v2.RandomRotation(30),
        v2.ColorJitter(brightness=0.6, contrast=0.7)]),
}
torch.manual_seed(SEED)  # the transforms draw their random numbers from torch
samples = {name: [t(photo) for _ in range(3)]
           for name, t in transforms.items()}
# --8<-- [end:grid]


def draw_grid():
    fig, axes = plt.subplots(len(transforms), 4, figsize=(6.4, 4.1))
    for row, (name, pictures) in zip(axes, samples.items(), strict=True):
        row[0].imshow(photo.permute(1, 2, 0))
        row[0].set_title("original", fontsize=9)
        for ax, image in zip(row[1:], pictures, strict=True):
            ax.imshow(image.permute(1, 2, 0))
        row[1].set_title(name, fontsize=9, loc="left")
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


save_figure(draw_grid, "grid")

# --8<-- [start:augment]
# torchvision's RandomAffine draws one rotation per call: slow for
# thousands of 8x8 digits. This draws the same transform (up to 10 degrees,
# shifts of -1, 0 or +1 pixel) for a whole batch at once.
DEGREES, SHIFT = 10, 1  # degrees; pixels


def augment(x, generator):
    """Random rotation and shift of every image in x (N, 1, 8, 8)."""
    n = len(x)
    angle = torch.deg2rad(
        (torch.rand(n, generator=generator) * 2 - 1) * DEGREES)
    shift = torch.round(
        (torch.rand(n, 2, generator=generator) * 2 - 1) * SHIFT)
    shift = shift * 2 / x.shape[-1]  # pixels -> affine_grid's [-1, 1]
    theta = torch.stack([
        torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], dim=1),
        torch.stack([angle.sin(), angle.cos(), shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", align_corners=False)
# --8<-- [end:augment]


# --8<-- [start:digits]
# Each seed gets its own 50 training digits, starting weights and batch
# order; with and without augmentation share all three, so the only
# difference inside a pair is the augmentation. All 2 x N_SEEDS models
# train side by side as one network: grouped convolutions keep each
# model's channels apart, and the last layer has a leading model axis.
digits = load_digits()
images = torch.tensor(digits.images / 16.0,
                      dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
labels = torch.tensor(digits.target)


def make_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(  # the digits CNN of the losses page
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 4 * 4, 10),
    )


class Models(nn.Module):
    """The CNNs of `nets` as one: input (batch, models, 8, 8)."""

    def __init__(self, nets):
        super().__init__()
        n, self.n = len(nets), len(nets)
        self.conv1 = nn.Conv2d(n, n * 16, 3, padding=1, groups=n)
        self.conv2 = nn.Conv2d(n * 16, n * 32, 3, padding=1, groups=n)
        with torch.no_grad():  # each model starts from its own weights
            for conv, i in [(self.conv1, 0), (self.conv2, 2)]:
                conv.weight.copy_(torch.cat([m[i].weight for m in nets]))
                conv.bias.copy_(torch.cat([m[i].bias for m in nets]))
        self.weight = nn.Parameter(torch.stack(
            [m[-1].weight.detach().T for m in nets]))  # (n, 512, 10)
        self.bias = nn.Parameter(torch.stack(
            [m[-1].bias.detach() for m in nets]))  # (n, 10)

    def forward(self, x):
        h = F.max_pool2d(self.conv2(self.conv1(x).relu()).relu(), 2)
        h = F.dropout(h.unflatten(1, (self.n, -1)).flatten(2), 0.5,
                      self.training)  # (batch, models, 512)
        return torch.einsum("bmi,mio->bmo", h, self.weight) + self.bias


train_idx, valid_idx = [], []
for run in range(N_SEEDS):
    rng = np.random.default_rng(SEED + run)  # a new small training set
    order = rng.permutation(len(labels))
    train_idx.append(np.concatenate(
        [order[digits.target[order] == c][:PER_CLASS] for c in range(10)]))
    valid_idx.append(np.setdiff1d(order, train_idx[-1])[:N_VALID])
# model m < N_SEEDS: plain; m >= N_SEEDS: augmented, same seed and data
train_idx, valid_idx = np.array(train_idx * 2), np.array(valid_idx * 2)
model = Models([make_model(SEED + run) for run in range(N_SEEDS)] * 2)
model = model.to(device, memory_format=torch.channels_last)
x_train = images[train_idx][:, :, 0].to(device)  # (models, 50, 8, 8)
y_train = labels[train_idx].to(device)
x_valid = images[valid_idx][:, :, 0].transpose(0, 1).to(
    device, memory_format=torch.channels_last)  # (500, models, 8, 8)
y_valid = labels[valid_idx].to(device)  # (models, 500)
n_models, n_train = y_train.shape
augmented = torch.arange(n_models) >= N_SEEDS
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
generator = torch.Generator().manual_seed(SEED)
rows = torch.arange(n_models)[:, None]
history = {}  # epoch -> validation error of every model
for epoch in range(1, EPOCHS + 1):
    model.train()
    order = torch.stack([torch.randperm(n_train, generator=generator)
                         for _ in range(N_SEEDS)]).repeat(2, 1)
    for batch in order.split(BATCH_SIZE, dim=1):
        x, y = x_train[rows, batch], y_train[rows, batch]  # (models, b)
        x[augmented] = augment(x[augmented].flatten(0, 1)[:, None],
                               generator)[:, 0].view_as(x[augmented])
        logits = model(x.transpose(0, 1).contiguous(
            memory_format=torch.channels_last))  # (b, models, 10)
        loss = F.cross_entropy(logits.flatten(0, 1), y.T.flatten(),
                               reduction="none").view(y.T.shape)
        optimizer.zero_grad()
        loss.mean(dim=0).sum().backward()  # each model its own mean
        optimizer.step()
    if epoch % 10 == 0 or epoch > EPOCHS - WINDOW:
        model.eval()  # the curve: N_CURVE digits; the last epochs: all
        n = N_VALID if epoch > EPOCHS - WINDOW else N_CURVE
        with torch.no_grad():
            wrong = y_valid[:, :n] != model(x_valid[:n]).argmax(-1).T
        history[epoch] = wrong.float().mean(dim=1).cpu()
last = range(EPOCHS - WINDOW + 1, EPOCHS + 1)
error = torch.stack([history[e] for e in last]).mean(dim=0).double()
table = pd.DataFrame({"seed": range(N_SEEDS),
                      "error without augmentation": error[:N_SEEDS],
                      "error with augmentation": error[N_SEEDS:]})
print(table.to_string(index=False))
# --8<-- [end:digits]

# --8<-- [start:report]
# Mean ± std over the seeds and a win count: the effect is the gap inside
# each pair, so we count the pairs where augmentation did better.
plain = table["error without augmentation"].to_numpy()
augm = table["error with augmentation"].to_numpy()
shown = table.astype(object)
for column in ["error without augmentation", "error with augmentation"]:
    shown[column] = table[column].map("{:.1%}".format)
shown.loc[len(shown)] = ["mean ± std",
                         f"{plain.mean():.1%} ± {plain.std(ddof=1):.1%}",
                         f"{augm.mean():.1%} ± {augm.std(ddof=1):.1%}"]
(OUT / "errors.md").write_text(shown.to_markdown(index=False) + "\n")
table.to_csv(OUT / "errors.csv", index=False)
# --8<-- [end:report]


def draw_pairs():
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    ink = plt.rcParams["text.color"]
    for p, a in zip(plain, augm, strict=True):
        ax.plot([0, 1], [p, a], color=COLORS[5], lw=1, alpha=0.8,
                marker="o", ms=4)
    for x, values, c in [(-0.12, plain, COLORS[0]), (1.12, augm, COLORS[1])]:
        ax.errorbar(x, values.mean(), yerr=values.std(ddof=1), fmt="s",
                    color=c, capsize=5, lw=2, ms=7)
    ax.set_xticks([0, 1], ["without augmentation", "with augmentation"])
    ax.set_xlim(-0.5, 1.5)
    ax.yaxis.set_major_formatter(plt.FuncFormatter("{:.0%}".format))
    ax.set_ylabel("validation error")
    ax.set_title(f"{N_SEEDS} seeds (lines join a pair); squares: "
                 "mean ± std", color=ink)
    ax.grid(axis="y")
    fig.tight_layout()
    return fig


def draw_curves():
    epochs = sorted(e for e in history if e % 10 == 0)
    errors = torch.stack([history[e] for e in epochs]).numpy()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    for part, label, c in [(slice(0, N_SEEDS), "without augmentation",
                            COLORS[0]),
                           (slice(N_SEEDS, None), "with augmentation",
                            COLORS[1])]:
        mean, std = errors[:, part].mean(1), errors[:, part].std(1, ddof=1)
        ax.plot(epochs, mean, color=c, label=label)
        ax.fill_between(epochs, mean - std, mean + std, color=c, alpha=0.25)
    ax.yaxis.set_major_formatter(plt.FuncFormatter("{:.0%}".format))
    ax.set(xlabel="epoch", ylabel="validation error")
    ax.legend()
    ax.grid()
    fig.tight_layout()
    return fig


def draw_digit():
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    three = images[labels == 3][:1].repeat(6, 1, 1, 1)
    draws = torch.cat([three[:1], augment(three[1:], generator)])
    fig, axes = plt.subplots(1, 6, figsize=(6.4, 1.6))
    for i, (ax, image) in enumerate(zip(axes, draws, strict=True)):
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1)
        ax.set_title("original" if i == 0 else f"draw {i}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


save_figure(draw_pairs, "pairs")
save_figure(draw_curves, "curves")
save_figure(draw_digit, "digit_draws")

gain = plain - augm
metrics = {
    "train_size": PER_CLASS * 10,
    "per_class": PER_CLASS,
    "n_valid": N_VALID,
    "n_seeds": N_SEEDS,
    "epochs": EPOCHS,
    "window": WINDOW,
    "error_augmented_mean": round(float(augm.mean()), 4),
    "error_augmented_std": round(float(augm.std(ddof=1)), 4),
    "baseline_error_mean": round(float(plain.mean()), 4),
    "baseline_error_std": round(float(plain.std(ddof=1)), 4),
    "gain_mean": round(float(gain.mean()), 4),
    "gain_std": round(float(gain.std(ddof=1)), 4),
    "relative_gain": round(float(gain.mean() / plain.mean()), 4),
    "wins": int((gain > 0).sum()),
    "ties": int((gain == 0).sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# About 25 CPU seconds; the margin is for a busy machine.
# dlnotes: timeout 900
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick baseline_error_mean <= 0.6
# dlnotes: expect quick error_augmented_mean <= 0.6
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full baseline_error_mean <= 0.25
# dlnotes: expect full error_augmented_mean <= 0.25
# The page reports the win count; fail only if augmentation clearly lost.
# dlnotes: expect full wins >= 5
