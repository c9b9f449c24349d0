"""Overfitting: an over-sized MLP memorises 150 handwritten digits.

Three runs (clean labels, 20 % noisy labels, noisy labels with shift
augmentation), each repeated over 5 seeds (its own split, noisy labels,
initial weights and batch order): 15 MLPs trained side by side as one
batched model, next to a logistic regression tuned by cross-validation.

Run it alone with `python overfitting.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/overfitting). DLNOTES_QUICK=1 trains
2 seeds for fewer epochs.
"""

# --8<-- [start:setup]
# Hyper-parameters at the top; every random choice is seeded per run.
import io
import json
import os
import random
import sys
import warnings
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import train_test_split

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_TRAIN = 150          # a small slice of the 1,797 digits: 15 per class
N_VALID = 200 if QUICK else 400  # validation images per seed
NOISE = 0.20           # share of training labels replaced by a wrong class
EPOCHS = 15 if QUICK else 60
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
HIDDEN = 256           # 64 -> 256 -> 256 -> 10: about 85,000 weights
WINDOW = 3             # final values: the mean of the last 3 epochs
SEEDS = list(range(N_SEEDS))
RUNS = ["clean", "noisy", "augmented"]

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/overfitting"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"overfitting.py: cannot write outputs to {OUT}: {err.strerror}")

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
# Each seed draws its own 150 training images (15 per digit), its own
# validation images from the rest, and its own 20 % of wrong labels.
digits = load_digits()  # 1,797 real 8x8 scans, values 0..16
pixels = torch.tensor(digits.data / 16.0, dtype=torch.float32)  # (N, 64)
labels = torch.tensor(digits.target)
train_sets, valid_sets, noisy_sets, n_flipped = [], [], [], 0
for seed in SEEDS:
    train_idx, valid_idx = train_test_split(
        np.arange(len(labels)), train_size=N_TRAIN, random_state=seed,
        stratify=digits.target)
    rng = np.random.default_rng(seed)
    flipped = rng.choice(N_TRAIN, size=round(NOISE * N_TRAIN), replace=False)
    noisy = labels[train_idx].clone()
    noisy[flipped] = (noisy[flipped]
                      + torch.tensor(rng.integers(1, 10, len(flipped)))) % 10
    train_sets.append(train_idx)
    valid_sets.append(valid_idx[:N_VALID])  # already in random order
    noisy_sets.append(noisy)
    n_flipped = len(flipped)
# One model per (run, seed): 15 models, stacked along a leading axis.
MODELS = [(run, seed) for run in RUNS for seed in SEEDS]
x_train = torch.stack([pixels[train_sets[s]] for _, s in MODELS]).to(device)
y_targets = torch.stack([labels[train_sets[s]] if run == "clean"
                         else noisy_sets[s] for run, s in MODELS]).to(device)
x_valid = torch.stack([pixels[valid_sets[s]] for _, s in MODELS]).to(device)
y_valid = torch.stack([labels[valid_sets[s]] for _, s in MODELS]).to(device)
augment = torch.tensor([run == "augmented" for run, _ in MODELS])
print(f"{N_SEEDS} seeds x {N_TRAIN} training images ({n_flipped} noisy "
      f"labels), {N_VALID} validation images each")
# --8<-- [end:data]


# --8<-- [start:model]
# The MLP, written for a stack of models: weights[i] has shape
# (models, inputs, outputs) and torch.baddbmm runs every model at once.
# Each seed's three runs start from the same initial weights.
def init_weights():
    """PyTorch's default nn.Linear initialisation, one generator per seed."""
    sizes = [(64, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 10)]
    per_seed = {}
    for seed in SEEDS:
        g = torch.Generator().manual_seed(seed)
        per_seed[seed] = [(torch.rand(shape, generator=g) * 2 - 1) * n ** -0.5
                          for n, m in sizes for shape in ((n, m), (1, m))]
    return [torch.stack([per_seed[s][k] for _, s in MODELS]).to(device)
            .requires_grad_() for k in range(2 * len(sizes))]


def mlp(weights, x):
    """x: (models, batch, 64) -> logits (models, batch, 10)."""
    for i in range(0, len(weights), 2):
        x = torch.baddbmm(weights[i + 1], x, weights[i])
        if i + 2 < len(weights):
            x = torch.relu(x)
    return x


