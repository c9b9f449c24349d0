"""train_loss vs valid_loss vs error_rate: small CNNs on handwritten digits.

Five CNNs (one per seed: its own data split, initial weights and batch
order) train side by side as one batched model, next to a logistic
regression on the raw 64 pixels, tuned by cross-validation.

Run it alone with `python losses.py`; outputs go to the folder DLNOTES_OUT
names (default ./outputs/losses). DLNOTES_QUICK=1 trains 2 seeds for
3 epochs.
"""

# --8<-- [start:setup]
# Hyper-parameters at the top; every random choice is seeded, so two runs
# print the same numbers.
import io
import json
import os
import random
import sys
import time
import warnings
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5  # independent runs, trained side by side
EPOCHS = 3 if QUICK else 10
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SMOOTHING = 0.98  # fastai's train_loss: moving average of the batch losses
WINDOW = 3        # read final values as the mean of the last 3 epochs
SEEDS = list(range(N_SEEDS))

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/losses"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"losses.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
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
        keys = ("text.color", "axes.labelcolor", "axes.edgecolor",
                "xtick.color", "ytick.color")
        inks = dict.fromkeys(keys, ink)
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
# Each seed gets its own stratified 80/20 split, so the spread over seeds
# includes the luck of which digits land in the validation set.
digits = load_digits()  # 1,797 real 8x8 grayscale scans, values 0..16
images = torch.tensor(digits.images / 16.0, dtype=torch.float32)
images = images.unsqueeze(1)  # (N, 1, 8, 8): one channel
labels = torch.tensor(digits.target)
splits = [train_test_split(np.arange(len(labels)), test_size=0.2,
                           random_state=seed, stratify=digits.target)
          for seed in SEEDS]
# A leading "seed" axis: x_train[s] is the training set of seed s.
x_train = torch.stack([images[t] for t, _ in splits]).to(device)
y_train = torch.stack([labels[t] for t, _ in splits]).to(device)
x_valid = torch.stack([images[v] for _, v in splits]).to(device)
y_valid = torch.stack([labels[v] for _, v in splits]).to(device)
n_train, n_valid = x_train.shape[1], x_valid.shape[1]
# The training-set loss in eval mode is measured on a fixed sample of
# training images as large as the validation set.
x_seen, y_seen = x_train[:, :n_valid], y_train[:, :n_valid]
print(f"{N_SEEDS} splits of {n_train} training, {n_valid} validation images")
# --8<-- [end:data]


# --8<-- [start:model]
# Two convolutions and a dropout layer. Dropout zeroes half the activations
# in training mode only: it explains the first rows of the table.
def make_model():
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(),   # 16 x 8 x 8
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(),  # 32 x 8 x 8
        nn.MaxPool2d(2),                                         # 32 x 4 x 4
        nn.Flatten(),
        nn.Dropout(0.5),                     # active only in training mode
        nn.Linear(32 * 4 * 4, 10),
    ).to(device)


# --8<-- [end:model]


# --8<-- [start:batched]
# Five CNNs as one module: copy s is group s of each grouped convolution
# and slice s of the last layer, so one call runs them all side by side,
# each on its own images (x has shape (seeds, batch, 1, 8, 8)).
class SideBySide(nn.Module):
    def __init__(self, models):
        super().__init__()
        n = len(models)
        self.conv1 = nn.Conv2d(n, 16 * n, 3, padding=1, groups=n)
        self.conv2 = nn.Conv2d(16 * n, 32 * n, 3, padding=1, groups=n)
        with torch.no_grad():
            for i, conv in ((0, self.conv1), (2, self.conv2)):
                conv.weight.copy_(torch.cat([m[i].weight for m in models]))
                conv.bias.copy_(torch.cat([m[i].bias for m in models]))
        self.weight = nn.Parameter(torch.stack([m[-1].weight for m in models]))
        self.bias = nn.Parameter(torch.stack([m[-1].bias for m in models]))

    def forward(self, x):
        n, b = x.shape[:2]
        h = x.transpose(0, 1).reshape(b, n, 8, 8)  # seed s -> channel s
        h = torch.relu(self.conv2(torch.relu(self.conv1(h))))
        h = nn.functional.max_pool2d(h, 2).reshape(b, n, 32 * 4 * 4)
        h = nn.functional.dropout(h, 0.5, self.training)
        logits = torch.einsum("bsi,soi->sbo", h, self.weight)
        return logits + self.bias[:, None]


models = []
for seed in SEEDS:
    torch.manual_seed(seed)  # each seed's CNN starts from its own weights
    models.append(make_model())
model = SideBySide(models).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
# --8<-- [end:batched]


# --8<-- [start:train]
# The loop reports the three columns as fastai does: a smoothed
# training-mode train_loss, then valid_loss and error_rate in eval mode.
def losses_of(logits, y):
    """Mean cross-entropy per seed: logits (S, B, 10), y (S, B) -> (S,)."""
    flat = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(),
                                       reduction="none")
    return flat.view(y.shape).mean(dim=1)


