"""Finding mentions: which words of a docstring name one of its parameters?

The texts are real English: numpydoc-style docstrings of the libraries
installed next to this script (matplotlib, numpy, pandas, scikit-learn,
scipy), read from their source files with `ast` (nothing is imported). The
labels come from each docstring's own "Parameters" section: a token is a
mention when it is exactly one of the names that section lists. The input
is the rest of the docstring's prose (summary, description, the
descriptions of the parameters and return values, notes) with the lines
that list the names removed, so the tagger never sees the list it is graded
against. Five seeds, each with its own split by file, initialisation and
batch order, train side by side; the baseline is exact string matching
against the parameter names of the training docstrings, tuned on training
files.

Run it alone with `python mentions.py`; outputs go to the folder DLNOTES_OUT
names (default ./outputs/mentions). DLNOTES_QUICK=1 uses fewer docstrings,
epochs and seeds.
"""

# --8<-- [start:setup]
# Settings first, so that every number on the page can be traced to one line.
import ast
import collections
import importlib.util
import json
import os
import random
import re
import sys
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
LIBRARIES = ["matplotlib", "numpy", "pandas", "sklearn", "scipy"]
PER_LIBRARY = 30 if QUICK else 160  # docstrings per library
PER_FILE = 8              # at most 8 docstrings from one source file
MAX_FILE_BYTES = 100_000  # skip bigger source files (slow to parse)
MAX_TOKENS = 120          # the first 120 tokens of each docstring's prose
TEST_SHARE = 0.25         # share of each library's docstrings held out
MIN_COUNT = 2             # a word seen fewer times in training is <unk>
BUCKETS = 2048            # hashed first/last 3 characters, per seed
WORD_DIM, CHAR_DIM, SHAPE_DIM = 16, 8, 4
HIDDEN = 24               # channels of the two convolutions
KERNEL = 5                # each convolution reads 5 tokens
EPOCHS = 2 if QUICK else 10
BATCH_SIZE = 32           # docstrings per step and per seed
LEARNING_RATE = 1e-2
THRESHOLDS = np.round(np.arange(0.05, 0.91, 0.05), 2)  # tuned per seed
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one run per seed
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/mentions"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"mentions.py: cannot write outputs to {OUT}: {err.strerror}")

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
# A numpydoc docstring is made of sections under dashed headers. The names
# listed in "Parameters" are the labels; the lines that list them (and the
# names of return values) are cut out, the prose stays. Code examples and
# references are dropped.
HEADER = re.compile(r"^([A-Z][A-Za-z ]*)\n-{3,}[ \t]*$", re.MULTILINE)
NAMES = re.compile(r"\*{0,2}[A-Za-z_]\w*(\s*,\s*\*{0,2}[A-Za-z_]\w*)*"
                   r"\s*(:.*)?")
DROPPED = {"Examples", "Example", "See Also", "References"}
LISTS = {"Parameters", "Other Parameters", "Returns", "Yields", "Raises",
         "Warns", "Warnings", "Attributes", "Receives"}
TOKEN = re.compile(r"[A-Za-z_]\w*|\d+|\S")  # names, numbers, one symbol
# Parameters called `a`, `i` or `by` make every article "a" a "mention":
# English function words are left out of the grading (label -1).
FUNCTION_WORDS = {
    "a", "an", "the", "this", "that", "these", "those", "it", "its", "is",
    "are", "be", "been", "was", "were", "has", "have", "had", "do", "does",
    "of", "to", "in", "on", "at", "by", "for", "from", "with", "as", "into",
    "onto", "over", "under", "about", "than", "then", "or", "and", "nor",
    "but", "not", "no", "if", "so", "all", "any", "each", "both", "either",
    "some", "such", "only", "also", "i", "we", "you", "he", "she", "they",
    "them"}


def prose_and_names(doc):
    """(prose tokens, parameter names) of one numpydoc docstring."""
    parts = HEADER.split(doc)
    sections = [("Summary", parts[0])] + list(zip(parts[1::2], parts[2::2],
                                                  strict=True))
    names, prose = set(), []
    for title, body in sections:
        if title in DROPPED:
            continue
        for line in body.split("\n"):
            listed = title in LISTS and line[:1].strip()
            if listed and "Parameters" in title and NAMES.fullmatch(line):
                names.update(n.strip().lstrip("*")
                             for n in line.split(":")[0].split(","))
            if not listed:  # a line that lists names is not prose
                prose.append(line)
    return TOKEN.findall(" ".join(prose))[:MAX_TOKENS], names


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
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from definitions(node.body)


