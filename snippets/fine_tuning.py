"""Fine-tuning: pretrain a small CNN body on one task, then adapt it to another with few labels.

Pretraining task: "which photo is this patch from?", on 25x25 patches cut from 18 photos that
ship with scikit-image and scikit-learn. Target task: scikit-image's `lfw_subset()`, 100 real
faces and 100 non-faces (25x25), learned from k = 5, 10 or 20 labelled images per class, three
ways: from scratch, new head on the frozen body, and head first then the whole network with a
lower learning rate for the body (what fastai's `fine_tune` does). An aside measures a pairing
where transfer hurts: digits 0-4 -> digits 5-9.

Run it alone with `python fine_tuning.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/fine_tuning). DLNOTES_QUICK=1 pretrains less and uses one seed.
"""
# dlnotes: expect quick pretrain_accuracy >= 0.2
# dlnotes: expect quick accuracy.scratch.k20 >= 0.85
# dlnotes: expect quick accuracy.fine_tune.k20 >= 0.8
# dlnotes: expect quick digits.scratch >= 0.7
# dlnotes: expect full advantage_at_k5 >= 0.01
# dlnotes: expect full pretrain_accuracy >= 0.4
# dlnotes: expect full advantage_at_k20 <= 0.01
# dlnotes: expect full worst_seed_gain_at_k5 > 0
# dlnotes: expect full gain_5_to_20.frozen <= 0.02
# dlnotes: expect full gain_5_to_20.scratch >= 0.02
# dlnotes: expect full digits.transfer_gap <= -0.05
# dlnotes: expect full digits.frozen_minus_random < 0
# dlnotes: expect full digits.pretrained_probe_accuracy >= 0.85
# dlnotes: expect full digits.pretrained_directions_90 <= 5
# dlnotes: expect full digits.random_directions_90 >= 10
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
from skimage import color, data, transform
from sklearn.datasets import load_digits, load_sample_images
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0] if QUICK else [0, 1, 2]        # one adaptation run per seed and (k, strategy)
K_VALUES = [5, 10, 20]                     # labelled images per class on the target task
STRATEGIES = ["scratch", "frozen", "fine_tune"]
PATCH = 25                                 # lfw_subset images are 25x25
PHOTO_SIZE = 256                           # photos rescaled so their long side is 256 px
PRETRAIN_STEPS = 60 if QUICK else 400      # batches of fresh random patches
PRETRAIN_BATCH = 64
EVAL_PATCHES = 500 if QUICK else 2000      # new patches to measure the pretraining task
ADAPT_STEPS = 12 if QUICK else 40          # full-batch steps on the labelled images, any strategy
LEARNING_RATE = 3e-3
BODY_LR_DIVISOR = 10                       # fine_tune: the unfrozen body learns 10x slower
WIDTH = 16
DIGITS_PRETRAIN_EPOCHS = 3 if QUICK else 10
DIGITS_K = 5
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/fine_tuning"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"fine_tuning.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:data]
def grayscale(image):
    """Any bundled image as a float32 grayscale array in [0, 1], long side PHOTO_SIZE."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = image.astype(np.float32) / (255.0 if image.max() > 1 else 1.0)
    scale = PHOTO_SIZE / max(image.shape)
    return transform.rescale(image, scale, anti_aliasing=True).astype(np.float32)


def standardise(images):
    """Zero mean and unit spread per image, so brightness alone tells nothing."""
    images = np.asarray(images, dtype=np.float32)
    mean = images.mean(axis=(-2, -1), keepdims=True)
    spread = images.std(axis=(-2, -1), keepdims=True) + 1e-2
    return (images - mean) / spread


PHOTO_NAMES = ["astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "moon", "page",
               "text", "clock", "brick", "grass", "gravel", "immunohistochemistry",
               "hubble_deep_field", "cell"]
photos = [grayscale(getattr(data, name)()) for name in PHOTO_NAMES]
photos += [grayscale(image) for image in load_sample_images().images]  # china, flower
photo_names = PHOTO_NAMES + ["china", "flower"]
patch_rng = np.random.default_rng(SEED)


def random_patches(n):
    """n fresh patches from random places of random photos (flipped half the time), labels."""
    labels = patch_rng.integers(0, len(photos), n)
    patches = np.empty((n, PATCH, PATCH), np.float32)
    for i, label in enumerate(labels):
        photo = photos[label]
        top = patch_rng.integers(0, photo.shape[0] - PATCH + 1)
        left = patch_rng.integers(0, photo.shape[1] - PATCH + 1)
        patch = photo[top:top + PATCH, left:left + PATCH]
        patches[i] = patch[:, ::-1] if patch_rng.random() < 0.5 else patch
    return (torch.tensor(standardise(patches)).unsqueeze(1).to(device),
            torch.tensor(labels).to(device))


faces = data.lfw_subset()  # (200, 25, 25): the first 100 are faces, the last 100 are not
x_faces = torch.tensor(standardise(faces)).unsqueeze(1).to(device)
y_faces = torch.tensor([1] * 100 + [0] * 100).to(device)


def lfw_split(seed, k):
    """k faces and k non-faces to learn from; the same 160 held-out images for every k."""
    rng = np.random.default_rng(seed)
    face_order, other_order = rng.permutation(100), 100 + rng.permutation(100)
    pool = max(K_VALUES)  # the first 20 of each class may be labelled; the rest is the test set
    train = np.r_[face_order[:k], other_order[:k]]
    test = np.r_[face_order[pool:], other_order[pool:]]
    return train, test
# --8<-- [end:data]


# --8<-- [start:model]
def make_body():
    """Three 3x3 convolutions and a global average: WIDTH*4 features for any image size."""
    return nn.Sequential(
        nn.Conv2d(1, WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(WIDTH, 2 * WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * WIDTH, 4 * WIDTH, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).to(device)


def pretrain_on_photos():
    """The body learns to tell which of the 18 photos a patch comes from."""
    model = nn.Sequential(make_body(), nn.Linear(4 * WIDTH, len(photos))).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = nn.CrossEntropyLoss()
    for step in range(PRETRAIN_STEPS):
        x, y = random_patches(PRETRAIN_BATCH)
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            print(f"pretraining step {step + 1}: loss {loss.item():.3f}")
    x, y = random_patches(EVAL_PATCHES)  # patches the model has not seen
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"which-photo accuracy on {EVAL_PATCHES} new patches: {accuracy:.3f} "
          f"(chance {1 / len(photos):.3f})")
    return model[0].state_dict(), accuracy
# --8<-- [end:model]


# --8<-- [start:adapt]
def adapt(strategy, pretrained, x, y, n_classes, seed):
    """Train a new head (and perhaps the body) on the labelled images (x, y): ADAPT_STEPS steps."""
    torch.manual_seed(seed)
    body, head = make_body(), nn.Linear(4 * WIDTH, n_classes).to(device)
    if strategy != "scratch" and pretrained is not None:  # None: keep the random body
        body.load_state_dict(pretrained)
    loss_fn = nn.CrossEntropyLoss()

    def train(param_groups, steps):
        optimizer = torch.optim.Adam(param_groups)
        for _ in range(steps):
            loss = loss_fn(head(body(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    if strategy == "scratch":                # everything random, everything trained
        train([{"params": [*body.parameters(), *head.parameters()], "lr": LEARNING_RATE}],
              ADAPT_STEPS)
    elif strategy in ("frozen", "random_frozen"):   # only the new head learns
        body.requires_grad_(False)
        train([{"params": head.parameters(), "lr": LEARNING_RATE}], ADAPT_STEPS)
    elif strategy == "fine_tune":            # head first, then all of it, body slower
        body.requires_grad_(False)
        train([{"params": head.parameters(), "lr": LEARNING_RATE}], ADAPT_STEPS // 2)
        body.requires_grad_(True)
        train([{"params": body.parameters(), "lr": LEARNING_RATE / BODY_LR_DIVISOR},
               {"params": head.parameters(), "lr": LEARNING_RATE / 2}], ADAPT_STEPS // 2)
    return body, head


def accuracy(body, head, x, y):
    with torch.no_grad():
        return (head(body(x)).argmax(1) == y).float().mean().item()


pretrained_body, pretrain_accuracy = pretrain_on_photos()
rows = []
for seed in SEEDS:
    for k in K_VALUES:
        train, test = lfw_split(seed, k)
        for strategy in STRATEGIES:
            body, head = adapt(strategy, pretrained_body, x_faces[train], y_faces[train], 2, seed)
            acc = accuracy(body, head, x_faces[test], y_faces[test])
            rows.append({"seed": seed, "k": k, "strategy": strategy, "accuracy": acc})
            print(f"seed {seed}  k={k:2d}  {strategy:9s}  accuracy {acc:.3f}")
# --8<-- [end:adapt]

# --8<-- [start:digits]
digits = load_digits()  # 1,797 real 8x8 scans: pretrain on 0-4, adapt to 5-9
x_digits = torch.tensor(standardise(digits.images)).unsqueeze(1).to(device)
y_digits = torch.tensor(digits.target).to(device)
old, new = y_digits < 5, y_digits >= 5
x_old, y_old, x_new, y_new = x_digits[old], y_digits[old], x_digits[new], y_digits[new] - 5

torch.manual_seed(SEED)
digit_model = nn.Sequential(make_body(), nn.Linear(4 * WIDTH, 5)).to(device)
optimizer = torch.optim.Adam(digit_model.parameters(), lr=LEARNING_RATE)
generator = torch.Generator().manual_seed(SEED)
for _ in range(DIGITS_PRETRAIN_EPOCHS):
    for batch in torch.randperm(len(x_old), generator=generator).split(64):
        loss = nn.functional.cross_entropy(digit_model(x_old[batch]), y_old[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
digits_pretrain_accuracy = accuracy(digit_model[0], digit_model[1], x_old, y_old)
print(f"digits 0-4: training accuracy {digits_pretrain_accuracy:.3f}")
digit_body = digit_model[0].state_dict()

digit_rows = []
for seed in SEEDS:
    rng = np.random.default_rng(seed)
    labels = y_new.cpu().numpy()
    train = np.concatenate([rng.choice(np.flatnonzero(labels == c), DIGITS_K, replace=False)
                            for c in range(5)])
    test = np.setdiff1d(np.arange(len(labels)), train)
    for strategy in ["scratch", "random_frozen", "frozen", "fine_tune"]:
        weights = None if strategy == "random_frozen" else digit_body
        body, head = adapt(strategy, weights, x_new[train], y_new[train], 5, seed)
        acc = accuracy(body, head, x_new[test], y_new[test])
        digit_rows.append({"seed": seed, "strategy": strategy, "accuracy": acc})
        print(f"digits 5-9, seed {seed}, k={DIGITS_K}: {strategy:13s} accuracy {acc:.3f}")
# --8<-- [end:digits]


# --8<-- [start:why]
def features_of(state):
    """The 64 body features of every 5-9 digit, from a random or a pretrained body."""
    torch.manual_seed(SEED)
    body = make_body()
    if state is not None:
        body.load_state_dict(state)
    with torch.no_grad():
        return body(x_new).cpu().numpy()


def directions_for_90_percent(features):
    """How many principal directions hold 90 % of the features' variance."""
    centred = features - features.mean(axis=0)
    variance = np.linalg.svd(centred, compute_uv=False) ** 2
    return int(np.searchsorted(np.cumsum(variance) / variance.sum(), 0.9) + 1)


