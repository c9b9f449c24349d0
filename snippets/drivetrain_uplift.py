"""The drivetrain approach: recommend by purchase probability, or by the
purchases you cause?

A generated population in which some customers buy a product anyway and
others buy only when it is recommended. The whole experiment (data,
models, simulation) is repeated for N_SEEDS seeds. Run it alone with
`python drivetrain_uplift.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/drivetrain_uplift). DLNOTES_QUICK=1 uses fewer customers
and seeds. It also draws the drivetrain diagram.
"""

# --8<-- [start:setup]
# Settings first: QUICK mode shrinks the run so that it takes seconds.
# Each of N_SEEDS runs generates its own experiment and new population.
import io
import json
import os
import random
import sys
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5
N_CUSTOMERS = 10_000 if QUICK else 30_000  # per experiment and population
BUDGET = 0.10   # the lever: recommend the product to 10% of the customers
BUDGETS = np.arange(1, 101) / 100  # other budgets: the page's slider
MAX_ITER = 40 if QUICK else 50

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/drivetrain_uplift"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"drivetrain_uplift.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(0)
np.random.seed(0)
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


# --8<-- [start:world]
# The world is generated, so that both outcomes of every customer are
# known: buying with and without the recommendation. Loyal customers buy
# anyway; the recommendation persuades curious ones who otherwise would not.
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def population(n, rng):
    """Two columns a shop can see, and the (hidden) buying behaviour."""
    loyalty = rng.normal(0, 1, n)     # how much of this brand they buy
    curiosity = rng.normal(0, 1, n)   # how often they click on new things
    p_anyway = sigmoid(-2.5 + 1.2 * loyalty + 0.4 * curiosity)
    # the recommendation persuades the curious, among those who would not
    # buy anyway
    uplift = 0.4 * sigmoid(2 * curiosity - 1) * (1 - p_anyway)
    features = pd.DataFrame({"loyalty": loyalty, "curiosity": curiosity})
    return features, p_anyway, p_anyway + uplift


def experiment(rng):
    """Data, step 3: half the customers, drawn at random, see the
    recommendation; we record who bought."""
    features, p_anyway, p_recommended = population(N_CUSTOMERS, rng)
    shown = rng.random(N_CUSTOMERS) < 0.5
    bought = rng.random(N_CUSTOMERS) < np.where(shown, p_recommended,
                                                p_anyway)
    return features, shown, bought
# --8<-- [end:world]


# --8<-- [start:models]
# Policy 1 asks "who is most likely to buy?": one model. Policy 2 asks
# "whose purchase would the recommendation cause?": two models, with and
# without the recommendation; their difference is the uplift.
def classifier(seed):
    return HistGradientBoostingClassifier(
        max_iter=MAX_ITER, learning_rate=0.1, early_stopping=False,
        random_state=seed)


def policy_scores(features, shown, bought, new_features, seed):
    buy = classifier(seed).fit(features, bought)
    with_rec = classifier(seed).fit(features[shown], bought[shown])
    without = classifier(seed).fit(features[~shown], bought[~shown])
    return {
        "policy_1": buy.predict_proba(new_features)[:, 1],
        "policy_2": with_rec.predict_proba(new_features)[:, 1]
        - without.predict_proba(new_features)[:, 1],
    }
# --8<-- [end:models]


# --8<-- [start:simulate]
# A new population plays the real world. Its luck is drawn once, so that
# every customer's outcome with and without the recommendation is known;
# the scores are judged on outcomes no policy chose: a randomised holdout
# (half shown the recommendation at random) and the purchases the
# recommendation would cause. Then each policy recommends to the BUDGET
# share it ranks highest, and we count the purchases that follow.
n_chosen = int(BUDGET * N_CUSTOMERS)
runs, curves = [], {}
for seed in range(N_SEEDS):
    rng = np.random.default_rng(seed)
    features, shown, bought = experiment(rng)
    new_features, new_anyway, new_recommended = population(N_CUSTOMERS, rng)
    luck = rng.random(N_CUSTOMERS)
    buys_anyway = luck < new_anyway             # never recommended
    buys_if_shown = luck < new_recommended      # always recommended
    caused = buys_if_shown & ~buys_anyway       # bought only if shown
    holdout_shown = rng.random(N_CUSTOMERS) < 0.5
    holdout_buys = np.where(holdout_shown, buys_if_shown, buys_anyway)
    scores = policy_scores(features, shown, bought, new_features, seed)
    scores["random"] = rng.random(N_CUSTOMERS)
    for policy, score in scores.items():
        ranked = np.argsort(-score, kind="stable")
        chosen = np.zeros(N_CUSTOMERS, dtype=bool)
        chosen[ranked[:n_chosen]] = True
        # the same ranking at every budget: extra purchases of the top k
        caused_top = np.cumsum(caused[ranked])
        curves.setdefault(policy, []).append(
            caused_top[(BUDGETS * N_CUSTOMERS).astype(int) - 1])
        runs.append({
            "seed": seed, "policy": policy,
            "auc_holdout": roc_auc_score(holdout_buys, score),
            "auc_caused": roc_auc_score(caused, score),
            "buyers": int(buys_if_shown[chosen].sum()),
            "anyway": int(buys_anyway[chosen].sum()),
            "extra": int(caused[chosen].sum()),
        })
    print(f"seed {seed}: extra purchases", {
        r["policy"]: r["extra"] for r in runs[-3:]})
