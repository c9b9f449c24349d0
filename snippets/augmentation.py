"""Data augmentation: what torchvision's transforms.v2 do to a photo, and what they buy.

First a grid of random rotations, brightness and contrast changes of a bundled photo. Then the
measured effect: the digits CNN trained on only a few labelled digits, with and without random
rotations and shifts of its training images, over several random training sets.
Run it alone with `python augmentation.py`; outputs go to DLNOTES_OUT (default
./outputs/augmentation). DLNOTES_QUICK=1 trains fewer, shorter runs.
"""
# dlnotes: expect quick runs == 1
# dlnotes: expect quick error_plain <= 0.5
# dlnotes: expect quick error_augmented <= 0.5
# dlnotes: expect full augmentation_gain > 0
# dlnotes: expect full wins >= 4

# --8<-- [start:setup]
import json
import os
import random
import sys
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
RUNS = 1 if QUICK else 6  # different random training sets
EPOCHS = 40 if QUICK else 150
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/augmentation"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"augmentation.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:grid]
photo = torch.tensor(data.chelsea()).permute(2, 0, 1)  # uint8, 3 x 300 x 451
photo = v2.functional.resize(photo, [150, 225], antialias=True)
transforms = {
    "rotation ±30°": v2.RandomRotation(30),
    "brightness ×0.4–1.6": v2.ColorJitter(brightness=0.6),
    "contrast ×0.3–1.7": v2.ColorJitter(contrast=0.7),
    "all three, in a row": v2.Compose([v2.RandomRotation(30),
                                       v2.ColorJitter(brightness=0.6, contrast=0.7)]),
}
torch.manual_seed(SEED)  # the transforms draw their random numbers from torch
samples = {name: [t(photo) for _ in range(4)] for name, t in transforms.items()}
# --8<-- [end:grid]

fig, axes = plt.subplots(len(transforms), 5, figsize=(10, 6.2))
for row, (name, images) in zip(axes, samples.items(), strict=True):
    row[0].imshow(photo.permute(1, 2, 0))
    row[0].set_title("original", fontsize=9)
    for ax, image in zip(row[1:], images, strict=True):
        ax.imshow(image.permute(1, 2, 0))
    row[1].set_title(name, fontsize=9, loc="left")
    for ax in row:
        ax.set_xticks([])
        ax.set_yticks([])
fig.suptitle("torchvision.transforms.v2 on a bundled photo (skimage 'chelsea'):\n"
             "each picture is a new random draw", fontsize=10)
fig.tight_layout()
fig.savefig(OUT / "grid.png", dpi=110)
plt.close(fig)

# --8<-- [start:digits]
digits = load_digits()
images = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
labels = torch.tensor(digits.target)
augment = v2.RandomAffine(degrees=10, translate=(0.125, 0.125),  # up to 10° and 1 pixel
                          interpolation=v2.InterpolationMode.BILINEAR)


def make_model():
    return nn.Sequential(  # the digits CNN of the losses page
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 4 * 4, 10),
    ).to(device)


def train_and_measure(train_idx, valid_idx, augmented, seed):
    """Train from scratch; return the validation error rate after the last epoch."""
    torch.manual_seed(seed)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    x_train, y_train = images[train_idx], labels[train_idx].to(device)
    for _ in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(train_idx)).split(BATCH_SIZE):
            x = x_train[batch]
            if augmented:  # a new random rotation and shift of every image, every epoch
                x = torch.stack([augment(image) for image in x])
            loss = F.cross_entropy(model(x.to(device)), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(images[valid_idx].to(device)).argmax(dim=1).cpu()
    return (predicted != labels[valid_idx]).float().mean().item()


results = []
for run in range(RUNS):
    rng = np.random.default_rng(SEED + run)  # a different small training set per run
    order = rng.permutation(len(labels))
    train_idx = np.concatenate([order[digits.target[order] == c][:PER_CLASS] for c in range(10)])
    valid_idx = np.setdiff1d(order, train_idx)[:N_VALID]
    plain = train_and_measure(train_idx, valid_idx, augmented=False, seed=SEED + run)
    augmented = train_and_measure(train_idx, valid_idx, augmented=True, seed=SEED + run)
    results.append({"run": run, "error without augmentation": plain,
                    "error with augmentation": augmented})
    print(f"run {run}: validation error {plain:.3f} without, {augmented:.3f} with augmentation")
table = pd.DataFrame(results)
# --8<-- [end:digits]

# --8<-- [start:report]
mean_row = {"run": "mean", **table.drop(columns="run").mean().to_dict()}
shown = pd.concat([table, pd.DataFrame([mean_row])], ignore_index=True)
for column in ["error without augmentation", "error with augmentation"]:
    shown[column] = shown[column].map("{:.1%}".format)
(OUT / "errors.md").write_text(shown.to_markdown(index=False) + "\n")
table.to_csv(OUT / "errors.csv", index=False)

torch.manual_seed(SEED)
example = images[labels == 3][:1].repeat(8, 1, 1, 1)
fig, axes = plt.subplots(1, 8, figsize=(8, 1.6))
for ax, i, image in zip(axes, range(8), example, strict=True):
    ax.imshow(image[0] if i == 0 else augment(image)[0], cmap="gray", vmin=0, vmax=1)
    ax.set_title("original" if i == 0 else f"draw {i}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("One 8×8 training digit under RandomAffine(degrees=10, translate=(0.125, 0.125))",
             fontsize=9)
fig.tight_layout()
fig.savefig(OUT / "digit_draws.png", dpi=110)
plt.close(fig)

plain_error = float(table["error without augmentation"].mean())
augmented_error = float(table["error with augmentation"].mean())
metrics = {
    "train_size": PER_CLASS * 10,
    "per_class": PER_CLASS,
    "n_valid": N_VALID,
    "runs": RUNS,
    "epochs": EPOCHS,
    "error_plain": round(plain_error, 4),
    "error_augmented": round(augmented_error, 4),
    "augmentation_gain": round(plain_error - augmented_error, 4),
    "relative_gain": round((plain_error - augmented_error) / plain_error, 4),
    "wins": int((table["error with augmentation"] < table["error without augmentation"]).sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