probe = {}
for name, state in [("random", None), ("pretrained", digit_body)]:
    features = features_of(state)
    # a linear probe with ALL ~900 labels of 5-9 (5-fold cross-validation): is the information in?
    probe[name] = {
        "probe_accuracy": cross_val_score(LogisticRegression(max_iter=2000), features,
                                          y_new.cpu().numpy(), cv=5).mean(),
        "directions_90": directions_for_90_percent(features),
    }
    print(f"{name} body: probe accuracy {probe[name]['probe_accuracy']:.3f}, "
          f"90 % of variance in {probe[name]['directions_90']} directions")
# --8<-- [end:why]

# --8<-- [start:report]
results = pd.DataFrame(rows)
summary = results.groupby(["k", "strategy"]).accuracy.agg(["mean", "min", "max"]).reset_index()
summary = summary.round(4)  # the table shows the same numbers as metrics.json
mean = summary.pivot(index="k", columns="strategy", values="mean")[STRATEGIES]
low = summary.pivot(index="k", columns="strategy", values="min")[STRATEGIES]
high = summary.pivot(index="k", columns="strategy", values="max")[STRATEGIES]
results.to_csv(OUT / "runs.csv", index=False)

labels_of = {"scratch": "from scratch", "frozen": "frozen body, new head",
             "fine_tune": "head, then unfreeze (fine_tune)"}