runs = pd.DataFrame(runs)
# --8<-- [end:simulate]


# --8<-- [start:report]
# Mean ± std over the seeds, and how often policy 2 beat policy 1.
labels = {"policy_1": "policy 1: purchase probability",
          "policy_2": "policy 2: uplift",
          "random": "random customers"}
runs.to_csv(OUT / "policies.csv", index=False, float_format="%.4f")
wide = runs.pivot(index="seed", columns="policy")
summary = runs.groupby("policy").agg(["mean", "std"])
p2_wins = int((wide["extra"]["policy_2"] > wide["extra"]["policy_1"]).sum())
p1_auc_wins = int((wide["auc_holdout"]["policy_1"]
                   > wide["auc_holdout"]["policy_2"]).sum())


def cell(column, policy, fmt):
    mean, std = summary.loc[policy, (column, "mean")], summary.loc[
        policy, (column, "std")]
    return f"{mean:{fmt}} ± {std:{fmt}}"


table = pd.DataFrame([{
    "policy": labels[p],
    "AUC: who buys (randomised holdout)": cell("auc_holdout", p, ".3f"),
    "AUC: whose purchase it causes": cell("auc_caused", p, ".3f"),
    "buyers among the recommended": cell("buyers", p, ",.0f"),
    "of whom would have bought anyway": cell("anyway", p, ",.0f"),
    "extra purchases caused": cell("extra", p, ",.0f"),
} for p in labels])
(OUT / "policies.md").write_text(table.to_markdown(index=False) + "\n")
# --8<-- [end:report]


# --8<-- [start:figures]
# Figure 1: extra purchases per policy, every seed as a tick, the mean as
# a dot with its std.
def draw_extra():
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    order = list(labels)[::-1]
    for i, policy in enumerate(order):
        values = wide["extra"][policy].to_numpy()
        ax.errorbar(values.mean(), i, xerr=values.std(ddof=1), fmt="o",
                    color=COLORS[i], capsize=4, markersize=7)
        ax.plot(values, np.full(len(values), i - 0.25), "|",
                color=COLORS[i], markersize=9)
    ax.set_yticks(range(len(order)), [labels[p] for p in order])
    ax.set_xlabel(f"extra purchases caused by {n_chosen:,} recommendations"
                  f"\n(mean ± std; ticks: each of {N_SEEDS} seeds)")
    ax.grid(axis="x")
    fig.tight_layout()
    return fig


save_figure(draw_extra, "extra_purchases")
# --8<-- [end:figures]


# --8<-- [start:diagram]
# Figure 2: the drivetrain approach as boxes and arrows (an offline copy of
# the page's diagram). Colours from the palette; text in the palette's ink.
def draw_drivetrain():
    steps = [  # (x, y, title, question)
        (0.12, 0.72, "1. Objective", "What outcome am I\ntrying to achieve?"),
        (0.375, 0.72, "2. Levers", "What inputs can\nwe control?"),
        (0.625, 0.72, "3. Data", "What data can\nwe collect?"),
        (0.88, 0.72, "4. Models", "How the levers\nmove the objective"),
        (0.88, 0.22, "Simulator", "What happens for\neach lever setting?"),
        (0.625, 0.22, "Optimiser", "Which setting\nserves it best?"),
        (0.375, 0.22, "Actionable\noutcome", "The decision\nwe act on"),
    ]
    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    ax.set(xlim=(-0.01, 1.01), ylim=(0.02, 0.92))
    ax.axis("off")
    for i, (x, y, title, question) in enumerate(steps):
        colour = COLORS[0] if i < 4 else COLORS[1]
        ax.add_patch(FancyBboxPatch(
            (x - 0.11, y - 0.16), 0.22, 0.32, facecolor=colour, alpha=0.15,
            edgecolor="none", boxstyle="round,pad=0.01"))
        ax.add_patch(FancyBboxPatch(
            (x - 0.11, y - 0.16), 0.22, 0.32, facecolor="none",
            edgecolor=colour, lw=1.5, boxstyle="round,pad=0.01"))
        ax.text(x, y + 0.08, title, ha="center", va="center", fontsize=10,
                weight="bold")
        ax.text(x, y - 0.06, question, ha="center", va="center", fontsize=9)
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]:
        (xa, ya), (xb, yb) = steps[a][:2], steps[b][:2]
        if ya == yb:
            side = 0.12 * np.sign(xb - xa)
            start, end = (xa + side, ya), (xb - side, yb)
        else:
            start, end = (xa, ya - 0.17), (xb, yb + 0.17)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>",
                                     mutation_scale=14, color=COLORS[0],
                                     lw=1.5))
    ax.add_patch(FancyArrowPatch((0.58, 0.39), (0.42, 0.55),
                                 arrowstyle="-|>", mutation_scale=14,
                                 color=COLORS[3], lw=1.5, ls="--"))
    ax.text(0.515, 0.47, "sets the levers", ha="left", fontsize=9,
            color=COLORS[3])
    fig.tight_layout()
    return fig


