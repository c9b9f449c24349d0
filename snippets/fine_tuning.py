"""Fine-tuning: pretrain a small CNN body, then adapt it with few labels.

Pretraining task: "which photo is this patch from?", on 25x25 patches cut
from 18 photos that ship with scikit-image and scikit-learn. Target task:
scikit-image's `lfw_subset()`, 100 real faces and 100 non-faces (25x25),
learned from k = 5, 10 or 20 labelled images per class, three ways: from
scratch, a new head on the frozen body, and head first then the whole
network with a lower learning rate for the body (what fastai's `fine_tune`
does). Two baselines: logistic regression on the raw pixels, and on the
pretrained body's features (a linear probe). An aside measures a pairing
where transfer hurts: digits 0-4 -> digits 5-9.

Every seed pretrains its own body, draws its own labelled and test images
and its own initial weights; the seeds train side by side as one batched
model (grouped convolutions), so more seeds cost little more time.

Run it alone with `python fine_tuning.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/fine_tuning). DLNOTES_QUICK=1
pretrains less and uses two seeds.
"""

# --8<-- [start:setup]
# Settings first, so that every experiment below reads the same numbers;
# quick mode (DLNOTES_QUICK=1) only shrinks them.
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
from skimage import color, data, transform
from sklearn.datasets import load_digits, load_sample_images
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.func import stack_module_state

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SEEDS = [0, 1] if QUICK else list(range(5))  # trained side by side
K_VALUES = [5, 10, 20]          # labelled images per class on the target
STRATEGIES = ["scratch", "frozen", "fine_tune"]
PATCH = 25                      # lfw_subset images are 25x25
PHOTO_SIZE = 256                # photos rescaled: long side 256 px
PRETRAIN_STEPS = 40 if QUICK else 200   # batches of fresh random patches
PRETRAIN_BATCH = 32
EVAL_PATCHES = 500                      # new patches, per seed
ADAPT_STEPS = 12 if QUICK else 40   # full-batch steps, any strategy
LEARNING_RATE = 3e-3
BODY_LR_DIVISOR = 10            # fine_tune: the unfrozen body learns slower
WIDTH = 16
FEATURES = 4 * WIDTH            # what the body hands the head
DIGITS_PRETRAIN_EPOCHS = 3 if QUICK else 10
DIGITS_K = 5
EARLY_STEPS = PRETRAIN_STEPS // 3   # exercise 2: a body pretrained less
OTHER_DIVISORS = [1, 100]           # exercise 1: other body learning rates
SEED = 0
C_GRID = [0.01, 0.1, 1.0, 10.0]  # baselines: regularisation picked by CV

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


