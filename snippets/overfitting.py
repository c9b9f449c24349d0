"""Overfitting: an over-sized MLP memorises 150 handwritten digits, with clean and noisy labels.

Run it alone with `python overfitting.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/overfitting). DLNOTES_QUICK=1 trains for fewer epochs.
"""
# dlnotes: expect quick final_train_accuracy >= 0.85
# dlnotes: expect quick best_valid_accuracy >= 0.75
# dlnotes: expect quick clean.final_train_accuracy >= 0.99
# dlnotes: expect full final_train_accuracy >= 0.99
# dlnotes: expect full valid_accuracy_drop >= 0.05
# dlnotes: expect full augmented_gain >= 0.03
# dlnotes: timeout 180

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
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_TRAIN = 150          # a small slice of the 1,797 digits: 15 per class
NOISE = 0.20           # fraction of training labels replaced by a wrong, random class
EPOCHS = 20 if QUICK else 100
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
HIDDEN = 512           # 64 -> 512 -> 512 -> 10: about 300,000 weights for 150 images
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/overfitting"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"overfitting.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:data]
digits = load_digits()  # 1,797 real 8x8 scans, values 0..16
pixels = torch.tensor(digits.data / 16.0, dtype=torch.float32)  # (N, 64)
labels = torch.tensor(digits.target)
train_idx, valid_idx = train_test_split(
    np.arange(len(labels)), train_size=N_TRAIN, random_state=SEED, stratify=digits.target
)
valid_idx = valid_idx[:500] if QUICK else valid_idx  # all the other 1,647 images in full mode
x_train, y_train = pixels[train_idx].to(device), labels[train_idx].to(device)
x_valid, y_valid = pixels[valid_idx].to(device), labels[valid_idx].to(device)

# The noisy copy: NOISE of the training labels get a different class, drawn at random.
rng = np.random.default_rng(SEED)
flipped = rng.choice(N_TRAIN, size=round(NOISE * N_TRAIN), replace=False)
y_noisy = y_train.clone()
y_noisy[flipped] = (y_noisy[flipped] + torch.tensor(rng.integers(1, 10, len(flipped)),
                                                    device=device)) % 10
print(f"{N_TRAIN} training images ({len(flipped)} noisy labels), {len(valid_idx)} validation")
# --8<-- [end:data]


# --8<-- [start:model]
def make_model():
    return nn.Sequential(
        nn.Linear(64, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, 10),
    ).to(device)


def shift(x, generator):
    """Augmentation: move each 8x8 image by up to one pixel in each direction (zeros fill in)."""
    padded = F.pad(x.view(-1, 8, 8), (1, 1, 1, 1))       # (B, 10, 10)
    windows = padded.unfold(1, 8, 1).unfold(2, 8, 1)       # (B, 3, 3, 8, 8): all 9 shifts
    dy, dx = torch.randint(0, 3, (2, len(x)), generator=generator)
    return windows[torch.arange(len(x)), dy, dx].reshape(-1, 64)
# --8<-- [end:model]


# --8<-- [start:train]
loss_fn = nn.CrossEntropyLoss()


