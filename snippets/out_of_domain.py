"""Out-of-domain data: how confident is a digits classifier on things that are not digits?

A small CNN learns scikit-learn's 8 x 8 handwritten digits. Then it is shown its validation
digits and four kinds of input it never saw: faces (scikit-image's lfw_subset), patches of
photos, random noise, and generated pen strokes that are not digits. We score every input with
the model's maximum softmax probability (and its energy, logsumexp of the logits) and ask how
well that separates digits from the rest. Run it alone with `python out_of_domain.py`; outputs
go to DLNOTES_OUT (default ./outputs/out_of_domain). DLNOTES_QUICK=1 trains for fewer epochs.
"""
# dlnotes: expect quick valid_accuracy >= 0.85
# dlnotes: expect quick mean_auroc_msp >= 0.85
# dlnotes: expect full valid_accuracy >= 0.95
# dlnotes: expect full mean_auroc_msp >= 0.8

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
from skimage.draw import line_aa
from skimage.transform import resize
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
EPOCHS = 6 if QUICK else 20
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
N_OUT = 300  # inputs per generated out-of-domain kind (there are 100 faces)
CONFIDENT = 0.9  # "the model is sure": maximum softmax probability above this
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/out_of_domain"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"out_of_domain.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:train]
digits = load_digits()
images = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
labels = torch.tensor(digits.target)
train_idx, valid_idx = train_test_split(np.arange(len(labels)), test_size=0.2,
                                        random_state=SEED, stratify=digits.target)
model = nn.Sequential(  # the digits CNN of the losses page
    nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 4 * 4, 10),
).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
generator = torch.Generator().manual_seed(SEED)
x_train, y_train = images[train_idx].to(device), labels[train_idx].to(device)
for epoch in range(EPOCHS):
    model.train()
    for batch in torch.randperm(len(x_train), generator=generator).split(BATCH_SIZE):
        loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}")
# --8<-- [end:train]

# --8<-- [start:out_of_domain]
rng = np.random.default_rng(SEED)


def shrink(image):
    """Any gray image in [0, 1] -> 8 x 8, the size and value range of the digits."""
    return resize(image, (8, 8), anti_aliasing=True)


def photo_patches(n):
    photos = [data.camera(), data.brick(), data.grass(), data.coins(), data.moon(), data.page()]
    out = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))] / 255.0
        size = int(rng.integers(16, 64))
        y, x = rng.integers(0, photo.shape[0] - size), rng.integers(0, photo.shape[1] - size)
        out.append(shrink(photo[y:y + size, x:x + size]))
    return out


def strokes(n):
    """Generated pen scribbles, drawn like the digits (light ink on black): not digits."""
    out = []
    for _ in range(n):
        canvas = np.zeros((32, 32))
        points = rng.integers(4, 28, size=(int(rng.integers(2, 5)), 2))
        for (r0, c0), (r1, c1) in zip(points[:-1], points[1:], strict=True):
            for dr, dc in [(0, 0), (0, 1), (1, 0), (1, 1), (-1, 0), (0, -1)]:  # a thick pen
                rr, cc, value = line_aa(r0 + dr, c0 + dc, r1 + dr, c1 + dc)
                keep = (rr >= 0) & (rr < 32) & (cc >= 0) & (cc < 32)
                canvas[rr[keep], cc[keep]] = np.maximum(canvas[rr[keep], cc[keep]], value[keep])
        out.append(shrink(canvas) / max(shrink(canvas).max(), 1e-6))
    return out


faces = data.lfw_subset()  # 200 gray 25 x 25 crops: 100 faces, 100 non-faces
face_images = [shrink(f) for f in faces[:100]]
sets = {
    "digits (validation, in domain)": list(images[valid_idx, 0].numpy()),
    "faces (lfw_subset)": face_images,  # all 100 of them
    "photo patches": photo_patches(N_OUT),
    "uniform noise": list(rng.uniform(0, 1, size=(N_OUT, 8, 8))),
    "pen strokes (not digits)": strokes(N_OUT),
}
# --8<-- [end:out_of_domain]

# --8<-- [start:score]
model.eval()
scores = {}
with torch.no_grad():
    for name, items in sets.items():
        x = torch.tensor(np.stack(items), dtype=torch.float32).unsqueeze(1).to(device)
        logits = model(x)
        probs = logits.softmax(dim=1)
        scores[name] = {
            "msp": probs.max(dim=1).values.cpu().numpy(),  # maximum softmax probability
            "energy": torch.logsumexp(logits, dim=1).cpu().numpy(),  # higher: more familiar
            "predicted": probs.argmax(dim=1).cpu().numpy(),
        }
in_name = "digits (validation, in domain)"
inside = scores[in_name]
valid_accuracy = float((inside["predicted"] == digits.target[valid_idx]).mean())