# --8<-- [start:data]
# Real images only: photos bundled with scikit-image and scikit-learn for
# pretraining, lfw_subset's faces for the target task. Each image is
# standardised, so brightness alone gives nothing away.
def grayscale(image):
    """A bundled image as float32 gray in [0, 1], long side PHOTO_SIZE."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    image = image.astype(np.float32) / (255.0 if image.max() > 1 else 1.0)
    scale = PHOTO_SIZE / max(image.shape)
    return transform.rescale(image, scale,
                             anti_aliasing=True).astype(np.float32)


def standardise(images):
    """Zero mean and unit spread per image."""
    images = np.asarray(images, dtype=np.float32)
    mean = images.mean(axis=(-2, -1), keepdims=True)
    spread = images.std(axis=(-2, -1), keepdims=True) + 1e-2
    return (images - mean) / spread


PHOTO_NAMES = ["astronaut", "camera", "coffee", "chelsea", "rocket",
               "coins", "moon", "page", "text", "clock", "brick", "grass",
               "gravel", "immunohistochemistry", "hubble_deep_field", "cell"]
photos = [grayscale(getattr(data, name)()) for name in PHOTO_NAMES]
photos += [grayscale(im) for im in load_sample_images().images]
photo_names = PHOTO_NAMES + ["china", "flower"]
# every PATCHxPATCH window of every photo, as a view (no copy)
windows = [np.lib.stride_tricks.sliding_window_view(p, (PATCH, PATCH))
           for p in photos]


def random_patches(rng, n):
    """n fresh patches from random places of random photos, and labels."""
    labels = rng.integers(0, len(photos), n)
    patches = np.empty((n, PATCH, PATCH), np.float32)
    for i, window in enumerate(windows):
        where = np.flatnonzero(labels == i)
        tops = rng.integers(0, window.shape[0], where.size)
        lefts = rng.integers(0, window.shape[1], where.size)
        patches[where] = window[tops, lefts]
    flip = rng.random(n) < 0.5                  # mirror half of them
    patches[flip] = patches[flip][:, :, ::-1]
    return standardise(patches)[:, None], labels


faces = data.lfw_subset()  # (200, 25, 25): 100 faces, then 100 non-faces
x_faces = torch.tensor(standardise(faces)).unsqueeze(1).to(device)
y_faces = torch.tensor([1] * 100 + [0] * 100).to(device)


def lfw_split(seed, k):
    """k faces and k non-faces to learn from; 160 held-out for every k."""
    rng = np.random.default_rng(seed)
    face_order, other_order = rng.permutation(100), 100 + rng.permutation(100)
    pool = max(K_VALUES)  # the first 20 of each class may be labelled
    train = np.r_[face_order[:k], other_order[:k]]
    test = np.r_[face_order[pool:], other_order[pool:]]
    return train, test
# --8<-- [end:data]


# --8<-- [start:model]
# One small body for every task: only the head depends on the classes.
# Each seed gets its own weights; the seeds' weights are stacked along a
# leading dimension and run side by side as grouped convolutions.
def make_body():
    """Three 3x3 convolutions and a global average: FEATURES numbers."""
    return nn.Sequential(
        nn.Conv2d(1, WIDTH, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(WIDTH, 2 * WIDTH, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(2 * WIDTH, 4 * WIDTH, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    ).to(device)


def new_bodies(offset):
    """Random body weights, one per seed, stacked: {name: (seeds, ...)}."""
    bodies = []
    for seed in SEEDS:
        torch.manual_seed(offset + seed)
        bodies.append(make_body())
    weights, _ = stack_module_state(bodies)
    return {k: v.detach().clone().requires_grad_() for k, v in weights.items()}


def new_heads(n_classes, offset):
    """A random linear head per seed: weight (seeds, classes, FEATURES)."""
    heads = []
    for seed in SEEDS:
        torch.manual_seed(offset + seed)
        heads.append(nn.Linear(FEATURES, n_classes).to(device))
    weights, _ = stack_module_state(heads)
    return {k: v.detach().clone().requires_grad_() for k, v in weights.items()}


def features(body, x):
    """Each seed's body on its own images: (seeds, n, 1, h, w) -> features.

    The seeds run as one network: channel group s of each convolution
    holds seed s's filters (groups=seeds), so a step is one pass for all.
    """
    seeds, n = x.shape[:2]
    h = x.transpose(0, 1).flatten(1, 2)  # (n, seeds, h, w)
    h = h.contiguous(memory_format=torch.channels_last)  # faster on CPU
    for i in (0, 3, 6):  # the three convolutions of make_body
        h = F.relu(F.conv2d(h, body[f"{i}.weight"].flatten(0, 1),
                            body[f"{i}.bias"].flatten(), padding=1,
                            groups=seeds))
        if i < 6:
            h = F.max_pool2d(h, 2)
    return h.mean((2, 3)).view(n, seeds, -1).transpose(0, 1)


def head_logits(head, feats):
    return torch.baddbmm(head["bias"][:, None], feats,
                         head["weight"].transpose(1, 2))


def logits(body, head, x):
    return head_logits(head, features(body, x))


def seed_loss(out, y):
    """Sum over seeds of each seed's mean loss: the seeds stay independent."""
    per_image = nn.functional.cross_entropy(
        out.flatten(0, 1), y.flatten(), reduction="none")
    return per_image.view(len(SEEDS), -1).mean(1).sum()


