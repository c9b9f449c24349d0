"""Solutions to the text page's exercises 1 and 2, run on the baseline.

The texts are the ones text_classify.py reads: docstrings of the installed
matplotlib, numpy, pandas, scikit-learn and torch, parsed with `ast` from
their source files (nothing is imported or downloaded); the label is the
library. The page's fair baseline (TF-IDF of words and word pairs, then
logistic regression, C tuned the page's way) is refitted on N_SEEDS splits
per variant: exercise 1 leaves the library names in the text, exercise 2
splits docstrings at random instead of by file. The page's network is not
retrained here: it costs several times this script's budget.

Run it alone with `python solution_text.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/solution_text). DLNOTES_QUICK=1 uses
fewer docstrings and seeds.
"""

# --8<-- [start:setup]
# The page's corpus settings; the variants are the only change.
import ast
import importlib.util
import json
import os
import random
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
LIBRARIES = ["matplotlib", "numpy", "pandas", "sklearn", "torch"]  # labels
PER_LIBRARY = 100 if QUICK else 400  # docstrings per library (page: 800)
MAX_CHARS = 300           # each text: the first 300 characters
MAX_FILE_BYTES = 100_000  # skip bigger source files (slow to parse)
PER_FILE = 15             # at most 15 docstrings from one source file
VALID_SHARE = 0.25        # share of each library's docstrings held out
C_GRID = [1.0, 10.0, 100.0]
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one split per seed
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_text"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_text.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
# --8<-- [end:setup]


# The page's corpus code, with the name-hiding pattern as an argument.
GIVEAWAYS = re.compile(
    r"\b(torch|pytorch|numpy|np|pandas|pd|matplotlib|mpl|pyplot|plt|"
    r"sklearn|scikit-learn|scikit)\b", re.IGNORECASE)
NOTHING = re.compile("(?!)")  # exercise 1: a pattern that matches nothing


def source_files(library):
    """The library's .py files (not its tests), in a fixed shuffled order."""
    root = Path(importlib.util.find_spec(library).origin).parent
    files = sorted(p for p in root.rglob("*.py")
                   if not {"tests", "test", "testing"}
                   & set(p.relative_to(root).parts))
    random.Random(f"{SEED}-{library}").shuffle(files)
    return root, files


def definitions(body):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from definitions(node.body)


PARSED = {}  # path -> its raw docstrings: each file is parsed once