table = pd.DataFrame({"labels per class (k)": K_VALUES})
for strategy in STRATEGIES:
    table[labels_of[strategy]] = [
        f"{mean.loc[k, strategy]:.1%} ({low.loc[k, strategy]:.1%} to {high.loc[k, strategy]:.1%})"
        for k in K_VALUES]
(OUT / "accuracy.md").write_text(table.to_markdown(index=False) + "\n")

digit_results = pd.DataFrame(digit_rows)
digit_mean = digit_results.groupby("strategy", sort=False).accuracy.mean()
digit_names = {"scratch": "from scratch", "random_frozen": "random body, frozen, new head",
               "frozen": "0-4 body, frozen, new head", "fine_tune": "0-4 body, fine_tune"}
digit_table = pd.DataFrame({
    "strategy": [digit_names[s] for s in digit_mean.index],
    f"accuracy on digits 5-9 (k = {DIGITS_K})": [f"{a:.1%}" for a in digit_mean],
})
(OUT / "digits.md").write_text(digit_table.to_markdown(index=False) + "\n")
probe_table = pd.DataFrame({
    "body": ["random", "pretrained on 0-4"],
    "linear probe with all labels of 5-9": [f"{probe[b]['probe_accuracy']:.1%}"
                                            for b in ("random", "pretrained")],
    "directions holding 90 % of the variance": [probe[b]["directions_90"]
                                                for b in ("random", "pretrained")],
})
(OUT / "probe.md").write_text(probe_table.to_markdown(index=False) + "\n")

