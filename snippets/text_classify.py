"""Which library wrote this docstring? A bag-of-embeddings text classifier in PyTorch.

The texts are real English: docstrings of the Python libraries installed next to this script
(matplotlib, numpy, pandas, scikit-learn, torch), read from their source files with `ast`
(nothing is imported, nothing is downloaded). The label is the library a docstring comes from.

Run it alone with `python text_classify.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/text_classify). DLNOTES_QUICK=1 uses fewer docstrings and epochs.
"""
# dlnotes: expect quick accuracy >= 0.38
# dlnotes: expect quick gain_over_baseline >= 0.15
# dlnotes: expect full accuracy >= 0.6
# dlnotes: expect full gain_over_baseline >= 0.3
# dlnotes: timeout 300

# --8<-- [start:setup]
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
LIBRARIES = ["matplotlib", "numpy", "pandas", "sklearn", "torch"]  # the five labels
PER_LIBRARY = 150 if QUICK else 800  # docstrings kept per library: balanced classes
MAX_CHARS = 300          # each text: the first 300 characters of a docstring
MAX_FILE_BYTES = 100_000  # skip bigger source files (slow to parse)
PER_FILE = 15           # at most 15 docstrings from one source file
VALID_SHARE = 0.25      # share of each library's docstrings held out for validation
MIN_COUNT = 2            # a word seen fewer times in training becomes <unk>
EMBED_DIM = 64
EPOCHS = 12 if QUICK else 20
BATCH_SIZE = 32
LEARNING_RATE = 5e-3
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/text_classify"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"text_classify.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:corpus]
# The names of the libraries would give the answer away: hide them.
GIVEAWAYS = re.compile(r"\b(torch|pytorch|numpy|np|pandas|pd|matplotlib|mpl|pyplot|plt|"
                       r"sklearn|scikit-learn|scikit)\b", re.IGNORECASE)


def source_files(library):
    """The library's .py files (not its tests), sorted, then shuffled with a fixed seed."""
    root = Path(importlib.util.find_spec(library).origin).parent  # finds it, does not import it
    files = sorted(p for p in root.rglob("*.py")
                   if not {"tests", "test", "testing"} & set(p.relative_to(root).parts))
    random.Random(f"{SEED}-{library}").shuffle(files)
    return root, files


def definitions(body):
    """Functions and classes at module level and inside classes (function bodies are skipped)."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node
            if isinstance(node, ast.ClassDef):
                yield from definitions(node.body)


def docstrings(library, limit):
    """Up to `limit` distinct docstrings of functions and classes, as (file, text) pairs."""
    root, files = source_files(library)
    found, seen = [], set()
    for path in files:
        source = path.read_bytes()
        if len(source) > MAX_FILE_BYTES:
            continue  # parsing the biggest files costs the most time
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue  # a file written for a newer Python than this one
        in_file = 0
        for node in definitions(tree.body):
            text = " ".join((ast.get_docstring(node) or "").split())[:MAX_CHARS]
            text = GIVEAWAYS.sub("LIB", text)
            if len(text) >= 40 and text not in seen and in_file < PER_FILE:
                seen.add(text)
                in_file += 1
                found.append((str(path.relative_to(root.parent)), text))
        if len(found) >= limit:
            return found[:limit]
    return found


rows = []
for library in LIBRARIES:
    found = docstrings(library, PER_LIBRARY)
    # Split by source file: the first files (in their shuffled order) hold the validation
    # docstrings, so the model is judged on files it never saw, and every library has about
    # the same number of validation docstrings.
    valid_files = {file for file, _ in found[: round(VALID_SHARE * len(found))]}
    rows += [(library, file, text, file in valid_files) for file, text in found]
corpus = pd.DataFrame(rows, columns=["library", "file", "text", "valid"])
print(corpus.groupby(["library", "valid"]).size().unstack())
# --8<-- [end:corpus]

# --8<-- [start:tokens]
TOKEN = re.compile(r"[a-z_]+|\d+|[^\sa-z_\d]+")


def tokenize(text):
    return TOKEN.findall(text.lower())


train, valid = corpus[~corpus.valid], corpus[corpus.valid]
counts = collections.Counter(t for text in train.text for t in tokenize(text))
vocab = ["<unk>"] + sorted(t for t, c in counts.items() if c >= MIN_COUNT)
index = {t: i for i, t in enumerate(vocab)}


def encode(texts):
    """Token ids of every text, flattened, plus where each text starts (EmbeddingBag's format)."""
    ids = [[index.get(t, 0) for t in tokenize(text)] for text in texts]
    offsets = torch.tensor([0] + [len(x) for x in ids[:-1]]).cumsum(0)
    return torch.tensor([i for x in ids for i in x]), offsets


y_train = torch.tensor([LIBRARIES.index(lib) for lib in train.library])
y_valid = torch.tensor([LIBRARIES.index(lib) for lib in valid.library])
print(f"{len(vocab)} tokens in the vocabulary; {len(train)} training and "
      f"{len(valid)} validation docstrings")
# --8<-- [end:tokens]


# --8<-- [start:model]
class BagOfEmbeddings(nn.Module):
    """Average the embeddings of a text's tokens, then one linear layer scores each library."""

    def __init__(self, vocab_size, dim, classes):
        super().__init__()
        self.embed = nn.EmbeddingBag(vocab_size, dim, mode="mean")
        self.head = nn.Linear(dim, classes)

    def forward(self, ids, offsets):
        return self.head(self.embed(ids, offsets))


model = BagOfEmbeddings(len(vocab), EMBED_DIM, len(LIBRARIES)).to(device)
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-2)
loss_fn = nn.CrossEntropyLoss()
# --8<-- [end:model]