def docstrings(library, limit):
    """Up to `limit` (file, tokens, names) triples with a Parameters list."""
    root, files = source_files(library)
    found, seen = [], set()
    for path in files:
        source = path.read_bytes()
        if len(source) > MAX_FILE_BYTES or b"\n    Parameters\n" not in source:
            continue  # no numpydoc docstring inside: skip the parse
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        in_file = 0
        for node in definitions(tree.body):
            doc = ast.get_docstring(node) or ""
            if "Parameters\n---" not in doc or doc in seen:
                continue
            tokens, names = prose_and_names(doc)
            if names and len(tokens) >= 12 and in_file < PER_FILE:
                seen.add(doc)
                in_file += 1
                found.append((str(path.relative_to(root.parent)), tokens,
                              sorted(names)))
        if len(found) >= limit:
            return found[:limit]
    return found


corpus = pd.DataFrame(
    [(library, file, tokens, names) for library in LIBRARIES
     for file, tokens, names in docstrings(library, PER_LIBRARY)],
    columns=["library", "file", "tokens", "names"])
corpus["labels"] = [[-1 if t.lower() in FUNCTION_WORDS else int(t in names)
                     for t in tokens]
                    for tokens, names in zip(corpus.tokens, corpus.names,
                                             strict=True)]
labelled = corpus.labels.explode().astype(int)
n_tokens = int((labelled >= 0).sum())
n_mentions = int((labelled == 1).sum())
n_ignored = int((labelled < 0).sum())
print(f"{len(corpus)} docstrings from {corpus.file.nunique()} files: "
      f"{n_tokens} graded tokens, {n_mentions} of them mentions "
      f"({n_ignored} function words not graded)")
# --8<-- [end:corpus]

# --8<-- [start:split]
# Whole files are held out: docstrings of one file share parameter names,
# so a random split would let the model memorise the answers.


def split_by_file(seed, rows=None, share=TEST_SHARE):
    """True for held-out rows: whole files, about `share` per library."""
    rows = corpus if rows is None else rows
    held_out = np.zeros(len(rows), dtype=bool)
    for library, part in rows.reset_index(drop=True).groupby("library"):
        files = sorted(set(part.file))
        random.Random(f"split-{seed}-{library}").shuffle(files)
        sizes, held = part.file.value_counts(), set()
        for file in files:
            if sum(sizes[f] for f in held) >= share * len(part):
                break
            held.add(file)
        held_out[part.index[part.file.isin(held)]] = True
    return held_out


splits = [split_by_file(seed) for seed in SEEDS]
train_rows = [np.flatnonzero(~s) for s in splits]
test_rows = [np.flatnonzero(s) for s in splits]
# a fifth of each seed's training files tunes the one knob of each method
tuning = [split_by_file(1000 + s, corpus.iloc[r], share=0.2)
          for s, r in zip(SEEDS, train_rows, strict=True)]
fit_rows = [r[~t] for r, t in zip(train_rows, tuning, strict=True)]
tune_rows = [r[t] for r, t in zip(train_rows, tuning, strict=True)]
print(f"test docstrings per seed: {[len(r) for r in test_rows]}")
# --8<-- [end:split]


# --8<-- [start:baseline]
# The baseline: a gazetteer. Every name listed as a parameter in training
# docstrings at least `min_count` times, matched exactly, anywhere (or,
# the second option, only between backticks). Both settings are tuned on a
# fifth of each seed's training files, then the gazetteer takes them all.
def gazetteer(rows, min_count):
    counts = collections.Counter(n for names in corpus.names.iloc[rows]
                                 for n in names)
    return {n for n, c in counts.items() if c >= min_count}


def in_backticks(tokens, i):
    return 0 < i < len(tokens) - 1 and tokens[i - 1] == tokens[i + 1] == "`"


