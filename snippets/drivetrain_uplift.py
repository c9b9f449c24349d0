"""The drivetrain approach: recommend by purchase probability, or by the purchases you cause?

A generated population in which some customers buy a product anyway and others buy only when it
is recommended. Run it alone with `python drivetrain_uplift.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/drivetrain_uplift). DLNOTES_QUICK=1 uses fewer customers.
It also draws the drivetrain diagram (objective -> levers -> data -> models).
"""
# dlnotes: expect quick uplift_ratio >= 1.2
# dlnotes: expect quick auc.policy_1 > 0.7
# dlnotes: expect full uplift_ratio >= 1.5
# dlnotes: expect full auc_gap > 0
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
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_CUSTOMERS = 20_000 if QUICK else 100_000   # in the experiment, and again in the new population
BUDGET = 0.10        # the lever: we may recommend the product to 10% of the customers
MAX_ITER = 60 if QUICK else 150
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/drivetrain_uplift"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"drivetrain_uplift.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
rng = np.random.default_rng(SEED)
# --8<-- [end:setup]


# --8<-- [start:world]
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def population(n):
    """Customers described by two columns a shop can see, and their (hidden) buying behaviour."""
    loyalty = rng.normal(0, 1, n)       # how much of this brand they already buy
    curiosity = rng.normal(0, 1, n)     # how often they click on new things
    p_anyway = sigmoid(-2.5 + 1.2 * loyalty + 0.4 * curiosity)   # buys with no recommendation
    # the recommendation persuades curious customers, among those who would not buy anyway
    uplift = 0.4 * sigmoid(2 * curiosity - 1) * (1 - p_anyway)
    features = pd.DataFrame({"loyalty": loyalty, "curiosity": curiosity})
    return features, p_anyway, p_anyway + uplift


# Data, step 3 of the drivetrain: a randomised experiment. Half the customers, drawn at random,
# saw the recommendation; we record who bought.
features, p_anyway, p_recommended = population(N_CUSTOMERS)
shown = rng.random(N_CUSTOMERS) < 0.5
bought = rng.random(N_CUSTOMERS) < np.where(shown, p_recommended, p_anyway)
print(f"experiment: {N_CUSTOMERS} customers, {shown.mean():.1%} shown the recommendation, "
      f"{bought[shown].mean():.2%} of them bought vs {bought[~shown].mean():.2%} of the others")
# --8<-- [end:world]

# --8<-- [start:models]
def classifier():
    return HistGradientBoostingClassifier(max_iter=MAX_ITER, learning_rate=0.1,
                                          early_stopping=False, random_state=SEED)


# Policy 1: "who is most likely to buy?" One model of the purchase probability.
buy_model = classifier().fit(features, bought)
# Policy 2: "whose purchase would the recommendation cause?" Two models, as the notes describe:
# the purchase probability with and without seeing the recommendation; their difference is the
# uplift.
with_model = classifier().fit(features[shown], bought[shown])
without_model = classifier().fit(features[~shown], bought[~shown])
print("three models trained")
# --8<-- [end:models]

# --8<-- [start:simulate]
# A new population plays the real world; each policy recommends to the BUDGET share it ranks
# highest (the optimiser), and we count the purchases that follow.
new_features, new_anyway, new_recommended = population(N_CUSTOMERS)
draw = rng.random(N_CUSTOMERS)          # the same luck for every policy
buys_anyway = draw < new_anyway         # what happens with no recommendation at all
scores = {
    "policy 1: purchase probability": buy_model.predict_proba(new_features)[:, 1],
    "policy 2: uplift": with_model.predict_proba(new_features)[:, 1]
                        - without_model.predict_proba(new_features)[:, 1],
    "random customers": rng.random(N_CUSTOMERS),
}
n_chosen = int(BUDGET * N_CUSTOMERS)
rows = []
for policy, score in scores.items():
    chosen = np.zeros(N_CUSTOMERS, dtype=bool)
    chosen[np.argsort(-score, kind="stable")[:n_chosen]] = True
    buys = draw < np.where(chosen, new_recommended, new_anyway)
    rows.append({
        "policy": policy,
        "AUC: score predicts who buys": roc_auc_score(buys, score),
        "buyers among the recommended": int(buys[chosen].sum()),
        "of whom would have bought anyway": int(buys_anyway[chosen].sum()),
        "extra purchases caused": int(buys.sum() - buys_anyway.sum()),
    })
    print(rows[-1])
