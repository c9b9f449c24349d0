"""Solutions to the recommendation page's exercises, on the page's shop.

(1) The dot-product model with one factor instead of 8; (2) the model
without its two biases; (3) the page's model, recommending only products a
customer would buy anyway with probability below 0.1. The three models
train on the same N_SEEDS held-out draws as on the page, all side by side,
for fewer epochs than the page (so the page's model runs here too); the
best sellers are the baseline.

Run it alone with `python solution_recommendation.py`; outputs go to the
folder DLNOTES_OUT names (default ./outputs/solution_recommendation).
DLNOTES_QUICK=1 uses a smaller shop, fewer runs and fewer epochs.
"""

# --8<-- [start:setup]
# The page's settings, with fewer epochs: every variant is compared with
# the page's own model trained the same way here.
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_USERS = 400 if QUICK else 1_000
N_ITEMS = 250 if QUICK else 500
N_TASTES = 5
N_FACTORS = 8
EPOCHS = 2 if QUICK else 5     # the page trains for 8
BATCH_SIZE = 4_096
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-5
TOP_K = 10
ANYWAY_BELOW = 0.1             # exercise 3's threshold on p_buy
# name: (factors, biases)
VARIANTS = {"page": (N_FACTORS, True), "one_factor": (1, True),
            "no_bias": (N_FACTORS, False)}

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_recommendation"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_recommendation.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
torch.manual_seed(0)
torch.set_num_threads(1)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:data]
# The page's shop and held-out purchases, drawn exactly as there.
rng = np.random.default_rng(0)
user_taste = rng.integers(0, N_TASTES, N_USERS)
item_taste = rng.integers(0, N_TASTES, N_ITEMS)
popularity = rng.normal(0, 1, N_ITEMS)
activity = rng.normal(0, 0.5, N_USERS)
same_taste = user_taste[:, None] == item_taste[None, :]
logit = -4.0 + activity[:, None] + popularity[None, :] + 2.5 * same_taste
p_buy = 1 / (1 + np.exp(-logit))
bought = rng.random((N_USERS, N_ITEMS)) < p_buy
bought[np.arange(N_USERS), rng.integers(0, N_ITEMS, N_USERS)] = True

held_out = np.zeros((N_SEEDS, N_USERS), dtype=int)
for seed in range(N_SEEDS):
    draw = np.random.default_rng(seed)
    held_out[seed] = [draw.choice(np.flatnonzero(row)) for row in bought]
train = np.repeat(bought[None], N_SEEDS, axis=0)
train[np.arange(N_SEEDS)[:, None], np.arange(N_USERS), held_out] = False
# --8<-- [end:data]


# --8<-- [start:model]
# The page's DotProductBias with two switches per copy: how many of the 8
# factors it uses (the others are masked to zero) and whether it has its
# biases. Copy m trains on run seeds[m]'s purchases.
class DotProductBias(nn.Module):
    def __init__(self, factors, biases):
        super().__init__()
        n_models = len(factors)
        self.user_factors = nn.Parameter(
            torch.randn(n_models * N_USERS, N_FACTORS) * 0.1)
        self.item_factors = nn.Parameter(
            torch.randn(n_models * N_ITEMS, N_FACTORS) * 0.1)
        self.user_bias = nn.Parameter(torch.zeros(n_models * N_USERS, 1))
        self.item_bias = nn.Parameter(torch.zeros(n_models * N_ITEMS, 1))
        used = torch.arange(N_FACTORS) < torch.tensor(factors)[:, None]
        mask = torch.cat([used, torch.tensor(biases)[:, None]], 1).float()
        # one mask row per table row: copy m's rows get copy m's switches
        self.register_buffer("user_mask", mask.repeat_interleave(N_USERS, 0))
        self.register_buffer("item_mask", mask.repeat_interleave(N_ITEMS, 0))

    def tables(self):  # each row: the vector, then the bias, masked
        return (torch.cat([self.user_factors, self.user_bias], 1)
                * self.user_mask,
                torch.cat([self.item_factors, self.item_bias], 1)
                * self.item_mask)

    def forward(self, users, items):  # both (models, pairs)
        model = torch.arange(len(users), device=users.device)[:, None]
        user_table, item_table = self.tables()
        user = user_table.index_select(0, (users + model * N_USERS).flatten())
        item = item_table.index_select(0, (items + model * N_ITEMS).flatten())
        dot = (user[:, :-1] * item[:, :-1]).sum(1)
        return (dot + user[:, -1] + item[:, -1]).view(users.shape)

    def all_pairs(self):  # (models, customers, products), the same score
        user_table, item_table = self.tables()
        user = user_table.view(-1, N_USERS, N_FACTORS + 1)
        item = item_table.view(-1, N_ITEMS, N_FACTORS + 1)
        return (torch.bmm(user[..., :-1], item[..., :-1].transpose(1, 2))
                + user[..., -1:] + item[..., -1][:, None, :])


SEEDS = list(range(N_SEEDS))
seeds = SEEDS * len(VARIANTS)
torch.manual_seed(0)
model = DotProductBias([f for f, _ in VARIANTS.values() for _ in SEEDS],
                       [b for _, b in VARIANTS.values() for _ in SEEDS]
                       ).to(device)