n_test = len(lfw_split(SEEDS[0], 5)[1])
fig, ax = plt.subplots(figsize=(7, 4.2))
for strategy, marker in zip(STRATEGIES, "os^", strict=True):
    ax.errorbar(K_VALUES, mean[strategy],
                yerr=[mean[strategy] - low[strategy], high[strategy] - mean[strategy]],
                marker=marker, capsize=4, label=labels_of[strategy])
ax.set(xlabel="labelled images per class, k (k faces + k non-faces)",
       ylabel=f"accuracy on {n_test} held-out images", xticks=K_VALUES,
       title=f"Faces vs non-faces: mean of {len(SEEDS)} seed(s), bars from worst to best seed")
ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "accuracy.png", dpi=110)
plt.close(fig)

fig, axes = plt.subplots(3, 8, figsize=(9, 4))
examples, example_labels = random_patches(8)
for i in range(8):
    axes[0, i].imshow(examples[i, 0].cpu(), cmap="gray")
    axes[0, i].set_title(photo_names[example_labels[i]], fontsize=8)
    axes[1, i].imshow(faces[i], cmap="gray")
    axes[2, i].imshow(faces[100 + i], cmap="gray")
for ax in axes.flat:
    ax.set(xticks=[], yticks=[])
axes[0, 0].set_ylabel("pretraining\n(which photo?)", fontsize=8)
axes[1, 0].set_ylabel("target:\nface", fontsize=8)
axes[2, 0].set_ylabel("target:\nnon-face", fontsize=8)
fig.suptitle("25×25 patches: what the body pretrains on, and the task it adapts to")
fig.tight_layout()
fig.savefig(OUT / "examples.png", dpi=110)
plt.close(fig)


def r4(value):
    return round(float(value), 4)


best_k5 = max(("frozen", "fine_tune"), key=lambda s: mean.loc[5, s])
best_digits = max(digit_mean["frozen"], digit_mean["fine_tune"])
metrics = {
    "seeds": len(SEEDS),
    "n_photos": len(photos),
    "n_test": n_test,
    "pretrain_patches": PRETRAIN_STEPS * PRETRAIN_BATCH,
    "pretrain_accuracy": r4(pretrain_accuracy),
    "pretrain_chance": r4(1 / len(photos)),
    "accuracy": {s: {f"k{k}": r4(mean.loc[k, s]) for k in K_VALUES} for s in STRATEGIES},
    "worst": {s: {f"k{k}": r4(low.loc[k, s]) for k in K_VALUES} for s in STRATEGIES},
    "best_pretrained_at_k5": {"name": labels_of[best_k5], "accuracy": r4(mean.loc[5, best_k5]),
                              "worst": r4(low.loc[5, best_k5])},
    "advantage_at_k5": r4(mean.loc[5, best_k5] - mean.loc[5, "scratch"]),
    "advantage_at_k20": r4(mean.loc[20, ["frozen", "fine_tune"]].max() - mean.loc[20, "scratch"]),
    "gain_5_to_20": {s: r4(mean.loc[20, s] - mean.loc[5, s]) for s in STRATEGIES},
    "worst_seed_gain_at_k5": r4(low.loc[5, best_k5] - low.loc[5, "scratch"]),
    "digits": {
        "k": DIGITS_K,
        "n_target": len(y_new),
        "pretrain_accuracy": r4(digits_pretrain_accuracy),
        **{s: r4(a) for s, a in digit_mean.items()},
        "transfer_gap": r4(best_digits - digit_mean["scratch"]),
        "frozen_minus_random": r4(digit_mean["frozen"] - digit_mean["random_frozen"]),
        **{f"{b}_{key}": (r4(v) if isinstance(v, float) else v)
           for b in probe for key, v in probe[b].items()},
    },
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
