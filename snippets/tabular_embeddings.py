"""Tabular data: entity embeddings for a zip-code column, next to boosting.

The table is generated here (house prices with a size, an age, a distance
and a zip code whose effect comes from a hidden region). Every model is
trained on N_SEEDS different train/validation splits, the nets side by side.
Run it alone with `python tabular_embeddings.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/tabular_embeddings). DLNOTES_QUICK=1
uses fewer rows, seeds and epochs.
"""

# --8<-- [start:setup]
# Settings first: QUICK mode shrinks the run so that it takes seconds.
# Every comparison is repeated on N_SEEDS splits, each with its own
# initialisation and batch order.
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
from sklearn.compose import make_column_transformer
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import TargetEncoder
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_ROWS = 4_000 if QUICK else 10_000
N_ZIPS = 600       # the high-cardinality column: 600 distinct zip codes
N_REGIONS = 6      # hidden: each zip lies in one region; no model sees it
NOISE = 0.3        # standard deviation of the unpredictable part of a price
VALID_FRACTION = 0.25
EMBEDDING_DIM = 4
HIDDEN = 64
EPOCHS = 6 if QUICK else 20
BATCH_SIZE = 256
LEARNING_RATE = 5e-3
WEIGHT_DECAY = 1e-4

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/tabular_embeddings"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"tabular_embeddings.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
torch.set_num_threads(1)  # small batched matmuls: threads cost more
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
# The table is generated, so that we know the truth behind it: the zip
# code acts through a hidden region (a price level and a price per unit of
# size), age and distance through sharp thresholds. The table is the same
# for every run; each run (seed) draws its own validation quarter.
rng = np.random.default_rng(0)
region_of_zip = rng.integers(0, N_REGIONS, N_ZIPS)  # hidden: zip -> region
region_offset = np.linspace(-0.7, 0.7, N_REGIONS)   # some regions dearer...
region_slope = rng.permutation(np.linspace(0.1, 0.7, N_REGIONS))  # ...size

table = pd.DataFrame({
    "size": rng.uniform(-1, 1, N_ROWS),        # standardised floor area
    "age": rng.uniform(0, 60, N_ROWS),         # years since it was built
    "distance": rng.uniform(0, 30, N_ROWS),    # km to the city centre
    "listed_day": rng.integers(1, 32, N_ROWS),  # day of month: irrelevant
    "photos": rng.integers(0, 40, N_ROWS),     # photos in advert: irrelevant
    "zip": rng.integers(0, N_ZIPS, N_ROWS),    # a label: order means nothing
})
region = region_of_zip[table["zip"]]
new, near = table["age"] < 10, table["distance"] < 8
table["price"] = (
    region_offset[region] + region_slope[region] * table["size"]  # the zip
    + 1.0 * new - 0.6 * ~near - 0.8 * (table["distance"] > 20)  # tree-like
    + 0.8 * (new & near)
    + rng.normal(0, NOISE, N_ROWS)             # what nobody can predict
)
NUMERIC = ["size", "age", "distance", "listed_day", "photos"]
n_valid = int(N_ROWS * VALID_FRACTION)
splits = []  # (train rows, valid rows) for each seed
for seed in range(N_SEEDS):
    order = np.random.default_rng(seed).permutation(N_ROWS)
    splits.append((table.iloc[order[n_valid:]], table.iloc[order[:n_valid]]))
print(f"{N_ROWS - n_valid} training rows, {n_valid} validation rows, "
      f"{N_ZIPS} zip codes, {N_SEEDS} splits")
print(table.head())
# --8<-- [end:data]


def rmse(prediction, target):
    error = np.asarray(prediction) - np.asarray(target)
    return float(np.sqrt(np.mean(error ** 2)))


# --8<-- [start:boosting]
# The baseline a practitioner tries first: gradient boosting. Its own
# category support stops at 255 values, so the zip code is target-encoded:
# each zip becomes the mean price of its training rows (cross-fitted, so a
# row never sees its own price), shrunk towards the overall mean.
try:
    HistGradientBoostingRegressor(categorical_features=[len(NUMERIC)]).fit(
        splits[0][0][NUMERIC + ["zip"]], splits[0][0]["price"])
    boosting_categorical_error = ""
except ValueError as err:
    boosting_categorical_error = str(err)


# scikit-learn 1.9 deprecates TargetEncoder's random_state for cv=KFold(...);
# random_state keeps this working with every version from 1.3 on.
warnings.filterwarnings("ignore", ".*TargetEncoder.shuffle", FutureWarning)