def loss_of(body, head, x, y):
    return seed_loss(logits(body, head, x), y)


def accuracy(body, head, x, y):
    """One accuracy per seed."""
    with torch.no_grad():
        return (logits(body, head, x).argmax(-1) == y).float().mean(1)


def pretrain_on_photos():
    """Each seed's body learns which of the 18 photos a patch comes from."""
    body = new_bodies(offset=100)
    head = new_heads(len(photos), offset=200)
    rngs = [np.random.default_rng(seed) for seed in SEEDS]

    def batch(n):  # each seed draws its own fresh patches
        drawn = [random_patches(rng, n) for rng in rngs]
        return (torch.tensor(np.stack([x for x, _ in drawn])).to(device),
                torch.tensor(np.stack([y for _, y in drawn])).to(device))

    optimizer = torch.optim.Adam([*body.values(), *head.values()],
                                 lr=LEARNING_RATE)
    for step in range(PRETRAIN_STEPS):
        if step == EARLY_STEPS:  # a copy for exercise 2
            early = {k: v.detach().clone() for k, v in body.items()}
        loss = loss_of(body, head, *batch(PRETRAIN_BATCH))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 100 == 0:
            print(f"pretraining step {step + 1}: mean loss "
                  f"{loss.item() / len(SEEDS):.3f}")
    scores = accuracy(body, head, *batch(EVAL_PATCHES))  # unseen patches
    print(f"which-photo accuracy per seed: {scores.numpy().round(3)} "
          f"(chance {1 / len(photos):.3f})")
    return ({k: v.detach() for k, v in body.items()}, scores.numpy(),
            early)
# --8<-- [end:model]


