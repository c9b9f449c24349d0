"""Recommendation systems: a dot-product model with biases on a generated purchase matrix.

The customers, products and hidden tastes are generated here. Run it alone with
`python collab_filtering.py`; outputs go to the folder DLNOTES_OUT names (default
./outputs/collab_filtering). DLNOTES_QUICK=1 uses fewer customers, products and epochs.
"""
# dlnotes: expect quick hit_rate.model > 0.1
# dlnotes: expect quick model_gain > 0
# dlnotes: expect quick anyway_ratio > 2
# dlnotes: expect full model_gain > 0
# dlnotes: expect full hit_rate.model > 0.15
# dlnotes: expect full taste_purity >= 0.8
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
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_USERS = 400 if QUICK else 1_000
N_ITEMS = 250 if QUICK else 500
N_TASTES = 5          # hidden: every customer and every product has one taste
N_FACTORS = 8         # length of each learned customer / product vector
EPOCHS = 6 if QUICK else 10
BATCH_SIZE = 4_096
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-5
TOP_K = 10
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/collab_filtering"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"collab_filtering.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:data]
rng = np.random.default_rng(SEED)
user_taste = rng.integers(0, N_TASTES, N_USERS)          # hidden from the model
item_taste = rng.integers(0, N_TASTES, N_ITEMS)          # hidden from the model
popularity = rng.normal(0, 1, N_ITEMS)                   # some products sell more to everyone
activity = rng.normal(0, 0.5, N_USERS)                   # some customers buy more of everything
same_taste = user_taste[:, None] == item_taste[None, :]
logit = -4.0 + activity[:, None] + popularity[None, :] + 2.5 * same_taste
p_buy = 1 / (1 + np.exp(-logit))      # probability of buying, with no recommender involved
bought = rng.random((N_USERS, N_ITEMS)) < p_buy
bought[np.arange(N_USERS), rng.integers(0, N_ITEMS, N_USERS)] = True  # at least one each

# Hold out one purchase per customer: can the model put it in that customer's top 10?
held_out = np.array([rng.choice(np.flatnonzero(row)) for row in bought])
train = bought.copy()
train[np.arange(N_USERS), held_out] = False
purchases = pd.DataFrame(train.astype(int), index=pd.RangeIndex(N_USERS, name="customer"),
                         columns=pd.RangeIndex(N_ITEMS, name="product"))
print(f"{N_USERS} customers x {N_ITEMS} products, {train.sum()} purchases "
      f"({train.mean():.1%} of the matrix), one more per customer held out")
# --8<-- [end:data]


# --8<-- [start:model]
class DotProductBias(nn.Module):
    """score(customer, product) = customer vector . product vector + both biases."""

    def __init__(self, n_users, n_items, n_factors):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors)
        self.item_factors = nn.Embedding(n_items, n_factors)
        self.user_bias = nn.Embedding(n_users, 1)    # how much this customer buys
        self.item_bias = nn.Embedding(n_items, 1)    # how popular this product is
        for table in (self.user_factors, self.item_factors):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def forward(self, users, items):
        dot = (self.user_factors(users) * self.item_factors(items)).sum(dim=1)
        return dot + self.user_bias(users).squeeze(1) + self.item_bias(items).squeeze(1)


model = DotProductBias(N_USERS, N_ITEMS, N_FACTORS).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
# --8<-- [end:model]

# --8<-- [start:train]
# Every (customer, product) cell is one example: 1 if bought, 0 if not.
users = torch.arange(N_USERS).repeat_interleave(N_ITEMS).to(device)
items = torch.arange(N_ITEMS).repeat(N_USERS).to(device)
target = torch.tensor(purchases.to_numpy().ravel(), dtype=torch.float32, device=device)
generator = torch.Generator().manual_seed(SEED)
for epoch in range(EPOCHS):
    model.train()
    total = 0.0
    for batch in torch.randperm(len(target), generator=generator).split(BATCH_SIZE):
        logits = model(users[batch], items[batch])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    print(f"epoch {epoch}: train loss {total / len(target):.4f}")
# --8<-- [end:train]

# --8<-- [start:evaluate]
def hit_rate(scores):
    """Share of customers whose held-out purchase is among their TOP_K unbought products."""
    scores = np.where(train, -np.inf, scores)              # never recommend what they own
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    return float((top == held_out[:, None]).any(axis=1).mean()), top