rows = []
for name, s in scores.items():
    row = {"inputs": name, "n": len(s["msp"]),
           f"share with confidence > {CONFIDENT}": float((s["msp"] > CONFIDENT).mean()),
           "mean confidence": float(s["msp"].mean())}
    if name != in_name:  # AUROC: the chance that a random digit scores above a random outsider
        truth = np.r_[np.ones(len(inside["msp"])), np.zeros(len(s["msp"]))]
        row["AUROC (max softmax)"] = roc_auc_score(truth, np.r_[inside["msp"], s["msp"]])
        row["AUROC (energy)"] = roc_auc_score(truth, np.r_[inside["energy"], s["energy"]])
    rows.append(row)
table = pd.DataFrame(rows)
outside = table[table.inputs != in_name]
all_out_msp = np.concatenate([s["msp"] for n, s in scores.items() if n != in_name])
print(table.to_string(index=False))
# --8<-- [end:score]

# --8<-- [start:report]
shown = table.copy()
shown[f"share with confidence > {CONFIDENT}"] = shown[
    f"share with confidence > {CONFIDENT}"].map("{:.1%}".format)
(OUT / "auroc.md").write_text(
    shown.to_markdown(index=False, floatfmt=".3f").replace(" nan ", " —   ") + "\n")
table.to_csv(OUT / "auroc.csv", index=False)

fig, axes = plt.subplots(2, 2, figsize=(9, 6.4), sharex=True, sharey=True)
bins = np.linspace(0, 1, 21)
for ax, name in zip(axes.flat, [n for n in sets if n != in_name], strict=True):
    ax.hist(inside["msp"], bins=bins, density=True, alpha=0.5, color="tab:blue",
            label="digits (in domain)")
    ax.hist(scores[name]["msp"], bins=bins, density=True, alpha=0.6, color="tab:red",
            label="out of domain")
    ax.axvline(CONFIDENT, color="black", ls=":", lw=1)
    auroc = outside.set_index("inputs").loc[name, "AUROC (max softmax)"]
    ax.set_title(f"{name}: AUROC {auroc:.3f}", fontsize=10)
for ax in axes[1]:
    ax.set_xlabel("maximum softmax probability")
for ax in axes[:, 0]:
    ax.set_ylabel("density")
axes[0, 0].legend(fontsize=8, loc="upper left")
fig.suptitle("How sure the digits model is: digits (blue) against inputs it never saw (red)",
             fontsize=10)
fig.tight_layout()
fig.savefig(OUT / "confidence.png", dpi=110)
plt.close(fig)

fig, axes = plt.subplots(len(sets) - 1, 6, figsize=(8, 6.2))
for row, name in zip(axes, [n for n in sets if n != in_name], strict=True):
    top = np.argsort(-scores[name]["msp"], kind="stable")[:6]  # the most confident ones
    for ax, i in zip(row, top, strict=True):
        ax.imshow(sets[name][i], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"'{scores[name]['predicted'][i]}' {scores[name]['msp'][i]:.0%}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    row[0].set_ylabel(name.split(" (")[0], fontsize=8)
fig.suptitle("The out-of-domain inputs the model is most sure about: its answer and confidence",
             fontsize=10)
fig.tight_layout()
fig.savefig(OUT / "most_confident.png", dpi=110)
plt.close(fig)

wrong = np.flatnonzero(inside["predicted"] != digits.target[valid_idx])
fig, axes = plt.subplots(1, max(len(wrong), 1), figsize=(1.3 * max(len(wrong), 1) + 0.4, 1.9),
                         squeeze=False)
for ax, i in zip(axes[0], wrong, strict=False):
    ax.imshow(sets[in_name][i], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"is {digits.target[valid_idx][i]}\nsays {inside['predicted'][i]}", fontsize=8)
for ax in axes[0]:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"The {len(wrong)} validation digits it gets wrong", fontsize=9)
fig.tight_layout()
fig.savefig(OUT / "errors.png", dpi=110)
plt.close(fig)

key = {"faces (lfw_subset)": "faces", "photo patches": "photos", "uniform noise": "noise",
       "pen strokes (not digits)": "strokes"}
metrics = {
    "epochs": EPOCHS,
    "n_valid": len(valid_idx),
    "n_out_per_kind": N_OUT,
    "valid_accuracy": round(valid_accuracy, 4),
    "valid_errors": len(wrong),
    "in_domain_confident": round(float((inside["msp"] > CONFIDENT).mean()), 4),
    "out_of_domain_confident": round(float((all_out_msp > CONFIDENT).mean()), 4),
    "mean_auroc_msp": round(float(outside["AUROC (max softmax)"].mean()), 4),
    "mean_auroc_energy": round(float(outside["AUROC (energy)"].mean()), 4),
}
for _, r in outside.iterrows():
    metrics[f"auroc_msp_{key[r.inputs]}"] = round(float(r["AUROC (max softmax)"]), 4)
    metrics[f"auroc_energy_{key[r.inputs]}"] = round(float(r["AUROC (energy)"]), 4)
    share = r[f"share with confidence > {CONFIDENT}"]
    metrics[f"confident_{key[r.inputs]}"] = round(float(share), 4)
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