# --8<-- [start:adapt]
# Same budget for every strategy: ADAPT_STEPS full-batch steps on the same
# labelled images, starting from the same random head.
def adapt(strategy, start, x, y, n_classes, divisor=BODY_LR_DIVISOR):
    """Train a new head (and perhaps the body) per seed on (x, y).

    start: stacked pretrained body weights, or None for random ones.
    """
    if strategy == "scratch" or start is None:
        body = new_bodies(offset=300)
    else:
        body = {k: v.clone().requires_grad_() for k, v in start.items()}
    head = new_heads(n_classes, offset=400)

    def train(param_groups, steps, frozen):
        optimizer = torch.optim.Adam(param_groups)
        if frozen:  # the body does not change: its features, once
            with torch.no_grad():
                fixed = features(body, x)
        for _ in range(steps):
            feats = fixed if frozen else features(body, x)
            loss = seed_loss(head_logits(head, feats), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    body_params, head_params = list(body.values()), list(head.values())
    if strategy == "scratch":          # everything random, all trained
        train([{"params": body_params + head_params,
                "lr": LEARNING_RATE}], ADAPT_STEPS, frozen=False)
    elif strategy == "frozen":         # only the new head learns
        train([{"params": head_params, "lr": LEARNING_RATE}],
              ADAPT_STEPS, frozen=True)
    elif strategy == "fine_tune":      # head first, then all, body slower
        train([{"params": head_params, "lr": LEARNING_RATE}],
              ADAPT_STEPS // 2, frozen=True)
        train([{"params": body_params,
                "lr": LEARNING_RATE / divisor},
               {"params": head_params, "lr": LEARNING_RATE / 2}],
              ADAPT_STEPS // 2, frozen=False)
    return body, head


pretrained, pretrain_scores, early_body = pretrain_on_photos()
rows = []
for k in K_VALUES:
    splits = [lfw_split(seed, k) for seed in SEEDS]
    train_idx = torch.tensor(np.stack([tr for tr, _ in splits]))
    test_idx = torch.tensor(np.stack([te for _, te in splits]))
    for strategy in STRATEGIES:
        body, head = adapt(strategy, pretrained, x_faces[train_idx],
                           y_faces[train_idx], 2)
        scores = accuracy(body, head, x_faces[test_idx], y_faces[test_idx])
        rows += [{"seed": seed, "k": k, "strategy": strategy,
                  "accuracy": float(a)}
                 for seed, a in zip(SEEDS, scores, strict=True)]
        print(f"k={k:2d}  {strategy:9s}  accuracy per seed "
              f"{scores.numpy().round(3)}")
# --8<-- [end:adapt]

# --8<-- [start:exercises]
# The exercises' variants, at k = 5, on the same seeds and images: other
# learning rates for the unfrozen body (exercise 1), and the body as it
# was after a third of the pretraining (exercise 2).
splits = [lfw_split(seed, 5) for seed in SEEDS]
train_idx = torch.tensor(np.stack([tr for tr, _ in splits]))
test_idx = torch.tensor(np.stack([te for _, te in splits]))
variant_rows = []
variants = [(f"divisor_{d}", "fine_tune", pretrained, d)
            for d in OTHER_DIVISORS]
variants += [(f"early_{s}", s, early_body, BODY_LR_DIVISOR)
             for s in ("frozen", "fine_tune")]
for name, strategy, start, divisor in variants:
    body, head = adapt(strategy, start, x_faces[train_idx],
                       y_faces[train_idx], 2, divisor)
    scores = accuracy(body, head, x_faces[test_idx], y_faces[test_idx])
    variant_rows += [{"seed": seed, "variant": name, "accuracy": float(a)}
                     for seed, a in zip(SEEDS, scores, strict=True)]
    print(f"k=5 {name:16s} accuracy per seed {scores.numpy().round(3)}")
# --8<-- [end:exercises]


# --8<-- [start:baselines]
# What a practitioner tries first: logistic regression on the pixels, and
# on the pretrained body's features (a linear probe), its strength C
# chosen by cross-validation on the same k labelled images.
def logistic_regression(train_x, train_y, test_x, test_y, folds):
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=C_GRID, cv=folds, max_iter=2000))
    return model.fit(train_x, train_y).score(test_x, test_y)


pixels = x_faces.flatten(1).cpu().numpy()
labels = y_faces.cpu().numpy()
with torch.no_grad():  # each seed's pretrained features of all 200 images
    probe_features = features(
        pretrained, x_faces.expand(len(SEEDS), *x_faces.shape)).numpy()
for k in K_VALUES:
    for i, seed in enumerate(SEEDS):
        train, test = lfw_split(seed, k)
        for name, table in [("pixels", pixels),
                            ("probe", probe_features[i])]:
            acc = logistic_regression(table[train], labels[train],
                                      table[test], labels[test], 3)
            rows.append({"seed": seed, "k": k, "strategy": name,
                         "accuracy": acc})
print("baselines:", pd.DataFrame(rows[-2 * len(SEEDS):]).groupby(
    "strategy").accuracy.mean().round(3).to_dict(), "at k =", k)
# --8<-- [end:baselines]

# --8<-- [start:digits]
# A pairing where transfer hurts: bodies pretrained (one per seed) on
# scikit-learn's digits 0-4, adapted to digits 5-9 with 5 labels a class.
digits = load_digits()  # 1,797 real 8x8 scans
x_digits = torch.tensor(standardise(digits.images)).unsqueeze(1).to(device)
y_digits = torch.tensor(digits.target).to(device)
old, new = y_digits < 5, y_digits >= 5
x_old, y_old = x_digits[old], y_digits[old]
x_new, y_new = x_digits[new], y_digits[new] - 5

digit_body, digit_head = new_bodies(offset=500), new_heads(5, offset=600)
optimizer = torch.optim.Adam([*digit_body.values(), *digit_head.values()],
                             lr=LEARNING_RATE)
generator = torch.Generator().manual_seed(SEED)
for epoch in range(DIGITS_PRETRAIN_EPOCHS):  # each seed its own order
    if epoch == 1:  # a copy after one epoch, for exercise 2
        digit_early = {k: v.detach().clone()
                       for k, v in [*digit_body.items(), *digit_head.items()]}
    order = torch.stack([torch.randperm(len(x_old), generator=generator)
                         for _ in SEEDS])
    for batch in order.split(64, dim=1):
        loss = loss_of(digit_body, digit_head, x_old[batch], y_old[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
all_old = x_old.expand(len(SEEDS), *x_old.shape)
digits_pretrain_scores = accuracy(digit_body, digit_head, all_old,
                                  y_old.expand(len(SEEDS), -1)).numpy()
digits_early_scores = accuracy(  # exercise 2: after one epoch
    {k: digit_early[k] for k in digit_body},
    {k: digit_early[k] for k in digit_head}, all_old,
    y_old.expand(len(SEEDS), -1)).numpy()
print(f"digits 0-4: training accuracy {digits_pretrain_scores.round(3)}")
digit_body = {k: v.detach() for k, v in digit_body.items()}

digit_labels = y_new.cpu().numpy()
digit_splits = []
for seed in SEEDS:
    rng = np.random.default_rng(seed)
    train = np.concatenate([
        rng.choice(np.flatnonzero(digit_labels == c), DIGITS_K,
                   replace=False) for c in range(5)])
    digit_splits.append((train, np.setdiff1d(np.arange(len(y_new)), train)))
# the test sets differ in order only by seed: keep the same size
train_idx = torch.tensor(np.stack([tr for tr, _ in digit_splits]))
test_idx = torch.tensor(np.stack([te for _, te in digit_splits]))
digit_rows = []
early_body = {k: digit_early[k] for k in digit_body}
DIGIT_RUNS = {  # name: (strategy, starting body); early_*: exercise 2
    "scratch": ("scratch", None), "random_frozen": ("frozen", None),
    "frozen": ("frozen", digit_body), "fine_tune": ("fine_tune", digit_body),
    "early_frozen": ("frozen", early_body),
    "early_fine_tune": ("fine_tune", early_body)}
for name, (strategy, start) in DIGIT_RUNS.items():
    body, head = adapt(strategy, start,
                       x_new[train_idx], y_new[train_idx], 5)
    scores = accuracy(body, head, x_new[test_idx], y_new[test_idx])
    digit_rows += [{"seed": seed, "strategy": name, "accuracy": float(a)}
                   for seed, a in zip(SEEDS, scores, strict=True)]
    print(f"digits 5-9, k={DIGITS_K}: {name:15s} "
          f"{scores.numpy().round(3)}")
flat_digits = x_new.flatten(1).cpu().numpy()
for seed, (train, test) in zip(SEEDS, digit_splits, strict=True):
    acc = logistic_regression(flat_digits[train], digit_labels[train],
                              flat_digits[test], digit_labels[test], 3)
    digit_rows.append({"seed": seed, "strategy": "pixels",
                       "accuracy": acc})
# --8<-- [end:digits]


# --8<-- [start:why]
# Is the information about 5-9 gone from the pretrained body, or only hard
# to reach with 5 labels? A linear probe with ALL labels answers that.
def directions_for_90_percent(table):
    """How many principal directions hold 90 % of the features' variance."""
    centred = table - table.mean(axis=0)
    variance = np.linalg.svd(centred, compute_uv=False) ** 2
    share = np.cumsum(variance) / variance.sum()
    return int(np.searchsorted(share, 0.9) + 1)


all_new = x_new.expand(len(SEEDS), *x_new.shape)
probe_rows = []
for name, state in [("random", new_bodies(offset=300)),
                    ("pretrained", digit_body), ("early", early_body)]:
    with torch.no_grad():
        tables = features(state, all_new).cpu().numpy()
    for seed, table in zip(SEEDS, tables, strict=True):
        # all ~900 labels of 5-9, 3-fold cross-validation
        probe = np.nan if name == "early" else cross_val_score(
            make_pipeline(StandardScaler(), LogisticRegression(
                max_iter=1000)), table, digit_labels, cv=3).mean()
        probe_rows.append({"seed": seed, "body": name,
                           "probe_accuracy": probe,
                           "directions_90": directions_for_90_percent(table)})
probes = pd.DataFrame(probe_rows)
print(probes.groupby("body")[["probe_accuracy", "directions_90"]].mean())
# --8<-- [end:why]

# --8<-- [start:report]
# Mean, spread and win counts over the seeds: the numbers the page quotes
# come from here, and the tables show the same rounded values.
results = pd.DataFrame(rows)
results.to_csv(OUT / "runs.csv", index=False)
runs = results.pivot_table(index=["k", "seed"], columns="strategy",
                           values="accuracy")
METHODS = STRATEGIES + ["pixels", "probe"]
NAMES = {"scratch": "from scratch", "frozen": "frozen body, new head",
         "fine_tune": "head, then unfreeze",
         "pixels": "baseline: pixels + logistic regression",
         "probe": "baseline: linear probe"}
SHORT_NAMES = {"scratch": "scratch", "frozen": "frozen",
               "fine_tune": "fine-tune", "pixels": "pixels LR",
               "probe": "probe"}


def r4(value):
    return round(float(value), 4)


def spread(values):
    values = np.asarray(values, dtype=float)
    return {"mean": r4(values.mean()), "std": r4(values.std(ddof=1)),
            "worst": r4(values.min())}


def head_to_head(a, b):
    """How often a beat b over the seeds, and the mean gap."""
    gap = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return {"wins": int((gap > 1e-9).sum()), "ties": int(
        (abs(gap) <= 1e-9).sum()), "losses": int((gap < -1e-9).sum()),
        "gap_mean": r4(gap.mean()), "gap_std": r4(gap.std(ddof=1))}


acc = {m: {f"k{k}": spread(runs.loc[k, m]) for k in K_VALUES}
       for m in METHODS}
pairs = {"fine_tune_vs_scratch": ("fine_tune", "scratch"),
         "frozen_vs_scratch": ("frozen", "scratch"),
         "fine_tune_vs_frozen": ("fine_tune", "frozen"),
         "fine_tune_vs_pixels": ("fine_tune", "pixels"),
         "scratch_vs_pixels": ("scratch", "pixels"),
         "fine_tune_vs_probe": ("fine_tune", "probe")}
compare = {name: {f"k{k}": head_to_head(runs.loc[k, a], runs.loc[k, b])
                  for k in K_VALUES} for name, (a, b) in pairs.items()}


def cell(stats):
    return f"{stats['mean']:.1%} ± {stats['std']:.1%}"


table = pd.DataFrame({"k": K_VALUES})
for m in METHODS:
    table[NAMES[m]] = [cell(acc[m][f"k{k}"]) for k in K_VALUES]
(OUT / "accuracy.md").write_text(table.to_markdown(index=False) + "\n")
wins = pd.DataFrame({"k": K_VALUES})
for name, (a, b) in pairs.items():
    wins[f"{SHORT_NAMES[a]} vs {SHORT_NAMES[b]}"] = [
        "{wins} / {ties} / {losses}".format(**compare[name][f"k{k}"])
        for k in K_VALUES]
(OUT / "wins.md").write_text(wins.to_markdown(index=False) + "\n")

digit_results = pd.DataFrame(digit_rows)
digit_runs = digit_results.pivot(index="seed", columns="strategy",
                                 values="accuracy")
DIGIT_NAMES = {"scratch": "from scratch",
               "random_frozen": "random body, frozen, new head",
               "frozen": "0-4 body, frozen, new head",
               "fine_tune": "0-4 body, head then unfreeze",
               "pixels": "baseline: pixels + logistic regression"}
digit_acc = {s: spread(digit_runs[s]) for s in DIGIT_NAMES}
digit_table = pd.DataFrame({
    "strategy": list(DIGIT_NAMES.values()),
    f"accuracy on digits 5-9 (k = {DIGITS_K})": [
        cell(digit_acc[s]) for s in DIGIT_NAMES],
    "beat from scratch in": [
        "{wins} of {n}".format(n=len(SEEDS), **head_to_head(
            digit_runs[s], digit_runs["scratch"])) if s != "scratch" else ""
        for s in DIGIT_NAMES],
})
(OUT / "digits.md").write_text(digit_table.to_markdown(index=False) + "\n")
probe_by = {b: probes[probes.body == b] for b in ("random", "pretrained")}
probe_table = pd.DataFrame({
    "body": ["random", "pretrained on 0-4"],
    "linear probe with all labels of 5-9": [
        cell(spread(probe_by[b].probe_accuracy))
        for b in ("random", "pretrained")],
    "directions holding 90 % of the variance": [
        "{mean:.1f} ± {std:.1f}".format(**spread(probe_by[b].directions_90))
        for b in ("random", "pretrained")],
})
(OUT / "probe.md").write_text(probe_table.to_markdown(index=False) + "\n")
n_test = len(lfw_split(SEEDS[0], 5)[1])


def draw_accuracy():
    """Mean ± std over seeds per method and k, each seed as a faint dot."""
    fig, ax = plt.subplots(figsize=(6.4, 3.9))
    offsets = np.linspace(-0.8, 0.8, len(METHODS))
    for i, (m, marker) in enumerate(zip(METHODS, "os^Dv", strict=True)):
        xs = np.array(K_VALUES) + offsets[i]
        means = [acc[m][f"k{k}"]["mean"] for k in K_VALUES]
        stds = [acc[m][f"k{k}"]["std"] for k in K_VALUES]
        style = "--" if m in ("pixels", "probe") else "-"
        ax.errorbar(xs, means, yerr=stds, marker=marker, capsize=3,
                    linestyle=style, color=COLORS[i], label=NAMES[m])
        for x, k in zip(xs, K_VALUES, strict=True):
            ax.plot(np.full(len(SEEDS), x), runs.loc[k, m], ".",
                    color=COLORS[i], alpha=0.35, markersize=4)
    ax.set(xlabel="labelled images per class, k (k faces + k non-faces)",
           ylabel=f"accuracy on {n_test} held-out", xticks=K_VALUES)
    ax.yaxis.set_major_formatter(
        plt.matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y")
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


save_figure(draw_accuracy, "accuracy")

SHORT = {"immunohistochemistry": "cells (IHC)",
         "hubble_deep_field": "galaxies"}
examples, example_labels = random_patches(np.random.default_rng(SEED), 6)


def draw_examples():
    """Six pretraining patches, six faces and six non-faces."""
    fig, axes = plt.subplots(3, 6, figsize=(6.4, 3.9))
    for i in range(6):
        name = photo_names[example_labels[i]]
        axes[0, i].imshow(examples[i, 0], cmap="gray")
        axes[0, i].set_title(SHORT.get(name, name), fontsize=9)
        axes[1, i].imshow(faces[i], cmap="gray")
        axes[2, i].imshow(faces[100 + i], cmap="gray")
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.spines[:].set_visible(False)
    rows_named = ["pretraining:\nwhich photo?", "target:\nface",
                  "target:\nnon-face"]
    for ax, text in zip(axes[:, 0], rows_named, strict=True):
        ax.set_ylabel(text, fontsize=9)
    fig.tight_layout()
    return fig


save_figure(draw_examples, "examples")

variant_runs = pd.DataFrame(variant_rows).pivot(
    index="seed", columns="variant", values="accuracy")
k5 = runs.loc[5]
exercises = {  # the exercises' answers, at k = 5
    "k": 5,
    **{v: spread(variant_runs[v]) for v in variant_runs},
    **{f"divisor_{d}_vs_scratch": head_to_head(
        variant_runs[f"divisor_{d}"], k5["scratch"])
       for d in OTHER_DIVISORS},
    "early_steps": EARLY_STEPS,
    "early_patches": EARLY_STEPS * PRETRAIN_BATCH,
    "early_fine_tune_vs_fine_tune": head_to_head(
        variant_runs["early_fine_tune"], k5["fine_tune"]),
    "early_fine_tune_vs_scratch": head_to_head(
        variant_runs["early_fine_tune"], k5["scratch"]),
    "digits_early_pretrain_accuracy": spread(digits_early_scores),
    "digits_early_frozen": spread(digit_runs["early_frozen"]),
    "digits_early_fine_tune": spread(digit_runs["early_fine_tune"]),
    "digits_early_fine_tune_vs_scratch": head_to_head(
        digit_runs["early_fine_tune"], digit_runs["scratch"]),
    "digits_early_frozen_vs_random": head_to_head(
        digit_runs["early_frozen"], digit_runs["random_frozen"]),
    "digits_early_directions_90": spread(
        probes[probes.body == "early"].directions_90),
}
metrics = {
    "n_seeds": len(SEEDS),
    "features": FEATURES,
    "body_lr_divisor": BODY_LR_DIVISOR,
    "adapt_steps": ADAPT_STEPS,
    "digits_pretrain_epochs": DIGITS_PRETRAIN_EPOCHS,
    "n_photos": len(photos),
    "n_test": n_test,
    "pretrain_patches": PRETRAIN_STEPS * PRETRAIN_BATCH,
    "pretrain_accuracy": spread(pretrain_scores),
    "pretrain_chance": r4(1 / len(photos)),
    "accuracy": {s: acc[s] for s in STRATEGIES},
    "baseline_logreg_pixels": acc["pixels"],
    "baseline_linear_probe": acc["probe"],
    "compare": compare,
    "digits": {
        "k": DIGITS_K,
        "n_target": len(y_new),
        "pretrain_accuracy": spread(digits_pretrain_scores),
        **{s: digit_acc[s] for s in DIGIT_NAMES if s != "pixels"},
        "fine_tune_vs_scratch": head_to_head(digit_runs["fine_tune"],
                                             digit_runs["scratch"]),
        "frozen_vs_random": head_to_head(digit_runs["frozen"],
                                         digit_runs["random_frozen"]),
        **{f"{b}_{key}": spread(probe_by[b][key])
           for b in probe_by for key in ("probe_accuracy", "directions_90")},
    },
    "baseline_digits_logreg_pixels": digit_acc["pixels"],
    "exercises": exercises,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(table.to_string(index=False))
print(wins.to_string(index=False))
print(digit_table.to_string(index=False))
print(probe_table.to_string(index=False))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick pretrain_accuracy.mean >= 0.2
# dlnotes: expect quick accuracy.scratch.k20.mean >= 0.8
# dlnotes: expect quick digits.scratch.mean >= 0.6
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full pretrain_accuracy.mean >= 0.4
# dlnotes: expect full accuracy.scratch.k20.mean >= 0.9
# dlnotes: expect full baseline_logreg_pixels.k20.mean >= 0.8
# dlnotes: expect full digits.scratch.mean >= 0.8
# dlnotes: expect full digits.pretrained_probe_accuracy.mean >= 0.85
# stated directions: no clear reversal (the page reports the win counts)
# dlnotes: expect full compare.fine_tune_vs_scratch.k5.gap_mean >= 0
# dlnotes: expect full compare.fine_tune_vs_scratch.k20.gap_mean <= 0.02
# dlnotes: expect full compare.fine_tune_vs_scratch.k20.gap_mean >= -0.02
# dlnotes: expect full compare.scratch_vs_pixels.k5.gap_mean >= 0
# dlnotes: expect full compare.fine_tune_vs_pixels.k20.gap_mean >= 0
# dlnotes: expect full digits.fine_tune_vs_scratch.gap_mean <= 0
# dlnotes: expect full digits.frozen_vs_random.gap_mean <= 0
# dlnotes: expect full digits.pretrained_directions_90.mean <= 8
# dlnotes: expect full digits.random_directions_90.mean >= 12
# wall-clock limit: generous, the build machine may be shared
# dlnotes: timeout 600