def evaluate(x, y, dropout=False):
    """Loss and error rate per seed, in eval mode (dropout off) unless
    `dropout`; the random generator is left as it was, so measuring does
    not change the training."""
    model.train(dropout)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        logits = model(x)
    wrong = (logits.argmax(dim=-1) != y).float().mean(dim=1)
    return losses_of(logits, y), wrong


history = []
smoothed, steps = torch.zeros(N_SEEDS), 0
generators = [torch.Generator().manual_seed(seed) for seed in SEEDS]
rows = torch.arange(N_SEEDS)[:, None]
for epoch in range(EPOCHS):
    start = time.perf_counter()
    model.train()  # dropout on: the loss seen in training is higher
    order = torch.stack([torch.randperm(n_train, generator=g)
                         for g in generators])  # a batch order per seed
    for batch in order.split(BATCH_SIZE, dim=1):
        xb, yb = x_train[rows, batch], y_train[rows, batch]
        loss = losses_of(model(xb), yb)  # (S,)
        optimizer.zero_grad()
        loss.sum().backward()  # the sum keeps each seed's gradient its own
        optimizer.step()
        steps += 1
        smoothed = SMOOTHING * smoothed + (1 - SMOOTHING) * loss.detach()
    last_batch = loss.detach()  # what SMOOTHING = 0 would report
    train_loss = smoothed / (1 - SMOOTHING**steps)  # debiased, as fastai
    valid_loss, error_rate = evaluate(x_valid, y_valid)
    train_loss_eval, _ = evaluate(x_seen, y_seen)
    train_loss_dropout, _ = evaluate(x_seen, y_seen, dropout=True)
    seconds = time.perf_counter() - start
    for s in SEEDS:
        history.append({
            "seed": s, "epoch": epoch,
            "train_loss": train_loss[s].item(),
            "valid_loss": valid_loss[s].item(),
            "error_rate": error_rate[s].item(),
            "time": seconds / N_SEEDS,
            "train_loss_eval": train_loss_eval[s].item(),
            "train_loss_dropout": train_loss_dropout[s].item(),
            "last_batch_loss": last_batch[s].item(),
        })
    print(f"epoch {epoch}: train_loss {train_loss.mean():.4f}  "
          f"valid_loss {valid_loss.mean():.4f}  "
          f"error_rate {error_rate.mean():.4f} (means of {N_SEEDS} seeds)")
table = pd.DataFrame(history)
# --8<-- [end:train]


# --8<-- [start:baseline]
# The baseline a practitioner tries first: logistic regression on the raw
# 64 pixels, its regularisation C picked by 3-fold cross-validation on
# each seed's training set (the validation set plays no part).
baseline_errors, baseline_cs = [], []
for train_idx, valid_idx in splits:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and API notices
        logreg = LogisticRegressionCV(Cs=[1, 3, 10, 30], cv=3,
                                      max_iter=200)
        logreg.fit(digits.data[train_idx] / 16, digits.target[train_idx])
    accuracy = logreg.score(digits.data[valid_idx] / 16,
                            digits.target[valid_idx])
    baseline_errors.append(1 - accuracy)
    baseline_cs.append(float(logreg.C_[0]))
print("logistic regression error rates:", np.round(baseline_errors, 4))
# --8<-- [end:baseline]


# --8<-- [start:report]
# One run's table as fastai prints it; the claims use all seeds.
shown = table[table.seed == 0][["epoch", "train_loss", "valid_loss",
                                "error_rate", "time"]].copy()
shown["time"] = shown["time"].map(lambda s: f"{s:.2f} s")
(OUT / "epochs.md").write_text(
    shown.to_markdown(index=False, floatfmt=".6f") + "\n")
table.to_csv(OUT / "epochs.csv", index=False)

per_seed = table.pivot(index="epoch", columns="seed")  # (epochs, seeds)
mean = per_seed.T.groupby(level=0).mean().T
std = per_seed.T.groupby(level=0).std(ddof=0).T
tail = per_seed.iloc[-WINDOW:].mean()  # last-3-epoch mean, per seed
before = per_seed.iloc[-2 * WINDOW:-WINDOW].mean()  # the 3 epochs before
cnn_error = tail["error_rate"].to_numpy()
base_error = np.array(baseline_errors)
above = (per_seed["train_loss"] > per_seed["valid_loss"]).sum().to_numpy()
first = per_seed.iloc[0]
last = per_seed.iloc[-1]


def mean_std(values):
    values = np.asarray(values, dtype=float)
    return round(values.mean(), 4), round(values.std(), 4)


summary = pd.DataFrame([
    {"model": f"CNN ({N_SEEDS} seeds)",
     "error_rate": f"{cnn_error.mean():.2%} ± {cnn_error.std():.2%}",
     "best run": f"{cnn_error.min():.2%}",
     "worst run": f"{cnn_error.max():.2%}"},
    {"model": "logistic regression, raw pixels",
     "error_rate": f"{base_error.mean():.2%} ± {base_error.std():.2%}",
     "best run": f"{base_error.min():.2%}",
     "worst run": f"{base_error.max():.2%}"},
])
(OUT / "summary.md").write_text(summary.to_markdown(
    index=False, colalign=["left", "right", "right", "right"]) + "\n")