optimizer = torch.optim.Adam(model.parameters(), LEARNING_RATE,
                             weight_decay=WEIGHT_DECAY)
# --8<-- [end:model]

# --8<-- [start:train]
# The page's loop: every cell is an example, each run in its own order
# (the three variants of one run share it, so they differ only in the
# model).
n_cells = N_USERS * N_ITEMS
target = torch.tensor(train[seeds].reshape(len(seeds), n_cells),
                      dtype=torch.float32, device=device)
generators = [torch.Generator().manual_seed(s) for s in SEEDS]
runs = torch.arange(len(seeds), device=device)[:, None]
for _ in range(EPOCHS):
    order = torch.stack([torch.randperm(n_cells, generator=g)
                         for g in generators]).to(device)
    cells = [(order // N_ITEMS)[seeds], (order % N_ITEMS)[seeds],
             target[runs, order[seeds]]]
    batches = zip(*[t.split(BATCH_SIZE, dim=1) for t in cells], strict=True)
    for users, items, bought_it in batches:
        loss = nn.functional.binary_cross_entropy_with_logits(
            model(users, items), bought_it, reduction="none").mean(1)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
# --8<-- [end:train]

# --8<-- [start:evaluate]
# Hit rate@10 as on the page, for each variant, for the best sellers, and
# for the page's model restricted to products with p_buy < 0.1.
def top_products(scores, allowed):
    """Per run and customer: the TOP_K allowed products scored highest."""
    scores = np.where(allowed, scores, -np.inf)
    return np.argsort(-scores, axis=2, kind="stable")[:, :, :TOP_K]


with torch.no_grad():
    all_scores = model.all_pairs().reshape(
        len(VARIANTS), N_SEEDS, N_USERS, N_ITEMS).cpu().numpy()
unbought = ~train
tops = {name: top_products(all_scores[i], unbought)
        for i, name in enumerate(VARIANTS)}
tops["popularity"] = top_products(
    np.repeat(train.sum(axis=1)[:, None, :], N_USERS, axis=1)
    .astype(float), unbought)
tops["page_below"] = top_products(all_scores[0],
                                  unbought & (p_buy < ANYWAY_BELOW))
hits = {name: (top == held_out[:, :, None]).any(axis=2).mean(axis=1)
        for name, top in tops.items()}
customers = np.arange(N_USERS)[None, :, None]
anyway = {name: float(p_buy[customers, top].mean())
          for name, top in tops.items()}
own = {name: item_taste[top] == user_taste[None, :, None]
       for name, top in tops.items()}
for name in tops:
    print(f"{name:>11}: hit rate per run {np.round(hits[name], 3)}, "
          f"bought anyway {anyway[name]:.3f}")
# --8<-- [end:evaluate]


def mean_std(values, digits=4):
    values = np.asarray(values, dtype=float)
    return {"mean": round(float(values.mean()), digits),
            "std": round(float(values.std(ddof=1)), digits)}


def tastes_served(name):
    """Per run: tastes whose customers get mostly their own taste."""
    share = own[name].mean(axis=2)          # (runs, customers)
    return [sum(share[r, user_taste == t].mean() > 0.5
                for t in range(N_TASTES)) for r in range(N_SEEDS)]


held_p = p_buy[np.arange(N_USERS), held_out]   # (runs, customers)
metrics = {
    "n_seeds": N_SEEDS,
    "epochs": EPOCHS,
    "n_factors": N_FACTORS,
    "n_tastes": N_TASTES,
    "top_k": TOP_K,
    "anyway_below": ANYWAY_BELOW,
    "baseline_hit_rate_popularity_mean": round(
        float(hits["popularity"].mean()), 4),
    "baseline_hit_rate_popularity_std": round(
        float(hits["popularity"].std(ddof=1)), 4),
    "hit_rate": {name: mean_std(hits[name]) for name in tops},
    # runs in which each variant's hit rate beat the page's model / the
    # best sellers on the same held-out purchases
    "beat_page": {n: int((hits[n] > hits["page"]).sum())
                  for n in ("one_factor", "no_bias")},
    "beat_popularity": {n: int((hits[n] > hits["popularity"]).sum())
                        for n in VARIANTS},
    "same_taste_share": {n: round(float(own[n].mean()), 4)
                         for n in tops},
    "tastes_served": {n: mean_std(tastes_served(n), 2)
                      for n in ("page", "one_factor")},
    "anyway": {n: round(v, 4) for n, v in anyway.items()},
    # exercise 3: how many held-out purchases the rule can still find
    "held_out_below_share": round(float((held_p < ANYWAY_BELOW).mean()), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick hit_rate.page.mean > 0.05
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full hit_rate.page.mean > 0.08
# dlnotes: expect full baseline_hit_rate_popularity_mean > 0.05
# dlnotes: expect full hit_rate.one_factor.mean > 0.02
# dlnotes: expect full hit_rate.no_bias.mean > 0.02
# dlnotes: expect full anyway.page_below < 0.1
# the solutions state these directions: fail only if they clearly reverse
# dlnotes: expect full hit_rate.page_below.mean < 0.1
# dlnotes: expect full beat_popularity.no_bias >= 3
# dlnotes: expect full same_taste_share.one_factor <= 0.4
# dlnotes: timeout 120
