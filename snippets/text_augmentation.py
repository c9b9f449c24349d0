"""Does text augmentation help the docstring classifier?

The same docstrings, splits by file, bag of embeddings and settings as
text_classify.py (its corpus and token code is copied here, so this script
runs alone). Two versions of the model train side by side from the same
initial weights on the same batches: without augmentation, and with token
dropout (each token of a training text dropped with probability 0.1, drawn
afresh at every step). Five seeds each. The TF-IDF + logistic regression
baseline is text_classify.py's, on the same five splits; here only the
majority-class floor is recomputed (scikit-learn is left out to stay cheap).

Run it alone with `python text_augmentation.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/text_augmentation). DLNOTES_QUICK=1
uses fewer docstrings, epochs and seeds.
"""

# --8<-- [start:setup]
# The settings of text_classify.py, plus the augmentation and its rate,
# fixed before the runs (0.1 is the default rate of EDA's reference code).
import ast
import collections
import importlib.util
import json
import os
import random
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
LIBRARIES = ["matplotlib", "numpy", "pandas", "sklearn", "torch"]  # labels
PER_LIBRARY = 150 if QUICK else 800  # docstrings per library: balanced
MAX_CHARS = 300           # each text: the first 300 characters
MAX_FILE_BYTES = 100_000  # skip bigger source files (slow to parse)
PER_FILE = 15             # at most 15 docstrings from one source file
VALID_SHARE = 0.25        # share of each library's docstrings held out
MIN_COUNT = 2             # a word seen fewer times in training is <unk>
EMBED_DIM = 64
EPOCHS = 6 if QUICK else 8
BATCH_SIZE = 64
LEARNING_RATE = 1e-2
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one run per seed
SEED = 0                  # the corpus itself is read in one fixed order
# name: dropout rate; "none" is text_classify.py's model as it is
VARIANTS = {"none": 0.0, "token dropout": 0.1}
WINDOW = 3                # accuracy: the mean over the last 3 epochs

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/text_augmentation"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"text_augmentation.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
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
INKS = {"": "#1f1f1f", "-dark": "#e2e2e2"}  # suffix: text and axes colour


def save_figure(draw, name):
    """Draw the figure once per palette: name.png and name-dark.png.

    The PNG's Comment records the smallest text size, which the site's
    tests turn into on-screen pixels.
    """
    for suffix, ink in INKS.items():
        inks = dict.fromkeys(("text.color", "axes.labelcolor",
                              "axes.edgecolor", "xtick.color", "ytick.color"),
                             ink)
        with plt.rc_context({**STYLE, **inks}):
            fig = draw()
            fig.canvas.draw()
            smallest = min(t.get_fontsize() for t in fig.findobj(plt.Text)
                           if t.get_visible() and t.get_text())
            fig.savefig(OUT / f"{name}{suffix}.png", dpi=200, transparent=True,
                        metadata={"Comment": f"smallest-text-pt={smallest:g}"})
            plt.close(fig)
# --8<-- [end:style]


# --8<-- [start:corpus]
# The corpus and splits of text_classify.py, line for line: docstrings of
# five libraries, library names hidden, whole files held out per seed.
GIVEAWAYS = re.compile(
    r"\b(torch|pytorch|numpy|np|pandas|pd|matplotlib|mpl|pyplot|plt|"
    r"sklearn|scikit-learn|scikit)\b", re.IGNORECASE)


def source_files(library):
    """The library's .py files (not its tests), in a fixed shuffled order."""
    root = Path(importlib.util.find_spec(library).origin).parent
    files = sorted(p for p in root.rglob("*.py")
                   if not {"tests", "test", "testing"}
                   & set(p.relative_to(root).parts))
    random.Random(f"{SEED}-{library}").shuffle(files)
    return root, files


