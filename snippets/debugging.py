"""Debugging model data: confusion matrices, most confused pairs, and sorting by loss.

Two problems: a small CNN on scikit-learn's handwritten digits (10 classes) and one on patches
of scikit-image's brick, grass and gravel photos (3 classes). Then a known 3 % of the digit
validation labels are flipped, and sorting by loss has to find them.

Run it alone with `python debugging.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/debugging). DLNOTES_QUICK=1 trains for fewer epochs.
"""
# dlnotes: expect quick digits_accuracy >= 0.8
# dlnotes: expect quick textures_accuracy >= 0.75
# dlnotes: expect quick flipped_recall_at_k >= 0.6
# dlnotes: expect full digits_accuracy >= 0.95
# dlnotes: expect full textures_accuracy >= 0.85
# dlnotes: expect full flipped_recall_at_k >= 0.7
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
import skimage.data
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
DIGIT_EPOCHS = 3 if QUICK else 20
TEXTURE_EPOCHS = 3 if QUICK else 8
PATCH = 32             # texture patches are 32 x 32 pixels
TRAIN_STRIDE = 32 if QUICK else 24  # training patches overlap a little in full mode
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
FLIP_FRACTION = 0.03   # share of validation labels we corrupt on purpose
TOP_K = 20             # how many of the highest losses a person would look at
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/debugging"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"debugging.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:fit]
def fit(model, x, y, epochs, name):
    """Plain Adam training loop; returns the model in eval mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).split(BATCH_SIZE):
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"{name} epoch {epoch}: last batch loss {loss.item():.4f}")
    return model.eval()


def predict(model, x):
    """Raw scores (logits) for every item, without tracking gradients."""
    with torch.no_grad():
        return model(x)
# --8<-- [end:fit]


# --8<-- [start:digits]
digits = load_digits()  # 1,797 real 8x8 scans of handwritten digits
images = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
train_idx, valid_idx = train_test_split(np.arange(len(images)), test_size=0.2,
                                        random_state=SEED, stratify=digits.target)
x_train = images[train_idx].to(device)
y_train = torch.tensor(digits.target[train_idx], device=device)
x_valid = images[valid_idx].to(device)
y_valid = torch.tensor(digits.target[valid_idx], device=device)

torch.manual_seed(SEED)
digit_model = fit(nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 4 * 4, 10),
).to(device), x_train, y_train, DIGIT_EPOCHS, "digits")
digit_logits = predict(digit_model, x_valid)
digit_probs = digit_logits.softmax(dim=1)
digit_preds = digit_probs.argmax(dim=1)
# --8<-- [end:digits]

# --8<-- [start:textures]
CLASSES = ["brick", "grass", "gravel"]  # three real 512 x 512 grayscale photos


def cut(image, rows, stride):
    """All PATCH x PATCH squares whose top-left corner lies on the stride grid, within rows."""
    return np.stack([image[r:r + PATCH, c:c + PATCH]
                     for r in range(rows.start, rows.stop - PATCH + 1, stride)
                     for c in range(0, image.shape[1] - PATCH + 1, stride)])


def standardise(patches):
    """Each patch to mean 0, std 1: the model must read texture, not overall brightness."""
    x = torch.tensor(patches, dtype=torch.float32).unsqueeze(1)
    return (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-3)


# Top 384 rows of each photo for training, the bottom 128 rows for validation: no overlap.
train_parts, valid_parts = [], []
for label, name in enumerate(CLASSES):
    photo = getattr(skimage.data, name)().astype(np.float32) / 255
    train_parts.append((cut(photo, range(0, 384), TRAIN_STRIDE), label))
    valid_parts.append((cut(photo, range(384, 512), PATCH), label))
tx_train = standardise(np.concatenate([p for p, _ in train_parts])).to(device)
ty_train = torch.tensor([lab for p, lab in train_parts for _ in p], device=device)
tx_valid = standardise(np.concatenate([p for p, _ in valid_parts])).to(device)
ty_valid = torch.tensor([lab for p, lab in valid_parts for _ in p], device=device)
print(f"textures: {len(tx_train)} training patches, {len(tx_valid)} validation patches")

torch.manual_seed(SEED)
texture_model = fit(nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 16 x 16
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 8 x 8
    nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 3),
).to(device), tx_train, ty_train, TEXTURE_EPOCHS, "textures")
texture_logits = predict(texture_model, tx_valid)
texture_preds = texture_logits.argmax(dim=1)
# --8<-- [end:textures]


# --8<-- [start:confusion]
def confusion(actual, predicted, n_classes):
    """counts[i, j] = how many items of actual class i were predicted as class j."""
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (actual.cpu().numpy(), predicted.cpu().numpy()), 1)
    return counts


def plot_confusion(counts, classes, title, path):
    size = max(4.2, 0.6 * len(classes))
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ax.imshow(counts, cmap="Blues")
    for i, j in np.ndindex(counts.shape):  # a count in every cell, zeros included
        ax.text(j, i, counts[i, j], ha="center", va="center",
                color="white" if counts[i, j] > counts.max() / 2 else "black")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)),
           xticklabels=classes, yticklabels=classes,
           xlabel="Predicted", ylabel="Actual", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def most_confused(counts, classes, min_count=1):
    """Off-diagonal cells, largest first: fastai's `most_confused`."""
    pairs = [(classes[i], classes[j], counts[i, j]) for i, j in np.ndindex(counts.shape)
             if i != j and counts[i, j] >= min_count]
    pairs.sort(key=lambda p: -p[2])
    return pd.DataFrame(pairs, columns=["actual", "predicted", "count"])