def shift(x, generator):
    """Augmentation: move each 8x8 image by up to one pixel each way."""
    padded = F.pad(x.view(-1, 8, 8), (1, 1, 1, 1))      # (B, 10, 10)
    windows = padded.unfold(1, 8, 1).unfold(2, 8, 1)      # all 9 shifts
    dy, dx = torch.randint(0, 3, (2, len(x)), generator=generator)
    return windows[torch.arange(len(x)), dy, dx].reshape(-1, 64)
# --8<-- [end:model]


# --8<-- [start:train]
# All 15 models train together; after every epoch each is measured on
# its training images (against the labels it learns from) and on its
# validation images (true labels), in evaluation mode.
def measure(weights, x, y):
    with torch.no_grad():
        logits = mlp(weights, x)
    loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
    right = (logits.argmax(dim=-1) == y).float()
    return loss.mean(dim=1), right.mean(dim=1)  # one value per model


weights = init_weights()
optimizer = torch.optim.Adam(weights, lr=LEARNING_RATE)
generators = {s: torch.Generator().manual_seed(s) for s in SEEDS}
shifts = torch.Generator().manual_seed(len(SEEDS))  # for the augmentation
rows = torch.arange(len(MODELS))[:, None]
history = []
for epoch in range(EPOCHS):
    # the same batch order for a seed's three runs
    order = {s: torch.randperm(N_TRAIN, generator=g)
             for s, g in generators.items()}
    order = torch.stack([order[s] for _, s in MODELS])
    for batch in order.split(BATCH_SIZE, dim=1):
        xb = x_train[rows, batch]
        xb[augment] = shift(xb[augment].reshape(-1, 64), shifts
                            ).view(-1, batch.shape[1], 64)
        loss = F.cross_entropy(mlp(weights, xb).transpose(1, 2),
                               y_targets[rows, batch])
        optimizer.zero_grad()
        (loss * len(MODELS)).backward()  # each model: its own mean loss
        optimizer.step()
    train = measure(weights, x_train, y_targets)
    valid = measure(weights, x_valid, y_valid)
    for m, (run, seed) in enumerate(MODELS):
        history.append({"run": run, "seed": seed, "epoch": epoch,
                        "train_loss": train[0][m].item(),
                        "valid_loss": valid[0][m].item(),
                        "train_accuracy": train[1][m].item(),
                        "valid_accuracy": valid[1][m].item()})
    if epoch % 10 == 0 or epoch == EPOCHS - 1:
        print(f"epoch {epoch:3d}: mean valid accuracy " + ", ".join(
            f"{run} {valid[1][i * N_SEEDS:(i + 1) * N_SEEDS].mean():.3f}"
            for i, run in enumerate(RUNS)))
history = pd.DataFrame(history)
# --8<-- [end:train]