def match(rows, names, ticks_only):
    """Predicted labels (one list per docstring) of exact matching."""
    return [[int(t in names and (not ticks_only or in_backticks(toks, i)))
             for i, t in enumerate(toks)] for toks in corpus.tokens.iloc[rows]]


def scores(rows, predicted):
    """Token-level precision, recall and F1 of the mentions."""
    truth = np.concatenate([corpus.labels.iloc[r] for r in rows])
    return prf(truth, np.concatenate(predicted).astype(bool))


def prf(truth, guess):
    guess = guess & (truth >= 0)  # function words are not graded
    hits = (guess & (truth == 1)).sum()
    precision = hits / max(guess.sum(), 1)
    recall = hits / max((truth == 1).sum(), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return np.array([precision, recall, f1])


GRID = [(c, ticks) for c in (1, 2, 3, 5, 10) for ticks in (False, True)]


def tuned_baseline(k):
    fit, tune = fit_rows[k], tune_rows[k]
    f1 = {g: scores(tune, match(tune, gazetteer(fit, g[0]), g[1]))[2]
          for g in GRID}
    best = max(GRID, key=lambda g: (f1[g], g[0]))  # ties: the bigger count
    names = gazetteer(train_rows[k], best[0])
    predicted = match(test_rows[k], names, best[1])
    return best, names, predicted, scores(test_rows[k], predicted)


baselines = [tuned_baseline(k) for k in range(len(SEEDS))]
baseline_scores = np.array([b[3] for b in baselines])
print(f"gazetteer (min count, backticks only) per seed: "
      f"{[b[0] for b in baselines]}; precision, recall, F1:\n"
      f"{baseline_scores.round(3)}")
# --8<-- [end:baseline]


# --8<-- [start:features]
# What the tagger sees of each token: the word itself (case kept; a word
# seen fewer than MIN_COUNT times in the seed's training text is <unk>),
# its first and last three characters, hashed into buckets (an unseen
# `n_neighbors` still starts like `n_components`), and its shape.
# Punctuation, backticks included, is tokens like any other.
every = sorted({t for toks in corpus.tokens for t in toks})
type_id = {t: i + 1 for i, t in enumerate(every)}  # 0: padding
n_types = len(every) + 1


def shape(t):
    """0 padding, 1 symbol, 2 number, 3 has _, 4 lower, 5 Upper, 6 other."""
    if not (t[0].isalnum() or t[0] == "_"):
        return 1
    return (2 if t.isdigit() else 3 if "_" in t else 4 if t.islower()
            else 5 if t[:1].isupper() and t[1:].islower() else 6)


def bucket(text):
    return zlib.crc32(text.encode()) % BUCKETS  # a fixed hash


type_shape = torch.tensor([0] + [shape(t) for t in every])
type_prefix = torch.tensor([0] + [bucket(f"<{t[:3]}") for t in every])
type_suffix = torch.tensor([0] + [bucket(f"{t[-3:]}>") for t in every])


def vocabulary(rows):
    """Per type: its word id for one seed (0 = <unk> when rare)."""
    counts = collections.Counter(type_id[t] for toks in corpus.tokens.iloc[rows]
                                 for t in toks)
    kept = sorted(t for t, c in counts.items() if c >= MIN_COUNT)
    word = torch.zeros(n_types, dtype=torch.long)
    word[kept] = torch.arange(1, len(kept) + 1)
    return word


word_of_type = torch.stack([vocabulary(rows) for rows in train_rows])
n_words = int(word_of_type.max()) + 1
ids = [torch.tensor([type_id[t] for t in toks]) for toks in corpus.tokens]
ys = [torch.tensor(lab, dtype=torch.float32) for lab in corpus.labels]
print(f"vocabulary per seed: {(word_of_type > 0).sum(1).tolist()} words")
# --8<-- [end:features]


# --8<-- [start:model]
# A token tagger: features per token, two 1-D convolutions over the
# sequence (each token's score reads the 4 tokens either side), one logit
# per token. The seeds' models train side by side: each owns its rows of
# the embedding tables and its slice of every weight (a leading run
# dimension), so their gradients never mix.
class Tagger(nn.Module):
    def __init__(self, runs):
        super().__init__()
        dim = WORD_DIM + 2 * CHAR_DIM + SHAPE_DIM
        self.words = nn.Embedding(runs * n_words, WORD_DIM)
        self.chars = nn.Embedding(runs * BUCKETS, CHAR_DIM)
        self.shapes = nn.Embedding(runs * 7, SHAPE_DIM)
        self.conv1 = nn.Parameter(torch.randn(runs, KERNEL * dim, HIDDEN)
                                  / (KERNEL * dim) ** 0.5)
        self.conv2 = nn.Parameter(torch.randn(runs, KERNEL * HIDDEN, HIDDEN)
                                  / (KERNEL * HIDDEN) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(2, runs, 1, 1, HIDDEN))
        self.out = nn.Parameter(torch.randn(runs, HIDDEN, 1) / HIDDEN ** 0.5)
        self.out_bias = nn.Parameter(torch.zeros(runs, 1, 1))

    @staticmethod
    def conv(x, weight, bias):
        """A 1-D convolution per run: (runs, batch, length, channels)."""
        n, half = x.shape[2], KERNEL // 2
        x = F.pad(x, (0, 0, half, half))       # zeros before and after
        windows = torch.cat([x[:, :, i:i + n] for i in range(KERNEL)], -1)
        return torch.einsum("rbnk,rkh->rbnh", windows, weight) + bias

    def forward(self, types):
        """types: (runs, batch, length) type ids -> (runs, batch, length)."""
        run = torch.arange(types.shape[0], device=types.device)[:, None, None]
        x = torch.cat([
            self.words(word_of_type[run, types] + run * n_words),
            self.chars(type_prefix[types] + run * BUCKETS),
            self.chars(type_suffix[types] + run * BUCKETS),
            self.shapes(type_shape[types] + run * 7)], -1)
        x = F.relu(self.conv(x, self.conv1, self.bias[0]))
        x = F.relu(self.conv(x, self.conv2, self.bias[1]))
        return (torch.einsum("rbnh,rho->rbno", x, self.out)[..., 0]
                + self.out_bias)


torch.manual_seed(SEED)
model = Tagger(len(SEEDS)).to(device)
word_of_type, type_shape = word_of_type.to(device), type_shape.to(device)
type_prefix, type_suffix = type_prefix.to(device), type_suffix.to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
# --8<-- [end:model]


# --8<-- [start:train]
# Each seed shuffles its own training docstrings; a step takes the next
# batch of every seed, pads them to one length and sums the seeds' mean
# losses over real tokens (padding does not count).
def pad(rows_per_run):
    """(runs, batch, length) type ids and labels, and the padding mask."""
    n = max(len(ids[r]) for rows in rows_per_run for r in rows)
    types = torch.zeros(len(rows_per_run), len(rows_per_run[0]), n,
                        dtype=torch.long)
    labels = torch.zeros(types.shape)
    for k, rows in enumerate(rows_per_run):
        for j, r in enumerate(rows):
            types[k, j, :len(ids[r])] = ids[r]
            labels[k, j, :len(ids[r])] = ys[r]
    return types.to(device), labels.to(device), (types > 0).to(device)


shufflers = [torch.Generator().manual_seed(seed) for seed in SEEDS]
steps = min(len(r) for r in fit_rows) // BATCH_SIZE
for epoch in range(EPOCHS):
    model.train()
    orders = [rows[torch.randperm(len(rows), generator=g).numpy()]
              for rows, g in zip(fit_rows, shufflers, strict=True)]
    total = 0.0
    for step in range(steps):
        batch = [o[step * BATCH_SIZE:(step + 1) * BATCH_SIZE] for o in orders]
        types, labels, real = pad(batch)
        real = real & (labels >= 0)  # padding, function words: no loss
        losses = F.binary_cross_entropy_with_logits(
            model(types), labels.clamp(min=0), reduction="none") * real
        loss = (losses.sum((1, 2)) / real.sum((1, 2))).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() / len(SEEDS)
    print(f"epoch {epoch + 1}: training loss {total / steps:.4f}")


def probabilities(k, rows):
    """Seed k's probability of a mention, per token, per docstring."""
    model.eval()
    with torch.no_grad():
        others = [rows] * len(SEEDS)  # every run reads the same docstrings
        types, _, _ = pad(others)
        p = torch.sigmoid(model(types))[k].cpu()
    return [p[j, :len(ids[r])] for j, r in enumerate(rows)]


def cut(probs, threshold):
    return [(q > threshold).int().tolist() for q in probs]


# the threshold: the best F1 on the seed's tuning files (held out of its
# training), as the gazetteer's settings were chosen
def tuned_threshold(k):
    p = torch.cat(probabilities(k, tune_rows[k])).numpy()
    truth = np.concatenate([corpus.labels.iloc[r] for r in tune_rows[k]])
    f1 = {t: prf(truth, p > t)[2] for t in THRESHOLDS}
    return max(THRESHOLDS, key=lambda t: (f1[t], -abs(t - 0.5)))


thresholds = [tuned_threshold(k) for k in range(len(SEEDS))]
tagged = []
for k, rows in enumerate(test_rows):
    probs = probabilities(k, rows)
    tagged.append((cut(probs, thresholds[k]), probs))
model_scores = np.array([scores(test_rows[k], tagged[k][0])
                         for k in range(len(SEEDS))])
print(f"tagger precision, recall, F1 per seed:\n{model_scores.round(3)}")
# --8<-- [end:train]

# --8<-- [start:report]
# Win counts, recall on names no training docstring listed, figures,
# tables and the tagger's mistakes in the first run's test docstrings.
wins = (model_scores > baseline_scores).sum(0)


def recall_on_new_names(k, predicted):
    """Recall on the mentions of names never listed in training."""
    known = gazetteer(train_rows[k], 1)
    hit = total = 0
    for r, guess in zip(test_rows[k], predicted, strict=True):
        for t, y, g in zip(corpus.tokens[r], corpus.labels[r], guess,
                           strict=True):
            if y == 1 and t not in known:
                total += 1
                hit += g
    return hit / max(total, 1), total


def recall_in_markup(k, predicted):
    """Recall on mentions next to markup (` or *) and on bare ones."""
    hit, total = np.zeros(2), np.zeros(2)
    for r, guess in zip(test_rows[k], predicted, strict=True):
        toks = corpus.tokens[r]
        for i, (y, g) in enumerate(zip(corpus.labels[r], guess, strict=True)):
            if y == 1:
                bare = int(not (i and toks[i - 1] in "`*"))
                total[bare] += 1
                hit[bare] += g
    return hit / total.clip(1), total[0] / total.sum()


markup = np.array([[*recall_in_markup(k, tagged[k][0])[0],
                    *recall_in_markup(k, baselines[k][2])[0],
                    recall_in_markup(k, tagged[k][0])[1]]
                   for k in range(len(SEEDS))])
# the exercise: a gazetteer of every training name (minimum count 1)
every_name = np.array([scores(test_rows[k], match(
    test_rows[k], gazetteer(train_rows[k], 1), False))
    for k in range(len(SEEDS))])
new = np.array([[*recall_on_new_names(k, tagged[k][0]),
                 recall_on_new_names(k, baselines[k][2])[0]]
                for k in range(len(SEEDS))])
all_test_mentions = np.array([sum(corpus.labels[r].count(1) for r in rows)
                              for rows in test_rows])
new_share = new[:, 1] / all_test_mentions
METRICS = ["precision", "recall", "F1"]


def draw_seeds():
    fig, ax = plt.subplots(figsize=(6.4, 3.4), layout="constrained")
    methods = [("tagger", model_scores), ("gazetteer", baseline_scores)]
    for m in range(len(METRICS)):
        for j, (name, values) in enumerate(methods):
            row, v = 3 * m + j, values[:, m]
            ax.plot(v, np.full(len(v), row), "o", ms=6, alpha=0.8,
                    color=COLORS[j], label=name if m == 0 else None)
            ax.errorbar(v.mean(), row - 0.35, xerr=v.std(), fmt="D",
                        color=COLORS[j], capsize=4)
    ax.set(yticks=[0.5, 3.5, 6.5], yticklabels=METRICS, ylim=(8, -1),
           xlabel="test tokens (dots: one run each; diamond: mean ± std)")
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.grid(axis="x")
    ax.legend(loc="lower right")
    return fig


save_figure(draw_seeds, "seeds")

seeds_table = pd.DataFrame({
    "seed": SEEDS,
    "test docstrings": [len(r) for r in test_rows],
    "test mentions": all_test_mentions,
    **{f"tagger {m}": model_scores[:, i] for i, m in enumerate(METRICS)},
    **{f"gazetteer {m}": baseline_scores[:, i] for i, m in enumerate(METRICS)},
    "gazetteer min count": [b[0][0] for b in baselines],
    "backticks only": ["yes" if b[0][1] else "no" for b in baselines],
})
(OUT / "seeds.md").write_text(seeds_table.to_markdown(
    index=False, floatfmt=("g", "g", "g") + (".3f",) * 6) + "\n")


def cell(text):
    return text.replace("|", "\\|").replace("<", "&lt;").replace("*", "\\*")


def window(tokens, i, width=9):
    """The tokens around position i, with token i marked."""
    lo, hi = max(0, i - width), min(len(tokens), i + width + 1)
    shown = [cell(t) for t in tokens[lo:hi]]
    shown[i - lo] = f"<mark>{shown[i - lo]}</mark>"
    return (("… " if lo else "") + " ".join(shown)
            + (" …" if hi < len(tokens) else ""))


def listed(names, first):
    """At most six names, `first` leading when it is one of them."""
    names = sorted(names, key=lambda n: n != first)
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "")


