"""Tabular data: entity embeddings for a zip-code column, and an ensemble with gradient boosting.

The table is generated here (house prices with a size, an age, a distance and a zip code whose
effect comes from a hidden region). Run it alone with `python tabular_embeddings.py`; outputs go
to the folder DLNOTES_OUT names (default ./outputs/tabular_embeddings). DLNOTES_QUICK=1 uses
fewer rows and epochs.
"""
# dlnotes: expect quick embedding_gain > 0
# dlnotes: expect quick ensemble_gain > 0
# dlnotes: expect quick rmse.nn_embeddings < 0.6
# dlnotes: expect quick region_purity >= 0.4
# dlnotes: expect quick pc1_offset_correlation >= 0.7
# dlnotes: expect full embedding_gain > 0
# dlnotes: expect full ensemble_gain > 0
# dlnotes: expect full region_purity >= 0.6
# dlnotes: expect full pc1_offset_correlation >= 0.8
# dlnotes: timeout 120

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
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_ROWS = 5_000 if QUICK else 10_000
N_ZIPS = 600          # the high-cardinality column: 600 distinct zip codes
N_REGIONS = 6         # hidden: each zip code lies in one region; the model never sees it
NOISE = 0.3           # standard deviation of the part of the price nobody can predict
VALID_FRACTION = 0.25
EMBEDDING_DIM = 4
HIDDEN = 64
EPOCHS = 8 if QUICK else 30
BATCH_SIZE = 256
LEARNING_RATE = 5e-3
WEIGHT_DECAY = 1e-4
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/tabular_embeddings"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"tabular_embeddings.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:data]
rng = np.random.default_rng(SEED)
region_of_zip = rng.integers(0, N_REGIONS, N_ZIPS)        # hidden: zip code -> region
region_offset = np.linspace(-0.7, 0.7, N_REGIONS)          # some regions are dearer...
region_slope = rng.permutation(np.linspace(0.1, 0.7, N_REGIONS))  # ...and value size differently

table = pd.DataFrame({
    "size": rng.uniform(-1, 1, N_ROWS),                    # standardised floor area
    "age": rng.uniform(0, 60, N_ROWS),                     # years since it was built
    "distance": rng.uniform(0, 30, N_ROWS),                # km to the city centre
    "listed_day": rng.integers(1, 32, N_ROWS),             # day of the month: irrelevant
    "photos": rng.integers(0, 40, N_ROWS),                 # photos in the advert: irrelevant
    "zip": rng.integers(0, N_ZIPS, N_ROWS),                # a label: its order means nothing
})
region = region_of_zip[table["zip"]]
table["price"] = (
    region_offset[region] + region_slope[region] * table["size"]    # the zip code's effect
    + 1.0 * (table["age"] < 10) - 0.6 * (table["distance"] > 8)     # sharp, tree-like rules
    - 0.8 * (table["distance"] > 20) + 0.8 * ((table["age"] < 10) & (table["distance"] < 8))
    + rng.normal(0, NOISE, N_ROWS)                                     # what nobody can predict
)
shuffled = rng.permutation(N_ROWS)
n_valid = int(N_ROWS * VALID_FRACTION)
valid, train = table.iloc[shuffled[:n_valid]], table.iloc[shuffled[n_valid:]]
NUMERIC = ["size", "age", "distance", "listed_day", "photos"]
print(f"{len(train)} training rows, {len(valid)} validation rows, {N_ZIPS} zip codes")
print(table.head())
# --8<-- [end:data]


def rmse(prediction, target):
    return float(np.sqrt(np.mean((np.asarray(prediction) - np.asarray(target)) ** 2)))


# --8<-- [start:boosting]
try:  # scikit-learn's own categorical support stops at 255 categories
    HistGradientBoostingRegressor(categorical_features=[len(NUMERIC)]).fit(
        train[NUMERIC + ["zip"]], train["price"])
    boosting_categorical_error = ""
except ValueError as err:
    boosting_categorical_error = str(err)
boosting = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.1, random_state=SEED)
boosting.fit(train[NUMERIC + ["zip"]], train["price"])  # the zip code as a plain number
predictions = {"boosting": boosting.predict(valid[NUMERIC + ["zip"]])}
print(f"boosting: valid RMSE {rmse(predictions['boosting'], valid['price']):.4f}")
# --8<-- [end:boosting]

# --8<-- [start:model]
mean, std = train[NUMERIC].mean(), train[NUMERIC].std()


def tensors(frame):
    numeric = torch.tensor(((frame[NUMERIC] - mean) / std).to_numpy(), dtype=torch.float32)
    zips = torch.tensor(frame["zip"].to_numpy())
    target = torch.tensor(frame["price"].to_numpy(), dtype=torch.float32)
    return numeric.to(device), zips.to(device), target.to(device)