def boosting(seed):
    encode_zip = make_column_transformer(
        (TargetEncoder(target_type="continuous", random_state=seed), ["zip"]),
        remainder="passthrough")
    return make_pipeline(encode_zip, HistGradientBoostingRegressor(
        max_iter=500, learning_rate=0.1, early_stopping=True,
        n_iter_no_change=20, random_state=seed))  # stops on a held-out 10%


predictions = {"baseline": []}  # one array of validation predictions per seed
for seed, (train, valid) in enumerate(splits):
    model = boosting(seed).fit(train[NUMERIC + ["zip"]], train["price"])
    predictions["baseline"].append(model.predict(valid[NUMERIC + ["zip"]]))
    print(f"boosting + TargetEncoder, seed {seed}: valid RMSE "
          f"{rmse(predictions['baseline'][-1], valid['price']):.4f}")
# --8<-- [end:boosting]


# --8<-- [start:model]
# N_SEEDS copies of one small net, trained side by side: every weight has a
# leading "seed" dimension and torch.baddbmm does all copies' products at
# once. A one-hot zip times a weight matrix picks one row of it, so the
# one-hot net looks that row up instead of multiplying.
def batched_linear(n_models, n_in, fan_out, fan_in=None):
    """Weights and biases of n_models linear layers, nn.Linear's init."""
    bound = (fan_in or n_in) ** -0.5
    weight = torch.empty(n_models, n_in, fan_out).uniform_(-bound, bound)
    bias = torch.empty(n_models, 1, fan_out).uniform_(-bound, bound)
    return nn.Parameter(weight), nn.Parameter(bias)


class TabularNets(nn.Module):
    """MLPs on the numeric columns plus the zip code: dropped, one-hot or
    embedded; one independent copy per seed."""

    def __init__(self, zip_encoding, n_models):
        super().__init__()
        self.zip_encoding = zip_encoding
        n_in = len(NUMERIC)
        if zip_encoding == "embedding":  # one learned vector per zip
            self.zip_vectors = nn.Parameter(
                torch.randn(n_models, N_ZIPS, EMBEDDING_DIM) * 0.01)
            n_in += EMBEDDING_DIM
        fan_in = n_in  # the one-hot net's first layer has 605 inputs
        if zip_encoding == "one-hot":    # one first-layer row per zip
            fan_in += N_ZIPS
            self.zip_rows = nn.Parameter(torch.empty(
                n_models, N_ZIPS, HIDDEN).uniform_(-fan_in ** -0.5,
                                                   fan_in ** -0.5))
        self.w1, self.b1 = batched_linear(n_models, n_in, HIDDEN, fan_in)
        self.w2, self.b2 = batched_linear(n_models, HIDDEN, HIDDEN)
        self.w3, self.b3 = batched_linear(n_models, HIDDEN, 1)

    def forward(self, numeric, zips):  # (models, rows, 5), (models, rows)
        # row z of copy m sits at m * N_ZIPS + z of the flattened table
        flat = zips + N_ZIPS * torch.arange(len(zips), device=zips.device
                                            )[:, None]
        if self.zip_encoding == "embedding":
            vectors = nn.functional.embedding(
                flat, self.zip_vectors.flatten(0, 1))
            numeric = torch.cat([numeric, vectors], 2)
        hidden = torch.baddbmm(self.b1, numeric, self.w1)
        if self.zip_encoding == "one-hot":
            hidden = hidden + nn.functional.embedding(
                flat, self.zip_rows.flatten(0, 1))
        hidden = torch.baddbmm(self.b2, hidden.relu(), self.w2).relu()
        return torch.baddbmm(self.b3, hidden, self.w3).squeeze(2)


# --8<-- [end:model]


# --8<-- [start:train]
# One training loop for all seeds: seed s standardises with its own
# training rows and draws its own batch order. The score is the validation
# RMSE averaged over the last 3 epochs, not one end point.
def stack(frames, columns, dtype):
    return torch.tensor(np.stack([f[columns].to_numpy() for f in frames]),
                        dtype=dtype, device=device)


x_num, v_num = [], []
for train, valid in splits:
    mean, std = train[NUMERIC].mean(), train[NUMERIC].std()
    x_num.append((train[NUMERIC] - mean) / std)
    v_num.append((valid[NUMERIC] - mean) / std)
x_num, v_num = stack(x_num, NUMERIC, torch.float32), stack(
    v_num, NUMERIC, torch.float32)
x_zip = stack([t for t, _ in splits], "zip", torch.long)
v_zip = stack([v for _, v in splits], "zip", torch.long)
y = stack([t for t, _ in splits], "price", torch.float32)
v_y = stack([v for _, v in splits], "price", torch.float32)


