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
# name: (training images, share of wrong labels, weight decay, epochs)
VARIANTS = {
    "weight_decay": (150, 0.2, 1e-2, EPOCHS),
    "noise_40": (150, 0.4, 0.0, EPOCHS),
    # four times the images: a quarter of the epochs is the same number
    # of weight updates
    "n_train_600": (600, 0.2, 0.0, EPOCHS // 4),
}

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
# One set-up, its seeds side by side: the data, labels, initial weights
# and batch order of each seed are drawn as on the page. Weight decay is
# added to the gradient, as torch.optim.Adam's weight_decay does.
def run(n_train, noise, decay, epochs):
    xs, ys, xv, yv = [], [], [], []
    for seed in SEEDS:
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
    onehot = F.one_hot(ys, 10).float()  # (seeds, images, 10)
    centroids = onehot.transpose(1, 2) @ xs / onehot.sum(1)[..., None]
    nearest = torch.cdist(xv, centroids).argmin(-1)
    baseline = (nearest == yv).float().mean(1)  # one value per seed
    weights = []
    for seed in SEEDS:  # PyTorch's default nn.Linear initialisation
        g = torch.Generator().manual_seed(seed)
        weights.append([(torch.rand(shape, generator=g) * 2 - 1) * n ** -0.5
                        for n, m in ((64, HIDDEN), (HIDDEN, HIDDEN),
                                     (HIDDEN, 10))
                        for shape in ((n, m), (1, m))])
    weights = [torch.stack(w).requires_grad_()
               for w in zip(*weights, strict=True)]

    def mlp(x):
        for i in range(0, len(weights), 2):
            x = torch.baddbmm(weights[i + 1], x, weights[i])
            x = torch.relu(x) if i + 2 < len(weights) else x
        return x

    def accuracy(x, y):
        with torch.no_grad():
            return (mlp(x).argmax(-1) == y).float().mean(1)

    m = [torch.zeros_like(w) for w in weights]
    v = [torch.zeros_like(w) for w in weights]
    gens = [torch.Generator().manual_seed(s) for s in SEEDS]
    rows = torch.arange(N_SEEDS)[:, None]
    train_acc, valid_acc, t = [], [], 0
    for _ in range(epochs):
        order = torch.stack([torch.randperm(n_train, generator=g)
                             for g in gens])
        for batch in order.split(BATCH_SIZE, dim=1):
            loss = F.cross_entropy(mlp(xs[rows, batch]).transpose(1, 2),
                                   ys[rows, batch])
            for w in weights:
                w.grad = None
            (loss * N_SEEDS).backward()  # each model: its own mean loss
            t += 1
            with torch.no_grad():  # Adam, as on the page, plus decay
                for w, mw, vw in zip(weights, m, v, strict=True):
                    grad = w.grad + decay * w
                    mw.lerp_(grad, 0.1)
                    vw.mul_(0.999).addcmul_(grad, grad, value=0.001)
                    denom = (vw.sqrt() / (1 - 0.999**t) ** 0.5).add_(1e-8)
                    w.addcdiv_(mw, denom, value=-LEARNING_RATE
                               / (1 - 0.9**t))
        train_acc.append(accuracy(xs, ys))
        valid_acc.append(accuracy(xv, yv))
    # (epochs, seeds), (epochs, seeds), (seeds,)
    return torch.stack(train_acc), torch.stack(valid_acc), baseline
# --8<-- [end:run]


# --8<-- [start:report]
# The page's numbers for each set-up: best epoch of the averaged validation
# curve, final values as the mean of the last 3 epochs, spread over seeds.
def ms(values):
    return round(float(values.mean()), 4), round(float(values.std()), 4)


metrics = {"n_seeds": N_SEEDS, "n_valid": N_VALID, "window": WINDOW}
for name, (n_train, noise, decay, epochs) in VARIANTS.items():
    train_acc, valid_acc, baseline = run(n_train, noise, decay, epochs)
    best = int(valid_acc.mean(1).argmax())
    final = valid_acc[-WINDOW:].mean(0)
    out = {"n_train": n_train, "noise": noise, "weight_decay": decay,
           "epochs": epochs, "best_epoch": best,
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