digit_counts = confusion(y_valid, digit_preds, 10)
texture_counts = confusion(ty_valid, texture_preds, 3)
plot_confusion(digit_counts, [str(d) for d in range(10)],
               "Digits CNN: validation set", OUT / "confusion_digits.png")
plot_confusion(texture_counts, CLASSES, "Textures CNN: validation patches",
               OUT / "confusion_textures.png")
digit_pairs = most_confused(digit_counts, [str(d) for d in range(10)])
texture_pairs = most_confused(texture_counts, CLASSES)
# --8<-- [end:confusion]
for frame, name in ((digit_pairs, "confused_digits"), (texture_pairs, "confused_textures")):
    shown = frame.head(8) if len(frame) else pd.DataFrame([["none", "none", 0]],
                                                          columns=frame.columns)
    (OUT / f"{name}.md").write_text(shown.to_markdown(index=False) + "\n")
    frame.to_csv(OUT / f"{name}.csv", index=False)

# --8<-- [start:flip]
# Corrupt a known set of validation labels, as a careless labeller might.
rng = np.random.default_rng(SEED)
n_flipped = round(FLIP_FRACTION * len(y_valid))
flipped = rng.choice(len(y_valid), size=n_flipped, replace=False)
y_noisy = y_valid.clone()
y_noisy[flipped] = (y_noisy[flipped] + torch.tensor(rng.integers(1, 10, n_flipped),
                                                    device=device)) % 10

# The loss of every validation item against the label it carries; sort, largest first.
losses = F.cross_entropy(digit_logits, y_noisy, reduction="none")
order = losses.argsort(descending=True).cpu().numpy()
is_flipped = np.isin(order, flipped)  # True where the i-th highest loss is a flipped item
recall_at = np.cumsum(is_flipped) / n_flipped  # share of flipped items found in the top k
flipped_recall_at_k = recall_at[TOP_K - 1]
print(f"{is_flipped[:TOP_K].sum()} of the {n_flipped} flipped labels are in the top {TOP_K} "
      f"losses of {len(order)}")
# --8<-- [end:flip]

