"""Exercise solution: scripted mouse moves made more human, baseline only.

The generator of mouse_heatmaps.py with one change: scripted moves get a
random bow and 2-pixel jitter on every sample, waiting included. The six
summary statistics of a session and a logistic regression are fitted on
N_SEEDS splits, all six together and each one alone, to see which still
separate the classes. The CNN is not retrained here (it would cost ten
times as much). Run it alone with `python solution_jittery_scripts.py`;
outputs go to DLNOTES_OUT (default ./outputs/solution_jittery_scripts).
DLNOTES_QUICK=1 makes fewer sessions and runs.
"""

# --8<-- [start:setup]
# The same settings as mouse_heatmaps.py; NumPy only, so it runs in
# about a second.
import json
import os
import random
import sys
from pathlib import Path

import numpy as np

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SESSIONS_PER_CLASS = 200 if QUICK else 400
N_SEEDS = 2 if QUICK else 5  # independent runs: one split each
RATE_HZ = 60                # pointer position sampled 60 times per second
SCREEN = (1600, 1000)       # width, height in pixels
JITTER_PX = 2.0             # the scripts' new jitter, as the hand's tremor
VALID_FRACTION = 0.2
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_jittery_scripts"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_jittery_scripts.py: cannot write to {OUT}: "
             f"{err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
CLASSES = ["human-like", "scripted"]
rng = np.random.default_rng(SEED)
size = np.array(SCREEN, dtype=float)
# --8<-- [end:setup]


def human_move(start, end):
    """Curved path, speed up then down, overshoot and correction, jitter."""
    distance = np.linalg.norm(end - start)
    seconds = 0.25 + 0.12 * np.log2(1 + distance / 20) * rng.uniform(0.8, 1.3)
    overshoot = end + (end - start) * rng.uniform(0.03, 0.12)
    normal = np.array([start[1] - end[1], end[0] - start[0]]) / max(distance,
                                                                      1)
    side = rng.choice([-1, 1]) * rng.uniform(0.05, 0.3)
    bend = (start + overshoot) / 2 + normal * distance * side
    s = np.linspace(0, 1, max(int(seconds * RATE_HZ), 3))[:, None]
    s = 10 * s**3 - 15 * s**4 + 6 * s**5            # minimum-jerk profile
    path = ((1 - s) ** 2 * start + 2 * s * (1 - s) * bend
            + s**2 * overshoot)                      # a Bezier curve
    back = np.linspace(0, 1, int(rng.uniform(0.1, 0.25) * RATE_HZ))[:, None]
    correction = overshoot + (end - overshoot) * (3 * back**2 - 2 * back**3)
    wait = int(rng.uniform(0.1, 0.5) * RATE_HZ)
    dwell = end + np.cumsum(rng.normal(0, 1.0, (wait, 2)), axis=0)  # drift
    points = np.concatenate([path, correction, dwell])
    return points + rng.normal(0, 2.0, points.shape)    # hand tremor


# --8<-- [start:scripted]
# The only change to the generator: a script that bows its straight line
# (a parabola, as far off the line as a hand's curve) and adds jitter to
# every sample. Its speed stays constant and a third of its moves are
# still jumps.
def scripted_move(start, end, speed):
    """Bowed line at constant speed, or a jump; jitter everywhere."""
    if rng.random() < 0.3:
        path = end[None, :]                     # teleport: next sample there
    else:
        distance = np.linalg.norm(end - start)
        steps = max(int(distance / speed * RATE_HZ), 1)
        s = np.linspace(0, 1, steps + 1)[1:, None]
        normal = np.array([start[1] - end[1], end[0] - start[0]]) / max(
            distance, 1)
        bow = rng.choice([-1, 1]) * rng.uniform(0.05, 0.3) * distance
        path = start + (end - start) * s + normal * bow * 4 * s * (1 - s)
    dwell = end + np.zeros((int(rng.uniform(0.1, 0.5) * RATE_HZ), 2))
    points = np.concatenate([path, dwell])
    return points + rng.normal(0, JITTER_PX, points.shape)