table = pd.DataFrame(rows)
# --8<-- [end:simulate]


# --8<-- [start:diagram]
def drivetrain_figure(path):
    """The drivetrain approach as boxes and arrows (an offline copy of the page's diagram)."""
    steps = [  # (x, y, title, question)
        (0.11, 0.72, "1. Defined objective", "What outcome am I\ntrying to achieve?"),
        (0.37, 0.72, "2. Levers", "What inputs can\nwe control?"),
        (0.63, 0.72, "3. Data", "What data can\nwe collect?"),
        (0.89, 0.72, "4. Models", "How the levers\ninfluence the objective"),
        (0.89, 0.22, "Simulator", "What happens for\neach lever setting?"),
        (0.63, 0.22, "Optimiser", "Which setting\nserves the objective best?"),
        (0.37, 0.22, "Actionable outcome", "The decision\nwe act on"),
    ]
    fig, ax = plt.subplots(figsize=(11, 4.2), facecolor="white")
    ax.set(xlim=(-0.01, 1.01), ylim=(0.02, 0.92))
    ax.axis("off")
    for i, (x, y, title, question) in enumerate(steps):
        colour = "#c5cae9" if i < 4 else "#ffe0b2"
        ax.add_patch(FancyBboxPatch((x - 0.1, y - 0.15), 0.2, 0.3, facecolor=colour,
                                    edgecolor="#303f9f", boxstyle="round,pad=0.01"))
        ax.text(x, y + 0.07, title, ha="center", va="center", fontsize=11, weight="bold")
        ax.text(x, y - 0.05, question, ha="center", va="center", fontsize=9)
    arrows = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    for a, b in arrows:
        (xa, ya), (xb, yb) = steps[a][:2], steps[b][:2]
        if ya == yb:
            start, end = (xa + 0.1 * np.sign(xb - xa), ya), (xb - 0.1 * np.sign(xb - xa), yb)
        else:
            start, end = (xa, ya - 0.15), (xb, yb + 0.15)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18,
                                     color="#303f9f", lw=1.8))
    ax.add_patch(FancyArrowPatch((0.58, 0.37), (0.42, 0.57), arrowstyle="-|>",
                                 mutation_scale=16, color="#e65100", lw=1.5, ls="--"))
    ax.text(0.52, 0.49, "sets the levers", ha="left", fontsize=9, color="#e65100")
    ax.set_title("The drivetrain approach: the models feed a simulator and an optimiser",
                 fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110, facecolor="white")
    plt.close(fig)


drivetrain_figure(OUT / "drivetrain.png")
# --8<-- [end:diagram]

# --8<-- [start:report]
table.to_csv(OUT / "policies.csv", index=False)
(OUT / "policies.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")
by_policy = table.set_index("policy")
p1, p2 = by_policy.loc["policy 1: purchase probability"], by_policy.loc["policy 2: uplift"]
metrics = {
    "n_customers": N_CUSTOMERS,
    "budget": BUDGET,
    "n_recommended": n_chosen,
    "experiment_rate_shown": round(float(bought[shown].mean()), 4),
    "experiment_rate_not_shown": round(float(bought[~shown].mean()), 4),
    "buyers_anyway": int(buys_anyway.sum()),
    "extra_purchases": {
        "policy_1": int(p1["extra purchases caused"]),
        "policy_2": int(p2["extra purchases caused"]),
        "random": int(by_policy.loc["random customers", "extra purchases caused"]),
    },
    "buyers_among_recommended": {"policy_1": int(p1["buyers among the recommended"]),
                                 "policy_2": int(p2["buyers among the recommended"])},
    "anyway_among_recommended": {"policy_1": int(p1["of whom would have bought anyway"]),
                                 "policy_2": int(p2["of whom would have bought anyway"])},
    "auc": {"policy_1": round(float(p1["AUC: score predicts who buys"]), 4),
            "policy_2": round(float(p2["AUC: score predicts who buys"]), 4)},
    # positive: policy 1 "predicts better" ...
    "auc_gap": round(float(p1["AUC: score predicts who buys"]
                           - p2["AUC: score predicts who buys"]), 4),
    # ... yet policy 2 causes this many times the extra purchases
    "uplift_ratio": round(float(p2["extra purchases caused"] / p1["extra purchases caused"]), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