model.eval()
with torch.no_grad():
    model_scores = model(users, items).reshape(N_USERS, N_ITEMS).cpu().numpy()
popularity_scores = np.tile(train.sum(axis=0), (N_USERS, 1)).astype(float)  # best sellers
random_scores = rng.random((N_USERS, N_ITEMS))
hits = {}
hits["model"], model_top = hit_rate(model_scores)
hits["popularity"], popularity_top = hit_rate(popularity_scores)
hits["random"], random_top = hit_rate(random_scores)
print({name: round(value, 4) for name, value in hits.items()})
# --8<-- [end:evaluate]

# --8<-- [start:downside]
# The data hold no recommendations at all: every purchase happened without one. How likely was
# each customer to buy the products the model recommends *anyway*?
rows = np.arange(N_USERS)[:, None]
anyway = {name: float(p_buy[rows, top].mean())
          for name, top in [("model", model_top), ("popularity", popularity_top),
                            ("random", random_top)]}
customer = 0
example = pd.DataFrame({
    "product": model_top[customer],
    "product's hidden taste": item_taste[model_top[customer]],
    "model's probability": 1 / (1 + np.exp(-model_scores[customer, model_top[customer]])),
    "true probability of buying anyway": p_buy[customer, model_top[customer]],
})
print(f"customer {customer} (hidden taste {user_taste[customer]}):")
print(example.to_string(index=False))
# --8<-- [end:downside]

# --8<-- [start:report]
labels = {"model": "dot-product model with biases", "popularity": "best sellers (popularity)",
          "random": "random unbought products"}
results = pd.DataFrame({
    "recommender": [labels[n] for n in hits],
    f"hit rate@{TOP_K}": list(hits.values()),
    "mean probability of buying the recommendations anyway": [anyway[n] for n in hits],
})
results.to_csv(OUT / "hit_rates.csv", index=False)
(OUT / "hit_rates.md").write_text(results.to_markdown(index=False, floatfmt=".3f") + "\n")
# as objects, so that the integer columns stay integers in the Markdown table
(OUT / "example.md").write_text(
    example.astype(object).to_markdown(index=False, floatfmt=".3f") + "\n")

vectors = model.item_factors.weight.detach().cpu().numpy()
projected = PCA(n_components=2, random_state=SEED).fit_transform(vectors)
# share of products whose 5 nearest products (cosine) are mostly of the same hidden taste
unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
similarity = unit @ unit.T
np.fill_diagonal(similarity, -np.inf)
nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :5]
purity = np.mean([np.bincount(item_taste[row], minlength=N_TASTES).argmax() == taste
                  for row, taste in zip(nearest, item_taste, strict=True)])
fig, ax = plt.subplots(figsize=(7.5, 5.5))
for t in range(N_TASTES):
    here = item_taste == t
    ax.scatter(projected[here, 0], projected[here, 1], s=14, alpha=0.8, label=f"taste {t}")
ax.set(xlabel="first principal component", ylabel="second principal component",
       title=f"{N_ITEMS} product vectors ({N_FACTORS}-D) projected to 2-D")
ax.legend(title="hidden taste", fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "item_embeddings.png", dpi=110)
plt.close(fig)

metrics = {
    "n_users": N_USERS,
    "n_items": N_ITEMS,
    "n_tastes": N_TASTES,
    "n_factors": N_FACTORS,
    "n_purchases": int(train.sum()),
    "density": round(float(train.mean()), 4),
    "top_k": TOP_K,
    "hit_rate": {name: round(value, 4) for name, value in hits.items()},
    "model_gain": round(hits["model"] - hits["popularity"], 4),
    "anyway": {name: round(value, 4) for name, value in anyway.items()},
    "anyway_ratio": round(anyway["model"] / anyway["random"], 4),
    "example_customer": customer,
    "example_customer_taste": int(user_taste[customer]),
    "example_same_taste": int((item_taste[model_top[customer]] == user_taste[customer]).sum()),
    "taste_purity": round(float(purity), 4),
    "same_taste_share": round(float((item_taste[model_top] == user_taste[:, None]).mean()), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