def definitions(body):
    """Functions and classes at module level and inside classes."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from definitions(node.body)


def docstrings(library, limit):
    """Up to `limit` distinct docstrings, as (file, text) pairs."""
    root, files = source_files(library)
    found, seen = [], set()
    for path in files:
        source = path.read_bytes()
        if len(source) > MAX_FILE_BYTES:
            continue
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        in_file = 0
        for node in definitions(tree.body):
            text = " ".join((ast.get_docstring(node) or "").split())
            text = GIVEAWAYS.sub("LIB", text[:MAX_CHARS])
            if len(text) >= 40 and text not in seen and in_file < PER_FILE:
                seen.add(text)
                in_file += 1
                found.append((str(path.relative_to(root.parent)), text))
        if len(found) >= limit:
            return found[:limit]
    return found


corpus = pd.DataFrame(
    [(library, file, text) for library in LIBRARIES
     for file, text in docstrings(library, PER_LIBRARY)],
    columns=["library", "file", "text"])


def split_by_file(seed):
    """True for validation rows: whole files, about VALID_SHARE per library."""
    valid = np.zeros(len(corpus), dtype=bool)
    for library, rows in corpus.groupby("library", sort=True):
        files = sorted(set(rows.file))
        random.Random(f"split-{seed}-{library}").shuffle(files)
        held, target = set(), VALID_SHARE * len(rows)
        sizes = rows.file.value_counts()
        for file in files:
            if sum(sizes[f] for f in held) >= target:
                break
            held.add(file)
        valid[rows.index[rows.file.isin(held)]] = True
    return valid


splits = [split_by_file(seed) for seed in SEEDS]
TOKEN = re.compile(r"[a-z_]+|\d+|[^\sa-z_\d]+")
tokens = [TOKEN.findall(text.lower()) for text in corpus.text]
every = sorted({t for doc in tokens for t in doc})
global_id = {t: i + 1 for i, t in enumerate(every)}  # 0 is <unk>
n_ids = len(every) + 1
labels = torch.tensor([LIBRARIES.index(lib) for lib in corpus.library])


def encode_seed(valid):
    """All texts of one split as one flat id tensor, with each text's start
    and length; words seen fewer than MIN_COUNT times in training -> 0."""
    counts = collections.Counter(
        t for doc, v in zip(tokens, valid, strict=True) if not v for t in doc)
    keep = {t for t, c in counts.items() if c >= MIN_COUNT}
    ids = [global_id[t] if t in keep else 0 for doc in tokens for t in doc]
    lengths = torch.tensor([len(doc) for doc in tokens])
    return torch.tensor(ids), lengths.cumsum(0) - lengths, lengths


encoded = [encode_seed(valid) for valid in splits]
train_rows = [np.flatnonzero(~v) for v in splits]
valid_rows = [np.flatnonzero(v) for v in splits]
print(f"{len(corpus)} docstrings; validation sizes per seed: "
      f"{[len(r) for r in valid_rows]}")
# --8<-- [end:corpus]


# --8<-- [start:augment]
# Token dropout on a batch of texts (flat ids; `text` numbers the text of
# each token). It draws afresh at every step, so no two epochs see the same
# version of a docstring; the label never changes.
def gather(k, rows):
    """Flat token ids of the given rows under seed k's vocabulary, the text
    number of each token, and each text's length."""
    flat, starts, lengths = encoded[k]
    rows = torch.as_tensor(rows)
    n = lengths[rows]
    text = torch.repeat_interleave(torch.arange(len(rows)), n)
    first = torch.repeat_interleave(n.cumsum(0) - n, n)
    where = torch.repeat_interleave(starts[rows], n)
    return flat[where + torch.arange(int(n.sum())) - first], text, n


def token_dropout(ids, text, n, rate, g):
    """Drop each token with probability `rate`; a text keeps at least its
    first token."""
    keep = torch.rand(len(ids), generator=g) >= rate
    empty = torch.bincount(text[keep], minlength=len(n)) == 0
    keep[(n.cumsum(0) - n)[empty]] = True
    return ids[keep], text[keep], torch.bincount(text[keep],
                                                 minlength=len(n))
# --8<-- [end:augment]


# --8<-- [start:model]
# text_classify.py's model: per run, an average of token vectors and one
# linear layer. Run m = variant * seeds + k owns its own rows of one table;
# every variant of seed k starts from seed k's weights of text_classify.py.
class BagsOfEmbeddings(nn.Module):
    """Per run: average a text's token vectors, one linear layer."""

    def __init__(self, n_models, vocab, dim, classes):
        super().__init__()
        self.embed = nn.EmbeddingBag(n_models * vocab, dim, mode="mean",
                                     sparse=True)
        self.weight = nn.Parameter(torch.randn(n_models, dim, classes)
                                   / dim ** 0.5)
        self.bias = nn.Parameter(torch.zeros(n_models, classes))

    def forward(self, ids, offsets, model_of_text):
        bags = self.embed(ids, offsets)               # (texts, dim)
        w = self.weight[model_of_text]                # (texts, dim, classes)
        return (bags[:, None] @ w)[:, 0] + self.bias[model_of_text]