mistakes = []
guesses, probs = tagged[0]
for r, guess, p in zip(test_rows[0], guesses, probs, strict=True):
    toks, labs = corpus.tokens[r], corpus.labels[r]
    for i, (y, g) in enumerate(zip(labs, guess, strict=True)):
        if y >= 0 and y != g:
            mistakes.append({
                "kind": "false mention" if g else "miss",
                "p": float(p[i]), "token": toks[i],
                "text": window(toks, i),
                "parameters": listed(corpus.names[r], toks[i]),
                "row": int(r)})
mistakes = pd.DataFrame(mistakes)
false_mentions = mistakes[mistakes.kind == "false mention"]
misses = mistakes[mistakes.kind == "miss"]
# the surest false mentions and the surest misses, one per docstring
shown = pd.concat([
    false_mentions.sort_values("p", ascending=False)
    .drop_duplicates("row").drop_duplicates("token").head(4),
    misses.sort_values("p").drop_duplicates("row")
    .drop_duplicates("token").head(4)])
shown = shown.assign(p=shown.p.map(lambda v: f"{v:.2f}"))[
    ["kind", "text", "p", "parameters"]].rename(columns={
        "kind": "mistake", "text": "text (the marked token)",
        "p": "tagger's p", "parameters": "the function's parameters"})