# --8<-- [start:train]
def predict(texts):
    model.eval()
    with torch.no_grad():
        ids, offsets = encode(texts)
        return model(ids.to(device), offsets.to(device)).softmax(dim=1).cpu()


train_texts = list(train.text)
generator = torch.Generator().manual_seed(SEED)
for epoch in range(EPOCHS):
    model.train()
    total = 0.0
    for batch in torch.randperm(len(train_texts), generator=generator).split(BATCH_SIZE):
        ids, offsets = encode([train_texts[i] for i in batch])
        loss = loss_fn(model(ids.to(device), offsets.to(device)), y_train[batch].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    accuracy = (predict(valid.text).argmax(1) == y_valid).float().mean().item()
    print(f"epoch {epoch}: train loss {total / len(train_texts):.4f}  "
          f"valid accuracy {accuracy:.4f}")
# --8<-- [end:train]

# --8<-- [start:baseline]
majority = collections.Counter(train.library).most_common(1)[0][0]  # the most frequent label
baseline_accuracy = (valid.library == majority).mean()
probs = predict(valid.text)
predicted = probs.argmax(1)
accuracy = (predicted == y_valid).float().mean().item()
print(f"majority class '{majority}': {baseline_accuracy:.4f}; model: {accuracy:.4f}")
# --8<-- [end:baseline]

# --8<-- [start:report]
k = len(LIBRARIES)
confusion = np.zeros((k, k), dtype=int)
for true, pred in zip(y_valid.tolist(), predicted.tolist(), strict=True):
    confusion[true, pred] += 1

fig, ax = plt.subplots(figsize=(5.6, 4.8))
ax.imshow(confusion, cmap="Blues")
for i in range(k):
    for j in range(k):
        ax.text(j, i, confusion[i, j], ha="center", va="center",
                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
ax.set(xticks=range(k), yticks=range(k), xticklabels=LIBRARIES, yticklabels=LIBRARIES,
       xlabel="predicted library", ylabel="true library",
       title=f"Validation docstrings (accuracy {accuracy:.1%})")
fig.tight_layout()
fig.savefig(OUT / "confusion.png", dpi=110)
plt.close(fig)

per_class = pd.DataFrame({
    "library": LIBRARIES,
    "validation docstrings": confusion.sum(1),
    "recall (found)": confusion.diagonal() / confusion.sum(1),
    "precision (right when it says so)": confusion.diagonal() / confusion.sum(0).clip(1),
})
(OUT / "per_class.md").write_text(per_class.to_markdown(index=False, floatfmt=".3f") + "\n")

valid = valid.assign(predicted=[LIBRARIES[i] for i in predicted],
                     confidence=probs.max(1).values.numpy())
wrong = valid[valid.library != valid.predicted].sort_values(["confidence", "file"],
                                                            ascending=[False, True])


def clip(texts, n):
    """At most n characters of each text, made safe for a Markdown table cell."""
    return [(t if len(t) <= n else t[:n] + "…").replace("|", "\\|").replace("<", "&lt;")
            for t in texts]


shown = wrong.head(6).assign(text=lambda d: clip(d.text, 160))
shown = shown[["text", "library", "predicted", "confidence"]].rename(
    columns={"library": "true library", "predicted": "model says"})
(OUT / "misclassified.md").write_text(shown.to_markdown(index=False, floatfmt=".2f") + "\n")
corpus.to_csv(OUT / "corpus.csv", index=False)

sample = corpus.groupby("library").head(1)[["library", "text"]]
sample = sample.assign(text=clip(sample.text, 120))
(OUT / "examples.md").write_text(sample.to_markdown(index=False) + "\n")

metrics = {
    "n_libraries": k,
    "n_train": len(train),
    "n_valid": len(valid),
    "n_files": int(corpus.file.nunique()),
    "n_valid_files": int(corpus[corpus.valid].file.nunique()),
    "vocab_size": len(vocab),
    "epochs": EPOCHS,
    "majority_class": majority,
    "baseline_accuracy": round(float(baseline_accuracy), 4),
    "accuracy": round(accuracy, 4),
    "gain_over_baseline": round(accuracy - float(baseline_accuracy), 4),
    "n_wrong": int(len(wrong)),
    "wrong_confident": int((wrong.confidence > 0.9).sum()),
    "recall": dict(zip(LIBRARIES, per_class.iloc[:, 2].round(4).tolist(), strict=True)),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