def draw_losses():
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    curves = [("train_loss", "o-", "train_loss (smoothed, training mode)"),
              ("train_loss_eval", "o:", "training set, eval mode"),
              ("valid_loss", "s-", "valid_loss (eval mode)")]
    for (key, fmt, label), color in zip(curves, COLORS, strict=False):
        m, s = mean[key], std[key]
        ax.plot(m.index, m, fmt, color=color, markersize=3, label=label)
        ax.fill_between(m.index, m - s, m + s, color=color, alpha=0.25)
    ax.set(xlabel="epoch", ylabel="cross-entropy loss (log scale)",
           yscale="log",
           title=f"Losses: mean ± std over {N_SEEDS} seeds")
    ax.legend()
    fig.tight_layout()
    return fig


def draw_error_rate():
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    m, s = mean["error_rate"], std["error_rate"]
    ax.plot(m.index, m, "d-", color=COLORS[3], markersize=3,
            label=f"CNN, mean ± std over {N_SEEDS} seeds")
    ax.fill_between(m.index, m - s, m + s, color=COLORS[3], alpha=0.25)
    b_mean, b_std = base_error.mean(), base_error.std()
    ax.axhline(b_mean, color=COLORS[0], linestyle="--",
               label="logistic regression on pixels (mean ± std)")
    ax.axhspan(b_mean - b_std, b_mean + b_std, color=COLORS[0], alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation error rate (log scale)",
           yscale="log", title="error_rate on the validation set")
    ax.yaxis.set_major_formatter(
        plt.matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.legend()
    fig.tight_layout()
    return fig


save_figure(draw_losses, "curves")
save_figure(draw_error_rate, "error_rate")

cnn_mean, cnn_std = mean_std(cnn_error)
base_mean, base_std = mean_std(base_error)
metrics = {
    "n_seeds": N_SEEDS,
    "epochs": EPOCHS,
    "window": WINDOW,
    "n_train": n_train,
    "n_valid": n_valid,
    "last_batch_size": n_train % BATCH_SIZE or BATCH_SIZE,
    "first_train_loss": round(first["train_loss"].mean(), 4),
    "first_valid_loss": round(first["valid_loss"].mean(), 4),
    "first_train_above_valid_runs": int(
        (first["train_loss"] > first["valid_loss"]).sum()),
    "final_train_loss": round(last["train_loss"].mean(), 4),
    "final_train_loss_eval": round(last["train_loss_eval"].mean(), 4),
    "final_train_loss_dropout": round(last["train_loss_dropout"].mean(), 4),
    "first_last_batch_loss": round(first["last_batch_loss"].mean(), 4),
    "first_last_batch_above_valid_runs": int(
        (first["last_batch_loss"] > first["valid_loss"]).sum()),
    "last_batch_above_valid_epochs_mean": round(float(
        (per_seed["last_batch_loss"] > per_seed["valid_loss"]).sum().mean()),
        1),
    # still improving? the last 3 epochs against the 3 before them
    "valid_loss_rise_runs": int((tail["valid_loss"] > before[
        "valid_loss"]).sum()),
    "error_rate_rise_runs": int((tail["error_rate"] > before[
        "error_rate"]).sum()),
    "valid_loss_min_epoch_mean": round(float(
        per_seed["valid_loss"].idxmin().mean()), 1),
    "final_valid_loss": round(last["valid_loss"].mean(), 4),
    "eval_train_below_valid_runs": int(
        (last["train_loss_eval"] < last["valid_loss"]).sum()),
    "eval_train_below_train_loss_runs": int(
        (last["train_loss_eval"] < last["train_loss"]).sum()),
    "final_error_rate": cnn_mean,
    "final_error_rate_mean": cnn_mean,
    "final_error_rate_std": cnn_std,
    "final_accuracy": round(1 - cnn_mean, 4),
    "final_errors": round(cnn_mean * n_valid),
    "epochs_train_above_valid_mean": round(float(above.mean()), 1),
    "epochs_train_above_valid_min": int(above.min()),
    "epochs_train_above_valid_max": int(above.max()),
    "baseline_error_rate_mean": base_mean,
    "baseline_error_rate_std": base_std,
    "baseline_accuracy_mean": round(1 - base_mean, 4),
    "baseline_c_min": min(baseline_cs),
    "baseline_c_max": max(baseline_cs),
    "cnn_beat_baseline_runs": int((cnn_error < base_error).sum()),
    "cnn_tied_baseline_runs": int(np.isclose(cnn_error, base_error).sum()),
    "error_gap_mean": round(float((base_error - cnn_error).mean()), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick final_error_rate <= 0.35
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full final_error_rate <= 0.05
# dlnotes: expect full baseline_error_rate_mean <= 0.08
# dlnotes: expect full error_gap_mean >= 0
# dlnotes: expect full eval_train_below_valid_runs >= 3
# dlnotes: timeout 420
