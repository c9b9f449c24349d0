"""Solutions to the overfitting page's exercises: three changed set-ups.

The same over-sized MLP and data as overfitting.py, on the noisy labels:
(1) with weight decay 1e-2 in Adam, (2) with 40 % of the labels wrong,
(3) with 600 training images instead of 150. Each is repeated over 5 seeds,
the models of each set-up trained side by side, next to a nearest-class-
mean classifier on the same images and labels.

Run it alone with `python solution_overfitting.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/solution_overfitting).
"""

# --8<-- [start:setup]
# The page's set-up, with the three changes as a table of variants.
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_VALID = 200 if QUICK else 400
EPOCHS = 15 if QUICK else 60
BATCH_SIZE, LEARNING_RATE, HIDDEN, WINDOW = 32, 1e-3, 256, 3
SEEDS = list(range(N_SEEDS))
# name: (share of wrong labels, weight decay); the first two train side
# by side on 150 images, the third on four times the images for a quarter
# of the epochs (the same number of weight updates).
VARIANTS = {"weight_decay": (0.2, 1e-2), "noise_40": (0.4, 0.0)}
MORE_DATA = {"n_train_600": (0.2, 0.0)}

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_overfitting"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_overfitting.py: cannot write to {OUT}: {err.strerror}")
torch.manual_seed(0)
digits = load_digits()
pixels = torch.tensor(digits.data / 16.0, dtype=torch.float32)
labels = torch.tensor(digits.target)
# --8<-- [end:setup]


# --8<-- [start:run]
# Set-ups and seeds side by side, one model each: the data, labels,
# initial weights and batch order of each seed are drawn as on the page.
# Weight decay is added to the gradient, as torch.optim.Adam's does.
def run(setups, n_train, epochs):
    models = [(noise, decay, s) for noise, decay in setups for s in SEEDS]
    xs, ys, xv, yv = [], [], [], []
    for noise, _, seed in models:
        train_idx, valid_idx = train_test_split(
            np.arange(len(labels)), train_size=n_train, random_state=seed,
            stratify=digits.target)
        rng = np.random.default_rng(seed)
        flipped = rng.choice(n_train, size=round(noise * n_train),
                             replace=False)
        noisy = labels[train_idx].clone()
        noisy[flipped] = (noisy[flipped] + torch.tensor(
            rng.integers(1, 10, len(flipped)))) % 10
        xs.append(pixels[train_idx])
        ys.append(noisy)
        xv.append(pixels[valid_idx[:N_VALID]])
        yv.append(labels[valid_idx[:N_VALID]])
    xs, ys, xv, yv = map(torch.stack, (xs, ys, xv, yv))
    # The simple baseline: nearest class mean of the (noisy) training images.
    onehot = F.one_hot(ys, 10).float()  # (models, images, 10)
    centroids = onehot.transpose(1, 2) @ xs / onehot.sum(1)[..., None]
    baseline = (torch.cdist(xv, centroids).argmin(-1) == yv).float().mean(1)
    first = {}
    for seed in SEEDS:  # PyTorch's default nn.Linear initialisation
        g = torch.Generator().manual_seed(seed)
        first[seed] = [(torch.rand(shape, generator=g) * 2 - 1) * n ** -0.5
                       for n, m in ((64, HIDDEN), (HIDDEN, HIDDEN),
                                    (HIDDEN, 10))
                       for shape in ((n, m), (1, m))]
    weights = [torch.stack([first[s][k] for *_, s in models])
               .requires_grad_() for k in range(6)]
    decay = torch.tensor([d for _, d, _ in models])[:, None, None]

    def mlp(x):
        for i in range(0, len(weights), 2):
            x = torch.baddbmm(weights[i + 1], x, weights[i])
            x = torch.relu(x) if i + 2 < len(weights) else x
        return x

    def accuracy(x, y):
        with torch.no_grad():
            return (mlp(x).argmax(-1) == y).float().mean(1)

    optimizer = torch.optim.Adam(weights, lr=LEARNING_RATE)
    gens = {s: torch.Generator().manual_seed(s) for s in SEEDS}
    rows = torch.arange(len(models))[:, None]
    train_acc, valid_acc = [], []
    for _ in range(epochs):
        order = {s: torch.randperm(n_train, generator=g)
                 for s, g in gens.items()}  # one order per seed
        order = torch.stack([order[s] for *_, s in models])
        for batch in order.split(BATCH_SIZE, dim=1):
            loss = F.cross_entropy(mlp(xs[rows, batch]).transpose(1, 2),
                                   ys[rows, batch])
            optimizer.zero_grad()
            (loss * len(models)).backward()  # each model: its own mean
            with torch.no_grad():  # each model's own decay, added to its
                for w in weights:  # gradient as Adam's weight_decay does
                    w.grad += decay * w
            optimizer.step()
        train_acc.append(accuracy(xs, ys))
        valid_acc.append(accuracy(xv, yv))
    # per set-up: (epochs, seeds), (epochs, seeds), (seeds,)
    train_acc, valid_acc = torch.stack(train_acc), torch.stack(valid_acc)
    return [(train_acc[:, k * N_SEEDS:(k + 1) * N_SEEDS],
             valid_acc[:, k * N_SEEDS:(k + 1) * N_SEEDS],
             baseline[k * N_SEEDS:(k + 1) * N_SEEDS])
            for k in range(len(setups))]
# --8<-- [end:run]


# --8<-- [start:report]
# The page's numbers for each set-up: best epoch of the averaged validation
# curve, final values as the mean of the last 3 epochs, spread over seeds.
def ms(values):
    return round(float(values.mean()), 4), round(float(values.std()), 4)


results = {
    **dict(zip(VARIANTS, run(VARIANTS.values(), 150, EPOCHS), strict=True)),
    **dict(zip(MORE_DATA, run(MORE_DATA.values(), 600, EPOCHS // 4),
               strict=True)),
}
metrics = {"n_seeds": N_SEEDS, "n_valid": N_VALID, "window": WINDOW}
for name, (train_acc, valid_acc, baseline) in results.items():
    noise, decay = {**VARIANTS, **MORE_DATA}[name]
    best = int(valid_acc.mean(1).argmax())
    final = valid_acc[-WINDOW:].mean(0)
    out = {"n_train": 600 if name in MORE_DATA else 150, "noise": noise,
           "weight_decay": decay, "epochs": len(valid_acc),
           "best_epoch": best,
           "perfect_runs": int((train_acc == 1).any(0).sum())}
    for key, values in (("best_valid_accuracy", valid_acc[best]),
                        ("final_valid_accuracy", final),
                        ("valid_accuracy_drop", valid_acc[best] - final),
                        ("final_train_accuracy",
                         train_acc[-WINDOW:].mean(0))):
        out[key], out[key + "_std"] = ms(values)
    out["drop_runs"] = int((valid_acc[best] > final).sum())
    out["baseline_centroid_accuracy"] = ms(baseline)[0]
    out["baseline_beat_mlp_final_runs"] = int((baseline > final).sum())
    metrics[name] = out
    metrics[f"baseline_{name}_centroid_accuracy"] = ms(baseline)[0]
    print(name, json.dumps(out))
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full baseline_noise_40_centroid_accuracy >= 0.5
# dlnotes: expect full weight_decay.best_valid_accuracy >= 0.7
# dlnotes: expect full noise_40.best_valid_accuracy >= 0.5
# dlnotes: expect full n_train_600.best_valid_accuracy >= 0.8