def train_nets(zip_encoding):
    torch.manual_seed(0)  # each seed's copy gets its own draw of weights
    nets = TabularNets(zip_encoding, N_SEEDS).to(device)
    optimizer = torch.optim.AdamW(nets.parameters(), lr=LEARNING_RATE,
                                  weight_decay=WEIGHT_DECAY, foreach=True)
    n_train = y.shape[1]
    steps = EPOCHS * -(-n_train // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, LEARNING_RATE, total_steps=steps)
    generators = [torch.Generator().manual_seed(s) for s in range(N_SEEDS)]
    models = torch.arange(N_SEEDS, device=device)[:, None]
    valid_rmse = []
    for epoch in range(EPOCHS):
        nets.train()
        order = torch.stack([torch.randperm(n_train, generator=g)
                             for g in generators]).to(device)
        shuffled = [t[models, order].split(BATCH_SIZE, dim=1)
                    for t in (x_num, x_zip, y)]
        for numeric, zips, target in zip(*shuffled, strict=True):
            out = nets(numeric, zips)
            # sum over seeds of each seed's mean loss: copies stay separate
            loss = ((out - target) ** 2).mean(1).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch >= EPOCHS - 3:
            nets.eval()
            with torch.no_grad():
                prediction = nets(v_num, v_zip)
            valid_rmse.append(((prediction - v_y) ** 2).mean(1).sqrt())
    score = torch.stack(valid_rmse).mean(0).cpu().numpy()
    print(f"  {zip_encoding:>9}: valid RMSE per seed {np.round(score, 4)}")
    return nets, score, list(prediction.cpu().numpy())


scores, n_params = {}, {}
for name, encoding in [("nn_no_zip", "drop"), ("nn_one_hot", "one-hot"),
                       ("nn_embeddings", "embedding")]:
    nets, scores[name], predictions[name] = train_nets(encoding)
    n_params[name] = sum(p[0].numel() for p in nets.parameters())
embedding_nets = nets


def split_rmse(name):
    return np.array([rmse(p, valid["price"]) for p, (_, valid)
                     in zip(predictions[name], splits, strict=True)])


scores["baseline"] = split_rmse("baseline")
predictions["ensemble"] = [(a + b) / 2 for a, b in zip(
    predictions["nn_embeddings"], predictions["baseline"], strict=True)]
scores["ensemble"] = split_rmse("ensemble")
# --8<-- [end:train]

# --8<-- [start:report]
# Mean and spread over the seeds, and how often each model beat the
# boosting baseline on the same split.
labels = {
    "baseline": "gradient boosting, zip target-encoded",
    "nn_no_zip": "neural net, zip column dropped",
    "nn_one_hot": "neural net, zip one-hot",
    "nn_embeddings": f"neural net, zip embedding ({EMBEDDING_DIM} numbers)",
    "ensemble": "average of embedding net and boosting",
}
per_seed = pd.DataFrame(scores)
per_seed.index.name = "seed"
per_seed.to_csv(OUT / "results.csv", float_format="%.4f")
beats = {n: int((per_seed[n] < per_seed["baseline"]).sum()) for n in labels}
rows = [{"model": labels[n],
         "valid RMSE (mean ± std)":
             f"{per_seed[n].mean():.3f} ± {per_seed[n].std():.3f}",
         "beat boosting": "(baseline)" if n == "baseline"
         else f"{beats[n]} of {N_SEEDS}"} for n in labels]
(OUT / "results.md").write_text(
    pd.DataFrame(rows).to_markdown(index=False) + "\n")
# --8<-- [end:report]


# --8<-- [start:figures]
# Figure 1: every seed's score as a dot, the mean as a bar with its std.
# Figure 2: seed 0's learned zip vectors in 2-D, coloured by the region
# that no model was shown.
def draw_scores():
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    order = list(labels)[::-1]
    for i, name in enumerate(order):
        values = per_seed[name].to_numpy()
        ax.errorbar(values.mean(), i, xerr=values.std(ddof=1), fmt="o",
                    color=COLORS[i], capsize=4, markersize=7)
        ax.plot(values, np.full(len(values), i - 0.22), "|",
                color=COLORS[i], markersize=9)
    ax.set_yticks(range(len(order)), [labels[n] for n in order])
    ax.set_xlabel(f"validation RMSE (mean ± std; ticks: each of "
                  f"{N_SEEDS} seeds)")
    ax.grid(axis="x")
    fig.tight_layout()
    return fig


vectors = embedding_nets.zip_vectors.detach().cpu().numpy()  # every seed
projected = PCA(n_components=2, random_state=0).fit_transform(vectors[0])
# PCA's signs are arbitrary: flip the first axis so dear regions sit right
offset_correlation = np.corrcoef(projected[:, 0],
                                 region_offset[region_of_zip])[0, 1]
projected[:, 0] *= np.sign(offset_correlation)


def draw_embeddings():
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in np.argsort(region_offset):
        here = region_of_zip == r
        ax.scatter(projected[here, 0], projected[here, 1], s=12, alpha=0.8,
                   color=COLORS[r], label=f"{region_offset[r]:+.2f}, "
                   f"{region_slope[r]:.2f}")
    ax.set(xlabel="first principal component",
           ylabel="second principal component")
    ax.legend(title="hidden region:\nprice level,\nprice per size",
              loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


save_figure(draw_scores, "scores")
save_figure(draw_embeddings, "zip_embeddings")


def purity(zip_vectors):
    """Share of zips whose 5 nearest zips are mostly of their region."""
    nearest = NearestNeighbors(n_neighbors=6).fit(zip_vectors).kneighbors(
        zip_vectors, return_distance=False)[:, 1:]
    majority = [np.bincount(region_of_zip[row], minlength=N_REGIONS).argmax()
                for row in nearest]
    return float(np.mean(np.array(majority) == region_of_zip))


purities = [purity(v) for v in vectors]
# --8<-- [end:figures]


def mean_std(values, digits=4):
    values = np.asarray(values, dtype=float)
    return {"mean": round(float(values.mean()), digits),
            "std": round(float(values.std(ddof=1)), digits)}


nets_only = ["nn_no_zip", "nn_one_hot", "nn_embeddings"]
best_single = np.minimum(per_seed["nn_embeddings"], per_seed["baseline"])
residual_correlation = [
    np.corrcoef(e - v["price"], b - v["price"])[0, 1] for e, b, (_, v) in
    zip(predictions["nn_embeddings"], predictions["baseline"], splits,
        strict=True)]
other_encodings = np.minimum(per_seed["nn_no_zip"], per_seed["nn_one_hot"])
metrics = {
    "n_seeds": N_SEEDS,
    "n_train": len(splits[0][0]),
    "n_valid": n_valid,
    "n_zips": N_ZIPS,
    "n_regions": N_REGIONS,
    "rows_per_zip": round(len(splits[0][0]) / N_ZIPS, 1),
    "embedding_dim": EMBEDDING_DIM,
    "hidden": HIDDEN,
    "params": n_params,
    "epochs": EPOCHS,
    "noise_rmse": NOISE,
    "rmse": {name: mean_std(per_seed[name]) for name in nets_only
             + ["ensemble"]},
    "baseline_rmse_mean": round(float(per_seed["baseline"].mean()), 4),
    "baseline_rmse_std": round(float(per_seed["baseline"].std()), 4),
    # n of N_SEEDS runs in which each model had a lower RMSE than boosting
    "beat_baseline": {n: beats[n] for n in nets_only + ["ensemble"]},
    # positive: embeddings beat both the dropped column and one-hot
    "embedding_gain": mean_std(other_encodings - per_seed["nn_embeddings"]),
    "embedding_wins": int((per_seed["nn_embeddings"]
                           < other_encodings).sum()),
    "one_hot_wins_over_drop": int((per_seed["nn_one_hot"]
                                   < per_seed["nn_no_zip"]).sum()),
    # positive: the average beats the better of its two members
    "ensemble_gain": mean_std(best_single - per_seed["ensemble"]),
    "ensemble_gain_pct": round(float(
        (1 - per_seed["ensemble"] / best_single).mean()), 4),
    "ensemble_wins": int((per_seed["ensemble"] < best_single).sum()),
    # below 1: the two models err on different rows
    "residual_correlation": mean_std(residual_correlation, 2),
    "region_purity": mean_std(purities, 3),
    # how closely the figure's first axis follows the regions' price levels
    "pc1_offset_correlation": round(float(abs(offset_correlation)), 4),
    "boosting_categorical_error": boosting_categorical_error,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick rmse.nn_embeddings.mean < 0.7
# dlnotes: expect quick baseline_rmse_mean < 0.7
# dlnotes: expect quick region_purity.mean >= 0.3
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full rmse.nn_embeddings.mean < 0.6
# dlnotes: expect full baseline_rmse_mean < 0.6
# dlnotes: expect full rmse.nn_no_zip.mean > 0.45
# dlnotes: expect full embedding_wins >= 3
# the page says boosting is the model to beat: fail if the net clearly wins
# dlnotes: expect full beat_baseline.nn_embeddings <= 2
# dlnotes: expect full region_purity.mean >= 0.5
# dlnotes: timeout 300