S, V = len(SEEDS), len(VARIANTS)
torch.manual_seed(SEED)  # text_classify.py's initial weights, per seed
first = BagsOfEmbeddings(S, n_ids, EMBED_DIM, len(LIBRARIES))
model = BagsOfEmbeddings(V * S, n_ids, EMBED_DIM, len(LIBRARIES))
with torch.no_grad():  # ... copied to every variant
    model.embed.weight.copy_(first.embed.weight.repeat(V, 1))
    model.weight.copy_(first.weight.repeat(V, 1, 1))
del first
model = model.to(device)
loss_fn = nn.CrossEntropyLoss(reduction="none")

# text_classify.py's optimisers written out, the same updates: Adam on the
# table's rows a step used (SparseAdam), AdamW on the heads. (Written out,
# they spare torch.optim's import, which costs seconds.)
B1, B2, EPS, DECAY = 0.9, 0.999, 1e-8, 1e-2
params = [model.embed.weight, model.weight, model.bias]
moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]


def adam_step(t):
    """Step t (from 1) of every parameter, from its .grad."""
    bc1, bc2 = 1 - B1 ** t, 1 - B2 ** t
    with torch.no_grad():
        (m, v), table = moments[0], params[0]
        grad = table.grad.coalesce()  # sparse: only the rows used
        rows, g = grad.indices()[0], grad.values()
        m[rows] += (g - m[rows]) * (1 - B1)
        v[rows] += (g * g - v[rows]) * (1 - B2)
        table[rows] -= (LEARNING_RATE * bc2 ** 0.5 / bc1) * m[rows] / (
            v[rows].sqrt() + EPS)
        for p, (m, v) in zip(params[1:], moments[1:], strict=True):
            p.mul_(1 - LEARNING_RATE * DECAY)  # AdamW's decoupled decay
            m.lerp_(p.grad, 1 - B1)
            v.mul_(B2).addcmul_(p.grad, p.grad, value=1 - B2)
            p -= (LEARNING_RATE / bc1) * m / (v.sqrt() / bc2 ** 0.5 + EPS)
    for p in params:
        p.grad = None


# --8<-- [end:model]


# --8<-- [start:train]
# Each seed shuffles its training texts as text_classify.py does; both
# variants of a seed see the same batches, one of them with tokens dropped.
def batch_of(parts):
    """[(run, ids, text, n)] -> EmbeddingBag input and run of each text."""
    ids = torch.cat([i + m * n_ids for m, i, _, _ in parts])
    n = torch.cat([c for _, _, _, c in parts])
    which = torch.cat([torch.full((len(c),), m) for m, _, _, c in parts])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), n.cumsum(0)[:-1]])
    return ids.to(device), offsets.to(device), which.to(device)


def accuracies(rows_of):
    """Accuracy of every run (variants x seeds) on clean texts."""
    model.eval()
    out = np.zeros((V, S))
    with torch.no_grad():
        for k, rows in enumerate(rows_of):
            ids, text, n = gather(k, rows)
            parts = [(v * S + k, ids, text, n) for v in range(V)]
            logits = model(*batch_of(parts)).view(V, len(rows), -1)
            y = labels[rows].to(device)
            out[:, k] = (logits.argmax(-1) == y).float().mean(1).cpu().numpy()
    return out


shufflers = [torch.Generator().manual_seed(seed) for seed in SEEDS]
augmenters = [[torch.Generator().manual_seed(1000 * v + seed)
               for seed in SEEDS] for v in range(V)]
valid_history, t = [], 0
for epoch in range(EPOCHS):
    model.train()
    orders = [rows[torch.randperm(len(rows), generator=g).numpy()]
              for rows, g in zip(train_rows, shufflers, strict=True)]
    steps = max(len(o) for o in orders) // BATCH_SIZE + 1
    for step in range(steps):
        parts, ys = [], []
        for k, order in enumerate(orders):
            rows = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
            if len(rows) == 0:
                continue
            ids, text, n = gather(k, rows)
            for v, rate in enumerate(VARIANTS.values()):
                a = (token_dropout(ids, text, n, rate, augmenters[v][k])
                     if rate else (ids, text, n))
                parts.append((v * S + k, *a))
                ys.append(labels[rows])
        if not parts:
            continue
        ids, offsets, which = batch_of(parts)
        losses = loss_fn(model(ids, offsets, which), torch.cat(ys).to(device))
        count = torch.bincount(which, minlength=V * S).clamp(min=1)
        per_run = torch.zeros(V * S, device=device).index_add(
            0, which, losses) / count
        per_run.sum().backward()  # each run gets exactly its own gradient
        t += 1
        adam_step(t)
    if epoch >= EPOCHS - WINDOW:
        valid_history.append(accuracies(valid_rows))