class TabularNet(nn.Module):
    """An MLP on the numeric columns plus the zip code: dropped, one-hot or embedded."""

    def __init__(self, zip_encoding):
        super().__init__()
        self.zip_encoding = zip_encoding
        zip_width = {"drop": 0, "one-hot": N_ZIPS, "embedding": EMBEDDING_DIM}[zip_encoding]
        if zip_encoding == "embedding":
            self.embedding = nn.Embedding(N_ZIPS, EMBEDDING_DIM)  # one learned vector per zip
            nn.init.normal_(self.embedding.weight, std=0.01)      # start near 0, as fastai does
        self.layers = nn.Sequential(
            nn.Linear(len(NUMERIC) + zip_width, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
            nn.Linear(HIDDEN, 1),
        )

    def forward(self, numeric, zips):
        if self.zip_encoding == "one-hot":
            numeric = torch.cat([numeric, nn.functional.one_hot(zips, N_ZIPS).float()], dim=1)
        elif self.zip_encoding == "embedding":
            numeric = torch.cat([numeric, self.embedding(zips)], dim=1)
        return self.layers(numeric).squeeze(1)
# --8<-- [end:model]


# --8<-- [start:train]
def train_net(zip_encoding):
    torch.manual_seed(SEED)  # every net starts from the same seed and sees the same batches
    model = TabularNet(zip_encoding).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE,
                                  weight_decay=WEIGHT_DECAY)
    steps = EPOCHS * -(-len(train) // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=steps)
    x_num, x_zip, y = tensors(train)
    v_num, v_zip, v_y = tensors(valid)
    generator = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        for batch in torch.randperm(len(y), generator=generator).split(BATCH_SIZE):
            loss = nn.functional.mse_loss(model(x_num[batch], x_zip[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % 5 == 4 or epoch == EPOCHS - 1:
            model.eval()
            with torch.no_grad():
                valid_rmse = rmse(model(v_num, v_zip).cpu(), v_y.cpu())
            print(f"  {zip_encoding:>9} epoch {epoch}: valid RMSE {valid_rmse:.4f}")
    model.eval()
    with torch.no_grad():
        return model, model(v_num, v_zip).cpu().numpy()


n_params = {}
for name, encoding in [("nn_no_zip", "drop"), ("nn_one_hot", "one-hot"),
                       ("nn_embeddings", "embedding")]:
    model, predictions[name] = train_net(encoding)
    n_params[name] = sum(p.numel() for p in model.parameters())
embedding_model = model
predictions["ensemble"] = (predictions["nn_embeddings"] + predictions["boosting"]) / 2
# --8<-- [end:train]

# --8<-- [start:report]
labels = {
    "boosting": "HistGradientBoosting (zip as a number)",
    "nn_no_zip": "neural net, zip column dropped",
    "nn_one_hot": "neural net, zip one-hot",
    "nn_embeddings": f"neural net, zip embedding ({EMBEDDING_DIM} numbers)",
    "ensemble": "average of embedding net and boosting",
}
scores = {name: rmse(p, valid["price"]) for name, p in predictions.items()}
results = pd.DataFrame({"model": [labels[n] for n in scores],
                        "valid RMSE": list(scores.values())})
results["vs. boosting"] = results["valid RMSE"] / scores["boosting"] - 1
results.to_csv(OUT / "results.csv", index=False)
shown = results.copy()
shown["vs. boosting"] = shown["vs. boosting"].map(lambda v: f"{v:+.1%}")
(OUT / "results.md").write_text(shown.to_markdown(index=False, floatfmt=".4f") + "\n")

# The learned zip vectors, projected to 2-D; the colours are the region the nets never saw.
vectors = embedding_model.embedding.weight.detach().cpu().numpy()
projected = PCA(n_components=2, random_state=SEED).fit_transform(vectors)
# PCA's signs are arbitrary: flip the first axis so that dearer regions sit on the right
offset_correlation = np.corrcoef(projected[:, 0], region_offset[region_of_zip])[0, 1]
projected[:, 0] *= np.sign(offset_correlation)
neighbours = KNeighborsClassifier(n_neighbors=5).fit(vectors, region_of_zip)
# share of zips whose 5 nearest other zips (in embedding space) are mostly from its region
purity = np.mean([
    np.bincount(region_of_zip[idx[1:]], minlength=N_REGIONS).argmax() == region_of_zip[i]
    for i, idx in enumerate(neighbours.kneighbors(vectors, n_neighbors=6, return_distance=False))
])
fig, ax = plt.subplots(figsize=(10, 5.5))
for r in range(N_REGIONS):
    here = region_of_zip == r
    ax.scatter(projected[here, 0], projected[here, 1], s=14, alpha=0.8,
               label=f"region {r} (offset {region_offset[r]:+.2f}, slope {region_slope[r]:.2f})")
ax.set(xlabel="first principal component", ylabel="second principal component",
       title=f"{N_ZIPS} zip-code embeddings ({EMBEDDING_DIM}-D) projected to 2-D")
ax.legend(title="hidden region", fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
fig.tight_layout()
fig.savefig(OUT / "zip_embeddings.png", dpi=110)
plt.close(fig)

best_single = min(scores["nn_embeddings"], scores["boosting"])
metrics = {
    "n_train": len(train),
    "n_valid": len(valid),
    "n_zips": N_ZIPS,
    "n_regions": N_REGIONS,
    "rows_per_zip": round(len(train) / N_ZIPS, 1),
    "embedding_dim": EMBEDDING_DIM,
    "hidden": HIDDEN,
    "params": n_params,
    "epochs": EPOCHS,
    "rmse": {name: round(value, 4) for name, value in scores.items()},
    "noise_rmse": NOISE,
    # positive: embeddings beat both the dropped column and one-hot encoding
    "embedding_gain": round(min(scores["nn_no_zip"], scores["nn_one_hot"])
                            - scores["nn_embeddings"], 4),
    # positive: the average beats the better of its two members
    "ensemble_gain": round(best_single - scores["ensemble"], 4),
    "ensemble_gain_pct": round(1 - scores["ensemble"] / best_single, 4),
    "region_purity": round(float(purity), 4),
    # how closely the first axis of the figure follows the hidden regions' price levels
    "pc1_offset_correlation": round(float(abs(offset_correlation)), 4),
    # below 1: the two models err on different rows, so their average cancels part of it
    "residual_correlation": round(float(np.corrcoef(
        predictions["nn_embeddings"] - valid["price"], predictions["boosting"] - valid["price"]
    )[0, 1]), 4),
    "boosting_categorical_error": boosting_categorical_error,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