(OUT / "mistakes.md").write_text(
    shown.to_markdown(index=False, disable_numparse=True) + "\n")

example = corpus.iloc[test_rows[0][0]]
marked = " ".join(f"<mark>{cell(t)}</mark>" if y == 1 else cell(t) for t, y in
                  zip(example.tokens[:40], example.labels[:40], strict=True))
(OUT / "example.md").write_text(pd.DataFrame({
    "parameters (hidden from the tagger)": [", ".join(example.names)],
    "prose (labelled mentions marked)": [marked + " …"]}).to_markdown(
        index=False) + "\n")

gain = model_scores - baseline_scores
metrics = {
    "n_seeds": len(SEEDS),
    "n_docstrings": len(corpus),
    "n_files": int(corpus.file.nunique()),
    "n_tokens": n_tokens,
    "n_mentions": n_mentions,
    "mention_share": round(n_mentions / n_tokens, 4),
    "n_test_seed0": len(test_rows[0]),
    "n_test_mentions_mean": round(float(all_test_mentions.mean()), 1),
    "epochs": EPOCHS,
    "vocab_size": int((word_of_type[0] > 0).sum()),
    "baseline_min_count": [int(b[0][0]) for b in baselines],
    "baseline_backticks_only": [bool(b[0][1]) for b in baselines],
    "baseline_min_count_min": int(min(b[0][0] for b in baselines)),
    "baseline_min_count_max": int(max(b[0][0] for b in baselines)),
    "baseline_backticks_only_runs": int(sum(b[0][1] for b in baselines)),
    "thresholds": [float(t) for t in thresholds],
    "threshold_min": float(min(thresholds)),
    "threshold_max": float(max(thresholds)),
    "n_test_mean": round(float(np.mean([len(r) for r in test_rows])), 1),
    "n_fit_seed0": len(fit_rows[0]),
    "n_tune_seed0": len(tune_rows[0]),
    "baseline_gazetteer_size_seed0": len(baselines[0][1]),
    "new_name_share_mean": round(float(new_share.mean()), 4),
    "recall_new_names_mean": round(float(new[:, 0].mean()), 4),
    "recall_new_names_std": round(float(new[:, 0].std()), 4),
    "baseline_recall_new_names_mean": round(float(new[:, 2].mean()), 4),
    "n_false_mentions_seed0": int(len(false_mentions)),
    "n_function_words": len(FUNCTION_WORDS),
    "markup_share_mean": round(float(markup[:, 4].mean()), 4),
    "recall_markup_gain": round(float((markup[:, 0] - markup[:, 2]).mean()), 4),
    "recall_bare_gain": round(float((markup[:, 1] - markup[:, 3]).mean()), 4),
    "recall_markup_gain_std": round(float(
        (markup[:, 0] - markup[:, 2]).std()), 4),
    "recall_bare_gain_std": round(float(
        (markup[:, 1] - markup[:, 3]).std()), 4),
    "model_wins_recall_markup": int((markup[:, 0] > markup[:, 2]).sum()),
    "baseline_wins_recall_bare": int((markup[:, 3] > markup[:, 1]).sum()),
    "recall_markup_mean": round(float(markup[:, 0].mean()), 4),
    "recall_bare_mean": round(float(markup[:, 1].mean()), 4),
    "baseline_recall_markup_mean": round(float(markup[:, 2].mean()), 4),
    "baseline_recall_bare_mean": round(float(markup[:, 3].mean()), 4),
    "every_name_precision_mean": round(float(every_name[:, 0].mean()), 4),
    "every_name_recall_mean": round(float(every_name[:, 1].mean()), 4),
    "every_name_f1_mean": round(float(every_name[:, 2].mean()), 4),
    "every_name_higher_recall_runs": int(
        (every_name[:, 1] > baseline_scores[:, 1]).sum()),
    "every_name_lower_precision_runs": int(
        (every_name[:, 0] < baseline_scores[:, 0]).sum()),
    "every_name_lower_f1_runs": int(
        (every_name[:, 2] < baseline_scores[:, 2]).sum()),
    "recall_ceiling_mean": round(float(1 - new_share.mean()), 4),
    "n_misses_seed0": int(len(misses)),
}
for i, m in enumerate(["precision", "recall", "f1"]):
    metrics |= {
        f"{m}_mean": round(float(model_scores[:, i].mean()), 4),
        f"{m}_std": round(float(model_scores[:, i].std()), 4),
        f"baseline_{m}_mean": round(float(baseline_scores[:, i].mean()), 4),
        f"baseline_{m}_std": round(float(baseline_scores[:, i].std()), 4),
        f"gain_{m}_mean": round(float(gain[:, i].mean()), 4),
        f"gain_{m}_std": round(float(gain[:, i].std()), 4),
        f"model_wins_{m}": int(wins[i]),
    }
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick n_mentions >= 100
# dlnotes: expect quick baseline_f1_mean >= 0.1
# dlnotes: expect quick f1_mean >= 0
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full n_mentions >= 1000
# dlnotes: expect full f1_mean >= 0.3
# dlnotes: expect full baseline_f1_mean >= 0.2
# dlnotes: expect full precision_mean >= 0.2
# dlnotes: expect full recall_mean >= 0.3
# the page says the tagger finds some names no training docstring listed
# (the gazetteer none, by construction), and reads its F1 gain from the
# numbers: fail only on a clear reversal
# dlnotes: expect full recall_new_names_mean >= 0.1
# dlnotes: expect full gain_f1_mean >= -0.03
# the page says the tagger learned the markup cue, and that on bare words
# the gazetteer does at least as well: fail on clear reversals
# dlnotes: expect full recall_markup_gain >= 0.1
# dlnotes: expect full recall_bare_gain <= 0.03
# the page says the tuned cut sits far below one half, and the exercise
# that the tuning chose a minimum count above 1
# dlnotes: expect full threshold_max <= 0.35
# dlnotes: expect full baseline_min_count_min >= 2