def measure(model, x, y):
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return loss_fn(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def train(run, targets, augment=False):
    """Train a fresh model on (x_train, targets); measure both sets after every epoch."""
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    history = []
    for epoch in range(EPOCHS):
        model.train()
        for batch in torch.randperm(N_TRAIN, generator=generator).split(BATCH_SIZE):
            xb = shift(x_train[batch], generator) if augment else x_train[batch]
            loss = loss_fn(model(xb), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_loss, train_acc = measure(model, x_train, targets)  # the labels it learns from
        valid_loss, valid_acc = measure(model, x_valid, y_valid)  # always the true labels
        history.append({"run": run, "epoch": epoch, "train_loss": train_loss,
                        "valid_loss": valid_loss, "train_accuracy": train_acc,
                        "valid_accuracy": valid_acc})
        if epoch % 10 == 0 or epoch == EPOCHS - 1:
            print(f"{run:>9} epoch {epoch:3d}: train_loss {train_loss:.4f} acc {train_acc:.3f}"
                  f"  valid_loss {valid_loss:.4f} acc {valid_acc:.3f}")
    return pd.DataFrame(history)


runs = {
    "clean": train("clean", y_train),
    "noisy": train("noisy", y_noisy),
    "augmented": train("augmented", y_noisy, augment=True),  # the remedy, same noisy labels
}
# --8<-- [end:train]

# --8<-- [start:report]
TITLES = {"clean": "clean labels", "noisy": f"{NOISE:.0%} noisy labels",
          "augmented": f"{NOISE:.0%} noisy labels + augmentation"}


def summary(h):
    best = int(h.valid_accuracy.idxmax())  # first epoch with the highest valid accuracy
    last = h.iloc[-1]
    return {
        "best_epoch": best,
        "best_valid_accuracy": round(h.valid_accuracy[best], 4),
        "final_train_accuracy": round(last.train_accuracy, 4),
        "final_valid_accuracy": round(last.valid_accuracy, 4),
        "valid_accuracy_drop": round(h.valid_accuracy[best] - last.valid_accuracy, 4),
        "min_valid_loss": round(h.valid_loss.min(), 4),
        "min_valid_loss_epoch": int(h.valid_loss.idxmin()),
        "final_valid_loss": round(last.valid_loss, 4),
        "first_perfect_epoch": (int((h.train_accuracy >= 1.0).idxmax())  # -1: never
                                if (h.train_accuracy >= 1.0).any() else -1),
    }


summaries = {run: summary(h) for run, h in runs.items()}
table = pd.DataFrame([{
    "run": TITLES[run],
    "train acc. 100 % from epoch": str(m["first_perfect_epoch"]).replace("-1", "never"),
    "lowest valid_loss (epoch)": f"{m['min_valid_loss']:.3f} ({m['min_valid_loss_epoch']})",
    "final valid_loss": f"{m['final_valid_loss']:.3f}",
    "best valid acc. (epoch)": f"{m['best_valid_accuracy']:.1%} ({m['best_epoch']})",
    "final train acc.": f"{m['final_train_accuracy']:.1%}",
    "final valid acc.": f"{m['final_valid_accuracy']:.1%}",
} for run, m in summaries.items()])
(OUT / "runs.md").write_text(table.to_markdown(index=False, disable_numparse=True,
                                                colalign=["left"] + ["right"] * 6)
                             + "\n")
pd.concat(runs.values()).to_csv(OUT / "history.csv", index=False)

fig, axes = plt.subplots(3, 2, figsize=(10, 9.5), sharex=True)
for row, (run, h) in enumerate(runs.items()):
    best = summaries[run]["best_epoch"]
    ax_loss, ax_acc = axes[row]
    ax_loss.plot(h.epoch, h.train_loss, label="train_loss")
    ax_loss.plot(h.epoch, h.valid_loss, label="valid_loss")
    ax_loss.set(title=f"{TITLES[run]}: loss", ylabel="cross-entropy loss", ylim=(0, 2.5))
    ax_acc.plot(h.epoch, h.train_accuracy, label="train accuracy (labels it learns from)")
    ax_acc.plot(h.epoch, h.valid_accuracy, label="valid accuracy")
    ax_acc.plot(best, h.valid_accuracy[best], "k*", markersize=11)
    ax_acc.set(title=f"{TITLES[run]}: accuracy", ylabel="accuracy", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.axvline(best, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best})")
        ax.legend(fontsize=8, loc="center right")
for ax in axes[-1]:
    ax.set_xlabel("epoch")
fig.tight_layout()
fig.savefig(OUT / "curves.png", dpi=110)
plt.close(fig)

metrics = {
    **summaries["noisy"],  # the headline numbers are those of the noisy run
    "n_train": N_TRAIN,
    "n_valid": len(valid_idx),
    "n_noisy_labels": len(flipped),
    "noise": NOISE,
    "epochs": EPOCHS,
    "clean": summaries["clean"],
    "augmented": summaries["augmented"],
    "augmented_gain": round(summaries["augmented"]["final_valid_accuracy"]
                            - summaries["noisy"]["final_valid_accuracy"], 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