# --8<-- [end:scripted]


def session(kind):
    """A pointer visiting 6 to 10 random targets (buttons, fields)."""
    targets = rng.uniform(0.05, 0.95, (rng.integers(6, 11), 2)) * size
    speed = rng.uniform(400, 1500)           # a script's speed, px per second
    moves = [human_move(a, b) if kind == "human-like"
             else scripted_move(a, b, speed)
             for a, b in zip(targets[:-1], targets[1:], strict=True)]
    return np.concatenate([targets[:1]] + moves)


trajectories = [session(kind) for kind in CLASSES
                for _ in range(SESSIONS_PER_CLASS)]
labels = np.repeat(np.arange(len(CLASSES)), SESSIONS_PER_CLASS)


def speeds(points):
    """Pointer speed between consecutive samples, pixels per second."""
    return np.linalg.norm(np.diff(points, axis=0), axis=1) * RATE_HZ


FEATURES = ["length", "mean_speed", "median_speed", "speed_std",
            "max_speed", "share_still"]


def summary(points):
    """The six summary statistics of mouse_heatmaps.py."""
    v = speeds(points)
    return [len(points) / RATE_HZ, v.mean(), np.median(v), v.std(), v.max(),
            (v < 30).mean()]                 # share of samples standing still


stats = np.array([summary(p) for p in trajectories])


def split(run):
    """Train and validation indices for one run, stratified by class."""
    order = np.random.default_rng(SEED + run).permutation(len(labels))
    n_valid = int(VALID_FRACTION * SESSIONS_PER_CLASS)
    valid = np.concatenate([order[labels[order] == c][:n_valid]
                            for c in range(len(CLASSES))])
    return np.setdiff1d(order, valid), np.sort(valid)


splits = [split(run) for run in range(N_SEEDS)]


# --8<-- [start:baseline]
# Logistic regression by Newton's method on standardised features, the
# same model as the page's baseline, once per split: all six numbers
# together, then each one alone.
def logistic_accuracy(x, y, train, valid, l2=1e-3, steps=25):
    """Validation accuracy of an L2-regularised logistic regression."""
    mean, std = x[train].mean(0), x[train].std(0) + 1e-9
    a = np.column_stack([np.ones(len(x)), (x - mean) / std])
    w = np.zeros(a.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(a[train] @ w, -30, 30)))
        grad = a[train].T @ (p - y[train]) / len(train) + l2 * w
        hess = (a[train].T * (p * (1 - p))) @ a[train] / len(train)
        w -= np.linalg.solve(hess + l2 * np.eye(len(w)), grad)
    return float(((a[valid] @ w > 0) == y[valid]).mean())


def over_runs(columns):
    return np.array([logistic_accuracy(stats[:, columns], labels, tr, va)
                     for tr, va in splits])


all_six = over_runs(list(range(len(FEATURES))))
alone = {name: over_runs([i]) for i, name in enumerate(FEATURES)}
print("all six:", all_six.round(3))
for name, acc in alone.items():
    print(f"{name:>12} alone: {acc.round(3)}")
# --8<-- [end:baseline]

still = {name.split("-")[0]: round(float(stats[labels == c, 5].mean()), 4)
         for c, name in enumerate(CLASSES)}
metrics = {
    "n_seeds": N_SEEDS,
    "sessions_per_class": SESSIONS_PER_CLASS,
    "jitter_px": JITTER_PX,
    "baseline_accuracy_mean": round(float(all_six.mean()), 4),
    "baseline_accuracy_std": round(float(all_six.std()), 4),
    "alone_mean": {k: round(float(v.mean()), 4) for k, v in alone.items()},
    "alone_std": {k: round(float(v.std()), 4) for k, v in alone.items()},
    "share_still": still,
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick baseline_accuracy_mean >= 0.6
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full baseline_accuracy_mean >= 0.6
# dlnotes: timeout 120
