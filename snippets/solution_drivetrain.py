"""Solution to the drivetrain page's exercise 2, on its generated customers.

The same population, models, seeds, customers and luck as
drivetrain_uplift.py, but policy 2's two models are trained on
observational data: the recommendation went to the more loyal half of the
experiment's customers instead of a random half. The page's own runs, on
the same customers, give the numbers to compare with (refitting its
policies here would double the cost). No torch is needed.

Run it alone with `python solution_drivetrain.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/solution_drivetrain). DLNOTES_QUICK=1
uses fewer customers and seeds, as the page's quick mode does.
"""

# --8<-- [start:setup]
# The page's settings: customers, budget, model size and seeds.
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_CUSTOMERS = 10_000 if QUICK else 30_000  # per experiment and population
BUDGET = 0.10   # the lever: recommend the product to 10% of the customers
MAX_ITER = 40 if QUICK else 50

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_drivetrain"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_drivetrain.py: cannot write to {OUT}: {err.strerror}")

random.seed(0)
np.random.seed(0)
# --8<-- [end:setup]


# --8<-- [start:world]
# The page's generated world: loyal customers buy anyway; the
# recommendation persuades curious ones who otherwise would not.
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def population(n, rng):
    """Two columns a shop can see, and the (hidden) buying behaviour."""
    loyalty = rng.normal(0, 1, n)
    curiosity = rng.normal(0, 1, n)
    p_anyway = sigmoid(-2.5 + 1.2 * loyalty + 0.4 * curiosity)
    uplift = 0.4 * sigmoid(2 * curiosity - 1) * (1 - p_anyway)
    features = pd.DataFrame({"loyalty": loyalty, "curiosity": curiosity})
    return features, p_anyway, p_anyway + uplift


def experiments(rng):
    """The page's randomised experiment (the same random draws), and an
    observational record of the same customers with the same luck, in
    which the recommendation went to the more loyal half."""
    features, p_anyway, p_recommended = population(N_CUSTOMERS, rng)
    shown = rng.random(N_CUSTOMERS) < 0.5
    luck = rng.random(N_CUSTOMERS)
    loyal = features["loyalty"].to_numpy()
    loyal = loyal >= np.median(loyal)
    data = {name: (who, luck < np.where(who, p_recommended, p_anyway))
            for name, who in (("randomised", shown),
                              ("observational", loyal))}
    return features, data, float((p_recommended - p_anyway).mean())
# --8<-- [end:world]


# --8<-- [start:models]
# Policy 2's two models, as on the page, but fitted on the observational
# record: "with" sees only loyal customers, "without" only the others.
def classifier(seed):
    return HistGradientBoostingClassifier(
        max_iter=MAX_ITER, learning_rate=0.1, early_stopping=False,
        random_state=seed)


def uplift(features, shown, bought, new_features, seed):
    with_rec = classifier(seed).fit(features[shown], bought[shown])
    without = classifier(seed).fit(features[~shown], bought[~shown])
    return (with_rec.predict_proba(new_features)[:, 1]
            - without.predict_proba(new_features)[:, 1])
# --8<-- [end:models]


# --8<-- [start:simulate]
# The page's new population, luck, holdout and random-policy draws, so
# that the customers and the random picks are the page's own. Each score
# is compared with the true uplift, which only a simulator knows: the
# purchases it causes, and its rank correlation with loyalty.
n_chosen = int(BUDGET * N_CUSTOMERS)
rows = []
for seed in range(N_SEEDS):
    rng = np.random.default_rng(seed)
    features, data, true_effect = experiments(rng)
    new_features, new_anyway, new_recommended = population(N_CUSTOMERS, rng)
    luck = rng.random(N_CUSTOMERS)
    caused = (luck < new_recommended) & ~(luck < new_anyway)
    rng.random(N_CUSTOMERS)  # the page's holdout draw, unused here
    scores = {"observational": uplift(features, *data["observational"],
                                      new_features, seed),
              "random": rng.random(N_CUSTOMERS),  # the page's random picks
              "true_uplift": new_recommended - new_anyway}
    row = {"seed": seed, "effect_true": true_effect}
    for name, (who, bought) in data.items():  # the naive comparison
        row[f"effect_{name}"] = bought[who].mean() - bought[~who].mean()
    for name, score in scores.items():
        chosen = np.argsort(-score, kind="stable")[:n_chosen]
        row[f"extra_{name}"] = int(caused[chosen].sum())
        row[f"auc_caused_{name}"] = roc_auc_score(caused, score)
        row[f"loyalty_corr_{name}"] = new_features["loyalty"].corr(
            pd.Series(score), method="spearman")
    rows.append(row)
    print(f"seed {seed}: extra purchases", {
        name: row[f"extra_{name}"] for name in scores})
runs = pd.DataFrame(rows)
# --8<-- [end:simulate]


# --8<-- [start:report]
# Means and spreads over the seeds, and run-by-run counts.
def ms(column, digits=1):
    return {"mean": round(float(runs[column].mean()), digits),
            "std": round(float(runs[column].std()), digits)}


metrics = {
    "n_seeds": N_SEEDS,
    "n_customers": N_CUSTOMERS,
    "budget": BUDGET,
    "n_recommended": n_chosen,
    "extra_purchases": {s: ms(f"extra_{s}") for s in scores},
    # the simplest policy: recommend to customers drawn at random
    "baseline_random_extra_purchases_mean": round(
        float(runs["extra_random"].mean()), 1),
    "observational_beat_random_runs": int(
        (runs["extra_observational"] > runs["extra_random"]).sum()),
    "auc_caused": {s: ms(f"auc_caused_{s}", 4) for s in scores},
    "loyalty_rank_corr": {s: ms(f"loyalty_corr_{s}", 3) for s in scores},
    # the average uplift, and what each kind of data says it is when you
    # compare the buying rates of those shown and those not shown
    "effect": {k: ms(f"effect_{k}", 4)
               for k in ("true", "randomised", "observational")},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick extra_purchases.random.mean > 0
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full extra_purchases.random.mean > 0
# dlnotes: expect full effect.true.mean > 0
# dlnotes: timeout 120