valid_acc = np.mean(valid_history, axis=0)  # (variants, seeds)
train_acc = accuracies(train_rows)          # clean training texts, at the end
for name, acc in zip(VARIANTS, valid_acc, strict=True):
    print(f"{name}: validation accuracy per seed {acc.round(4)}")
# --8<-- [end:train]


# --8<-- [start:baseline]
# The floor: always answer the most frequent library of the training set.
# (The fair baseline, TF-IDF + logistic regression, is text_classify.py's.)
majority = [corpus.library.iloc[rows].value_counts().sort_index().idxmax()
            for rows in train_rows]
majority_acc = np.array([(corpus.library.iloc[rows] == m).mean()
                         for rows, m in zip(valid_rows, majority,
                                            strict=True)])
# --8<-- [end:baseline]

# --8<-- [start:report]
# Accuracy per run and variant, and the gain of the augmentation over the
# same seed without it (same split, starting weights and batches).
NAMES = list(VARIANTS)
gains = valid_acc[1:] - valid_acc[0]  # (augmentations, seeds)


def strip(ax, values, names, colors):
    """One row per name: a dot per run, a diamond with mean ± std."""
    for r, (acc, color) in enumerate(zip(values, colors, strict=True)):
        ax.plot(acc, np.full(len(acc), r), "o", ms=6, alpha=0.8,
                color=color)
        ax.errorbar(acc.mean(), r - 0.3, xerr=acc.std(), fmt="D",
                    color=color, capsize=4)
    ax.set(yticks=range(len(names)), yticklabels=names,
           ylim=(len(names) - 0.5, -0.7))
    ax.grid(axis="x")


def draw_accuracy():
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 4.4), layout="constrained",
        gridspec_kw={"height_ratios": [3, 2]})
    strip(top, valid_acc, NAMES, COLORS[:V])
    top.set_xlabel("validation accuracy (dots: one run each; "
                   "diamond: mean ± std)")
    top.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    strip(bottom, gains, NAMES[1:], COLORS[1:V])
    bottom.axvline(0, color=plt.rcParams["text.color"], lw=1)
    bottom.set_xlabel("gain over the same run without augmentation "
                      "(points)")
    bottom.xaxis.set_major_formatter(
        plt.FuncFormatter(lambda v, _: f"{100 * v:+.1f}"))
    return fig


save_figure(draw_accuracy, "accuracy")

table = pd.DataFrame({"seed": SEEDS,
                      **dict(zip(NAMES, valid_acc, strict=True)),
                      **{f"gain, {n}": g for n, g in zip(NAMES[1:], gains,
                                                          strict=True)}})
(OUT / "seeds.md").write_text(table.to_markdown(
    index=False, floatfmt=("g",) + (".3f",) * V + ("+.3f",) * (V - 1))
    + "\n")


def ms(values):
    return round(float(np.mean(values)), 4), round(float(np.std(values)), 4)


KEYS = {"none": "none", "token dropout": "dropout"}
metrics = {"n_seeds": S, "epochs": EPOCHS, "window": WINDOW,
           "n_train": int(len(train_rows[0])),
           "n_valid": int(len(valid_rows[0]))}
for v, name in enumerate(NAMES):
    key = KEYS[name]
    metrics[f"rate_{key}"] = VARIANTS[name]
    metrics[f"accuracy_{key}_mean"], metrics[f"accuracy_{key}_std"] = ms(
        valid_acc[v])
    metrics[f"train_accuracy_{key}_mean"] = ms(train_acc[v])[0]
    if v:
        gain = gains[v - 1]
        metrics[f"gain_{key}_mean"], metrics[f"gain_{key}_std"] = ms(gain)
        metrics[f"gain_{key}_min"] = round(float(gain.min()), 4)
        metrics[f"gain_{key}_max"] = round(float(gain.max()), 4)
        metrics[f"{key}_wins"] = int((gain > 0).sum())
        metrics[f"{key}_losses"] = int((gain < 0).sum())
metrics["baseline_majority_accuracy_mean"] = ms(majority_acc)[0]
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick accuracy_none_mean >= 0.38
# dlnotes: expect full n_seeds >= 5
# the models trained (text_classify.py's floor for the same model)
# dlnotes: expect full accuracy_none_mean >= 0.6
# dlnotes: expect full accuracy_dropout_mean >= 0.6
# the page calls the gain small next to the network's gap to the TF-IDF
# baseline (about 4 points): fail if the gain clearly grows past 3 points
# dlnotes: expect full gain_dropout_mean <= 0.03
# dlnotes: timeout 900