# --8<-- [start:baseline]
# The baseline: logistic regression on the same 150 images and labels,
# its regularisation C picked by 3-fold cross-validation on the training
# labels alone (clean or noisy), never on the validation set.
baseline = {"clean": [], "noisy": []}
for s in SEEDS:
    x_tr = pixels[train_sets[s]].numpy()
    x_va, y_va = pixels[valid_sets[s]].numpy(), labels[valid_sets[s]].numpy()
    for run, y_tr in (("clean", labels[train_sets[s]]),
                      ("noisy", noisy_sets[s])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and API notices
            logreg = LogisticRegressionCV(Cs=[0.1, 1, 10], cv=3,
                                          max_iter=300)
            logreg.fit(x_tr, y_tr.numpy())
        baseline[run].append(logreg.score(x_va, y_va))
print({run: np.round(acc, 3).tolist() for run, acc in baseline.items()})
# --8<-- [end:baseline]


# --8<-- [start:report]
# Curves are averaged over the seeds; the best epoch (the early-stopping
# pick) is read off the averaged validation accuracy; final values are
# the mean of the last 3 epochs of each seed.
TITLES = {"clean": "clean labels", "noisy": f"{NOISE:.0%} noisy labels",
          "augmented": f"{NOISE:.0%} noisy labels + augmentation"}
curves = {run: history[history.run == run].pivot(index="epoch",
                                                   columns="seed")
          for run in RUNS}


def ms(values):
    values = np.asarray(values, dtype=float)
    return round(values.mean(), 4), round(values.std(), 4)


def summary(c):
    acc, loss = c["valid_accuracy"], c["valid_loss"]
    best = int(acc.mean(axis=1).idxmax())  # from the averaged curve
    low = int(loss.mean(axis=1).idxmin())
    final_acc = acc.iloc[-WINDOW:].mean()
    final_loss = loss.iloc[-WINDOW:].mean()
    perfect = [int((c["train_accuracy"][s] >= 1.0).idxmax())
               if (c["train_accuracy"][s] >= 1.0).any() else -1
               for s in SEEDS]
    out = {"best_epoch": best, "min_valid_loss_epoch": low}
    for key, values in (
            ("best_valid_accuracy", acc.loc[best]),
            ("final_valid_accuracy", final_acc),
            ("valid_accuracy_drop", acc.loc[best] - final_acc),
            ("final_train_accuracy", c["train_accuracy"].iloc[-WINDOW:]
             .mean()),
            ("min_valid_loss", loss.loc[low]),
            ("final_valid_loss", final_loss)):
        out[key], out[key + "_std"] = ms(values)
    out["drop_runs"] = int((acc.loc[best] > final_acc).sum())
    out["loss_rise_runs"] = int((final_loss > loss.loc[low]).sum())
    reached = [p for p in perfect if p >= 0] or [-1]  # -1: no run did
    out["first_perfect_epoch_min"] = min(reached)
    out["first_perfect_epoch_max"] = max(reached)
    out["perfect_runs"] = sum(p >= 0 for p in perfect)
    return out


summaries = {run: summary(curves[run]) for run in RUNS}
gain = (curves["augmented"]["valid_accuracy"].iloc[-WINDOW:].mean()
        - curves["noisy"]["valid_accuracy"].iloc[-WINDOW:].mean())
base = {run: np.array(acc) for run, acc in baseline.items()}
noisy_final = curves["noisy"]["valid_accuracy"].iloc[-WINDOW:].mean()
noisy_best = curves["noisy"]["valid_accuracy"].loc[
    summaries["noisy"]["best_epoch"]]
aug_final = curves["augmented"]["valid_accuracy"].iloc[-WINDOW:].mean()
clean_final = curves["clean"]["valid_accuracy"].iloc[-WINDOW:].mean()


def pm(m, key):
    return f"{m[key]:.1%} ± {m[key + '_std']:.1%}"


table = pd.DataFrame([{
    "run": TITLES[run],
    "train acc. 100 % (epoch)": (
        f"{m['first_perfect_epoch_min']}–{m['first_perfect_epoch_max']}"
        if m["perfect_runs"] == N_SEEDS else
        f"{m['perfect_runs']} of {N_SEEDS} runs"),
    "best valid acc. (epoch)": f"{pm(m, 'best_valid_accuracy')} "
                               f"({m['best_epoch']})",
    "final valid acc.": pm(m, "final_valid_accuracy"),
    "final train acc.": pm(m, "final_train_accuracy"),
    "final valid_loss": f"{m['final_valid_loss']:.2f}",
} for run, m in summaries.items()] + [{
    "run": f"logistic regression, {TITLES[run]}",
    "train acc. 100 % (epoch)": "–",
    "best valid acc. (epoch)": "–",
    "final valid acc.": f"{base[run].mean():.1%} ± {base[run].std():.1%}",
    "final train acc.": "–", "final valid_loss": "–",
} for run in ("clean", "noisy")])
(OUT / "runs.md").write_text(table.to_markdown(
    index=False, disable_numparse=True, colalign=["left"] + ["right"] * 5)
    + "\n")
history.to_csv(OUT / "history.csv", index=False)


def draw_panels(kind):
    """Three stacked panels, one per run: mean ± std over the seeds."""
    def draw():
        fig, axes = plt.subplots(3, 1, figsize=(6.4, 7.2), sharex=True)
        for ax, run in zip(axes, RUNS, strict=True):
            c, best = curves[run], summaries[run]["best_epoch"]
            names = ("train accuracy" if kind == "accuracy"
                     else "training-set loss", f"valid_{kind}")
            for key, color, label in (
                    (f"train_{kind}", COLORS[0], names[0]),
                    (f"valid_{kind}", COLORS[1], names[1])):
                m, s = c[key].mean(axis=1), c[key].std(axis=1, ddof=0)
                ax.plot(m.index, m, color=color, label=label)
                ax.fill_between(m.index, m - s, m + s, color=color,
                                alpha=0.25)
            if kind == "accuracy":
                ref = base["clean" if run == "clean" else "noisy"].mean()
                ax.axhline(ref, color=COLORS[2], linestyle=":",
                           label="logistic regression")
                m = c["valid_accuracy"].mean(axis=1)
                ax.plot(best, m[best], "*", color=COLORS[3], markersize=11)
                ax.set(ylim=(0.5, 1.01), ylabel="accuracy")
            else:
                ax.set(ylim=(0, 1.5), ylabel="loss (cut at 1.5)")
            ax.axvline(best, color=COLORS[3], linestyle="--", linewidth=1,
                       label=f"best epoch ({best})")
            ax.set_title(TITLES[run])
            ax.legend(loc="lower right" if kind == "accuracy" else "best",
                      ncols=2)
        axes[-1].set_xlabel("epoch")
        fig.tight_layout()
        return fig
    return draw


save_figure(draw_panels("accuracy"), "curves")
save_figure(draw_panels("loss"), "losses")


def sig(values):
    """Round to 4 significant digits: a small, deterministic JSON."""
    return [float(f"{v:.4g}") for v in values]


# The interactive figure's data: per run and epoch, mean and std over the
# seeds, and the early-stopping pick (the best epoch, as in the figures).
widget = {"epochs": EPOCHS, "n_seeds": N_SEEDS, "runs": [{
    "name": run, "title": TITLES[run],
    "best_epoch": summaries[run]["best_epoch"],
    **{key: {"mean": sig(curves[run][key].mean(axis=1)),
             "std": sig(curves[run][key].std(axis=1, ddof=0))}
       for key in ("train_accuracy", "valid_accuracy", "train_loss",
                   "valid_loss")},
} for run in RUNS]}
(OUT / "widget_epochs.json").write_text(
    json.dumps(widget, separators=(",", ":")) + "\n")

metrics = {
    **summaries["noisy"],  # the headline numbers are those of the noisy run
    "n_seeds": N_SEEDS,
    "n_train": N_TRAIN,
    "n_valid": N_VALID,
    "n_noisy_labels": n_flipped,
    "noise": NOISE,
    "epochs": EPOCHS,
    "window": WINDOW,
    "clean": summaries["clean"],
    "augmented": summaries["augmented"],
    "augmented_gain": round(float(gain.mean()), 4),
    "augmented_gain_std": round(float(gain.std(ddof=0)), 4),
    "augmented_gain_runs": int((gain > 0).sum()),
    "baseline_clean_accuracy_mean": ms(base["clean"])[0],
    "baseline_clean_accuracy_std": ms(base["clean"])[1],
    "baseline_noisy_accuracy_mean": ms(base["noisy"])[0],
    "baseline_noisy_accuracy_std": ms(base["noisy"])[1],
    "mlp_clean_beat_baseline_runs": int((clean_final > base["clean"]).sum()),
    "mlp_final_beat_baseline_runs": int((noisy_final > base["noisy"]).sum()),
    "baseline_beat_mlp_final_runs": int((base["noisy"] > noisy_final).sum()),
    "mlp_best_beat_baseline_runs": int((noisy_best > base["noisy"]).sum()),
    "augmented_beat_baseline_runs": int((aug_final > base["noisy"]).sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick clean.final_train_accuracy >= 0.95
# dlnotes: expect quick best_valid_accuracy >= 0.7
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full final_train_accuracy >= 0.95
# dlnotes: expect full best_valid_accuracy >= 0.75
# dlnotes: expect full baseline_noisy_accuracy_mean >= 0.6
# dlnotes: expect full valid_accuracy_drop >= 0.02
# dlnotes: expect full clean.valid_accuracy_drop <= 0.02
# dlnotes: expect full augmented.final_train_accuracy <= 0.9
# dlnotes: expect full baseline_beat_mlp_final_runs >= 3
# dlnotes: expect full augmented_gain >= -0.02
# dlnotes: timeout 420