def raw_docstrings(path):
    if path not in PARSED:
        source = path.read_bytes()
        try:
            tree = (ast.parse(source) if len(source) <= MAX_FILE_BYTES
                    else ast.Module(body=[], type_ignores=[]))
        except (SyntaxError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        PARSED[path] = [" ".join((ast.get_docstring(node) or "").split())
                        for node in definitions(tree.body)]
    return PARSED[path]


def docstrings(library, limit, giveaways):
    """The page's selection: up to `limit` distinct docstrings."""
    root, files = source_files(library)
    found, seen = [], set()
    for path in files:
        in_file = 0
        for text in raw_docstrings(path):
            text = giveaways.sub("LIB", text[:MAX_CHARS])
            if len(text) >= 40 and text not in seen and in_file < PER_FILE:
                seen.add(text)
                in_file += 1
                found.append((str(path.relative_to(root.parent)), text))
        if len(found) >= limit:
            return found[:limit]
    return found


def corpus_of(giveaways):
    return pd.DataFrame(
        [(library, file, text) for library in LIBRARIES
         for file, text in docstrings(library, PER_LIBRARY, giveaways)],
        columns=["library", "file", "text"])


def split_by_file(corpus, seed):
    """The page's split: whole files, about VALID_SHARE per library."""
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


TOKEN = re.compile(r"[a-z_]+|\d+|[^\sa-z_\d]+")


def words_and_pairs(text):
    """The page's features: its tokens, plus neighbouring word pairs."""
    doc = TOKEN.findall(text.lower())
    return doc + [f"{a} {b}" for a, b in zip(doc[:-1], doc[1:], strict=True)]


def tfidf_right(train, valid, c):
    """The page's baseline: fit on `train`; right or wrong on `valid`."""
    tfidf = TfidfVectorizer(analyzer=words_and_pairs, min_df=2,
                            sublinear_tf=True)
    fit = LogisticRegression(C=c, max_iter=1000, tol=1e-3)
    fit.fit(tfidf.fit_transform(train.text), train.library)
    return fit.predict(tfidf.transform(valid.text)) == valid.library.values


def tfidf_accuracy(train, valid, c):
    return float(tfidf_right(train, valid, c).mean())


def tuned_c(corpus, train_rows):
    """The page's tuning: a fifth of seed 0's training files held out."""
    tune = corpus.iloc[train_rows]
    files = sorted(set(tune.file))
    random.Random(f"tune-{SEED}").shuffle(files)
    held = tune.file.isin(files[:len(files) // 5])
    scores = {c: tfidf_accuracy(tune[~held], tune[held], c) for c in C_GRID}
    return max(C_GRID, key=lambda c: (scores[c], -c))  # ties: smaller C


# --8<-- [start:variants]
# Exercise 1: the same corpus code with a pattern that matches nothing, so
# the names stay in. Exercise 2: per seed, a random split of docstrings of
# the same size as that seed's split by file. Each variant tunes C the
# page's way and refits on every seed's split.
corpora = {"hidden": corpus_of(GIVEAWAYS), "names_in": corpus_of(NOTHING)}
hidden = corpora["hidden"]
named = {"hidden": hidden.text.str.contains("LIB").values,  # named one
         "names_in": corpora["names_in"].text.str.contains(GIVEAWAYS).values}
splits = {name: [split_by_file(c, s) for s in SEEDS]
          for name, c in corpora.items()}


def random_split(valid, seed):
    """As many validation rows as `valid`, drawn at random."""
    order = np.random.default_rng(seed).permutation(len(valid))
    out = np.zeros(len(valid), dtype=bool)
    out[order[:valid.sum()]] = True
    return out


runs = {  # variant: (corpus, per-seed validation masks)
    "by_file": (hidden, splits["hidden"]),                 # the page's
    "names_in": (corpora["names_in"], splits["names_in"]),  # exercise 1
    "random_split": (hidden, [random_split(v, s) for v, s in  # exercise 2
                              zip(splits["hidden"], SEEDS, strict=True)]),
}
accuracy, chosen_c, on_named = {}, {}, {}
for name, (corpus, valids) in runs.items():
    chosen_c[name] = tuned_c(corpus, np.flatnonzero(~valids[0]))
    right = [tfidf_right(corpus[~v], corpus[v], chosen_c[name])
             for v in valids]
    accuracy[name] = np.array([r.mean() for r in right])
    # exercise 1: accuracy on the validation docstrings that name a library
    flags = named["names_in" if name == "names_in" else "hidden"]
    on_named[name] = np.array([r[flags[v]].mean() for r, v in
                               zip(right, valids, strict=True)])
    print(f"{name}: C = {chosen_c[name]:g}, accuracy per seed "
          f"{accuracy[name].round(4)}")
# --8<-- [end:variants]


# --8<-- [start:report]
# Per-seed differences against the page's setting (same seeds), the share
# of docstrings whose name was hidden, and the floor (majority class).
def mean_std(values):
    return {"mean": round(float(np.mean(values)), 4),
            "std": round(float(np.std(values)), 4)}


majority = np.array([(hidden.library[v] == hidden.library[~v].value_counts()
                      .sort_index().idxmax()).mean()
                     for v in splits["hidden"]])
gain = {name: accuracy[name] - accuracy["by_file"]
        for name in ("names_in", "random_split")}
metrics = {
    "n_seeds": len(SEEDS),
    "n_docstrings": len(hidden),
    "n_valid_mean": round(float(np.mean([v.sum()
                                         for v in splits["hidden"]])), 1),
    "baseline_c": chosen_c,
    "baseline_accuracy": {k: mean_std(v) for k, v in accuracy.items()},
    "baseline_gain": {k: mean_std(v) for k, v in gain.items()},
    "baseline_wins": {k: int((v > 0).sum()) for k, v in gain.items()},
    "baseline_losses": {k: int((v < 0).sum()) for k, v in gain.items()},
    "baseline_majority_accuracy": mean_std(majority),
    "baseline_accuracy_named": {k: mean_std(on_named[k])
                                for k in ("by_file", "names_in")},
    "hidden_name_share": round(float(named["hidden"].mean()), 4),
    "hidden_name_share_by_library": {
        lib: round(float(share), 4) for lib, share in pd.Series(
            named["hidden"]).groupby(hidden.library).mean().items()},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick baseline_accuracy.by_file.mean >= 0.3
# dlnotes: expect quick baseline_accuracy.names_in.mean >= 0.3
# dlnotes: expect full n_seeds >= 5
# every variant trained: well above the majority class (20%)
# dlnotes: expect full baseline_accuracy.by_file.mean >= 0.5
# dlnotes: expect full baseline_accuracy.names_in.mean >= 0.5
# dlnotes: expect full baseline_accuracy.random_split.mean >= 0.5