save_figure(draw_drivetrain, "drivetrain")
# --8<-- [end:diagram]


def mean_std(column, policy, digits=4):
    values = wide[column][policy]
    return {"mean": round(float(values.mean()), digits),
            "std": round(float(values.std()), digits)}


features, shown, bought = experiment(np.random.default_rng(0))
policies = ("policy_1", "policy_2", "random")
i_double = int(np.argmin(abs(BUDGETS - 2 * BUDGET)))  # index of 20%
extra_1, extra_2 = wide["extra"]["policy_1"], wide["extra"]["policy_2"]
metrics = {
    "n_seeds": N_SEEDS,
    "n_customers": N_CUSTOMERS,
    "budget": BUDGET,
    "n_recommended": n_chosen,
    # seed 0's experiment, as an example
    "experiment_rate_shown": round(float(bought[shown].mean()), 4),
    "experiment_rate_not_shown": round(float(bought[~shown].mean()), 4),
    "extra_purchases": {p: mean_std("extra", p, 1) for p in policies},
    # policy 1 is policy 2's baseline: the usual recommender's question
    "baseline_extra_purchases_mean": round(float(extra_1.mean()), 1),
    "baseline_extra_purchases_std": round(float(extra_1.std()), 1),
    "buyers_among_recommended": {p: mean_std("buyers", p, 1)
                                 for p in policies},
    "anyway_among_recommended": {p: mean_std("anyway", p, 1)
                                 for p in policies},
    "auc_holdout": {p: mean_std("auc_holdout", p) for p in policies},
    "auc_caused": {p: mean_std("auc_caused", p) for p in policies},
    # positive: policy 1 "predicts better" on the randomised holdout ...
    "auc_gap": round(float((wide["auc_holdout"]["policy_1"]
                            - wide["auc_holdout"]["policy_2"]).mean()), 4),
    "policy_1_auc_wins": p1_auc_wins,
    # ... yet policy 2 causes this many times the extra purchases
    "uplift_ratio": round(float(extra_2.mean() / extra_1.mean()), 4),
    "policy_2_wins": p2_wins,
    "policy_1_beats_random": int((extra_1 > wide["extra"]["random"]).sum()),
    # exercise 1: the same rankings at twice the budget, from the curves
    "double_budget": 2 * BUDGET,
    "extra_purchases_double_budget": {
        p: round(float(np.mean(curves[p], axis=0)[i_double]), 1)
        for p in policies},
    "uplift_ratio_double_budget": round(float(
        np.mean(curves["policy_2"], axis=0)[i_double]
        / np.mean(curves["policy_1"], axis=0)[i_double]), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

# --8<-- [start:widget]
# Data for the page's budget slider: each policy's extra purchases at
# every budget from 1% to 100% of the customers, per seed, mean and std.
widget = {"budgets": BUDGETS.round(2).tolist(), "n_customers": N_CUSTOMERS,
          "n_seeds": N_SEEDS, "budget": BUDGET, "policies": []}
for policy in policies:
    values = np.array(curves[policy], dtype=float)  # (seeds, budgets)
    widget["policies"].append({
        "key": policy, "label": labels[policy],
        "mean": values.mean(axis=0).round(1).tolist(),
        "std": values.std(axis=0, ddof=1).round(1).tolist(),
        "runs": values.astype(int).tolist()})
(OUT / "widget_budget.json").write_text(
    json.dumps(widget, separators=(",", ":")) + "\n")
# --8<-- [end:widget]
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick auc_holdout.policy_1.mean > 0.65
# dlnotes: expect quick uplift_ratio >= 1.0
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full auc_holdout.policy_1.mean > 0.7
# dlnotes: expect full extra_purchases.policy_2.mean > 0
# dlnotes: expect full uplift_ratio >= 1.0
# dlnotes: timeout 200