# --8<-- [start:top_losses]
def plot_top_losses(x, labels, logits, classes, k, title, path, marked=(), ncols=5):
    """The k items with the highest loss, titled prediction/actual/loss/probability."""
    probs = logits.softmax(dim=1)
    item_losses = F.cross_entropy(logits, labels, reduction="none")
    top = item_losses.argsort(descending=True)[:k].tolist()
    nrows = -(-k // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, 2.0 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, top, strict=False):
        pred = probs[i].argmax().item()
        ax.imshow(x[i, 0].cpu(), cmap="gray_r" if x.shape[-1] == 8 else "gray")
        ax.set_title(f"{classes[pred]}/{classes[labels[i].item()]} / {item_losses[i]:.2f} / "
                     f"{probs[i, pred]:.2f}", fontsize=9,
                     color="tab:red" if i in marked else "black")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


plot_top_losses(x_valid, y_noisy, digit_logits, [str(d) for d in range(10)], TOP_K,
                f"Digits, top {TOP_K} losses: prediction / actual / loss / probability "
                "(red: a label we flipped)", OUT / "top_losses.png", marked=set(flipped))
plot_top_losses(tx_valid, ty_valid, texture_logits, CLASSES, 10,
                "Textures, top 10 losses: prediction / actual / loss / probability",
                OUT / "top_losses_textures.png")
# --8<-- [end:top_losses]

k = np.arange(1, len(order) + 1)
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.plot(k, recall_at, label="items sorted by loss")
ax.plot(k, np.minimum(k / len(order), 1), "--", label="items in random order (expected)")
ax.axvline(TOP_K, color="grey", linestyle=":", label=f"k = {TOP_K}")
ax.set(xlim=(0, 3 * TOP_K), xlabel="k: number of highest-loss items inspected",
       ylabel="share of flipped labels found", title="Finding the flipped labels")
ax.legend(loc="lower right")
fig.tight_layout()
fig.savefig(OUT / "flipped_recall.png", dpi=110)
plt.close(fig)

photos = [getattr(skimage.data, name)() for name in CLASSES]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.7))
for ax, photo, name in zip(axes, photos, CLASSES, strict=True):
    ax.imshow(photo, cmap="gray")
    ax.axhline(384, color="tab:orange", linewidth=2)
    ax.set(title=f"{name}: train above, valid below the line", xticks=[], yticks=[])
    ax.title.set_fontsize(9)
fig.tight_layout()
fig.savefig(OUT / "textures.png", dpi=110)
plt.close(fig)


def first_pair(frame):
    return frame.iloc[0].tolist() if len(frame) else ["none", "none", 0]


digit_top, texture_top = first_pair(digit_pairs), first_pair(texture_pairs)
texture_losses = F.cross_entropy(texture_logits, ty_valid, reduction="none")
worst = texture_losses.argmax().item()
metrics = {
    "n_digits_train": len(train_idx),
    "n_digits_valid": len(valid_idx),
    "digits_accuracy": round((digit_preds == y_valid).float().mean().item(), 4),
    "digits_errors": int((digit_preds != y_valid).sum()),
    "digits_top_pair": {"actual": digit_top[0], "predicted": digit_top[1],
                        "count": int(digit_top[2])},
    "n_textures_train": len(tx_train),
    "n_textures_valid": len(tx_valid),
    "textures_accuracy": round((texture_preds == ty_valid).float().mean().item(), 4),
    "textures_errors": int((texture_preds != ty_valid).sum()),
    "textures_top_pair": {"actual": texture_top[0], "predicted": texture_top[1],
                          "count": int(texture_top[2])},
    "textures_top_loss": {"actual": CLASSES[ty_valid[worst].item()],
                          "predicted": CLASSES[texture_preds[worst].item()],
                          "loss": round(texture_losses[worst].item(), 4)},
    "flip_fraction": FLIP_FRACTION,
    "n_flipped": n_flipped,
    "top_k": TOP_K,
    "flipped_in_top_k": int(is_flipped[:TOP_K].sum()),
    "flipped_recall_at_k": round(float(flipped_recall_at_k), 4),
    "random_recall_at_k": round(TOP_K / len(order), 4),
    "flipped_recall_at_n_flipped": round(float(recall_at[n_flipped - 1]), 4),
    "k_for_all_flipped": int(np.argmax(recall_at >= 1.0) + 1),
    "top_k_genuine_errors": int(sum(digit_preds[i].item() != y_valid[i].item()
                                    for i in order[:TOP_K] if i not in flipped)),
    "top_loss": round(losses[order[0]].item(), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
