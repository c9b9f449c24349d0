"""Generating text one character at a time: a small GRU language model trained on docstrings.

The corpus is the one text_classify.py builds: docstrings of matplotlib, numpy, pandas,
scikit-learn and torch, read from the installed source files with `ast`. The model learns to
predict the next character; it is compared with a unigram baseline (character frequencies).

Run it alone with `python text_generate.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/text_generate). DLNOTES_QUICK=1 uses less text and fewer steps.
"""
# dlnotes: expect quick valid_loss <= 3.1
# dlnotes: expect quick gain_over_unigram >= 0.2
# dlnotes: expect full gain_over_unigram >= 1.0
# dlnotes: expect full valid_loss <= 2.0
# dlnotes: expect full prefers_true <= 0.8
# dlnotes: timeout 300

# --8<-- [start:setup]
import ast
import collections
import importlib.util
import json
import math
import os
import random
import re
import sys
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
LIBRARIES = ["matplotlib", "numpy", "pandas", "sklearn", "torch"]
PER_LIBRARY = 100 if QUICK else 400  # docstrings per library
MAX_CHARS = 300           # the first 300 characters of each docstring
MAX_FILE_BYTES = 100_000  # skip bigger source files (slow to parse)
PER_FILE = 15             # at most 15 docstrings from one source file
VALID_SHARE = 0.25        # share of each library's docstrings (whole files) held out
VALID_CHARS = 20_000 if QUICK else 60_000  # validation text used for the loss
SEQ_LEN = 64              # characters per training window
BATCH_SIZE = 32
HIDDEN = 128
EMBED_DIM = 32
STEPS = 30 if QUICK else 400
LEARNING_RATE = 8e-3
TEMPERATURES = (0.5, 1.0)
SAMPLE_CHARS = 300 if QUICK else 1500
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/text_generate"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"text_generate.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# The corpus: the same docstrings as text_classify.py (same code, same seed, same split).
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


train_docs, valid_docs = [], []
for library in LIBRARIES:
    found = docstrings(library, PER_LIBRARY)
    valid_files = {file for file, _ in found[: round(VALID_SHARE * len(found))]}
    for file, text in found:
        (valid_docs if file in valid_files else train_docs).append(text)

# --8<-- [start:data]
# One long string per split; a newline ends each docstring. Rare characters become "?".
train_text = "".join(doc + "\n" for doc in train_docs)
valid_text = "".join(doc + "\n" for doc in valid_docs)[:VALID_CHARS]
counts = collections.Counter(train_text)
chars = sorted(c for c, n in counts.items() if n >= 5 and c != "?") + ["?"]
stoi = {c: i for i, c in enumerate(chars)}


def encode(text):
    return torch.tensor([stoi.get(c, stoi["?"]) for c in text])


train_ids, valid_ids = encode(train_text), encode(valid_text)
print(f"{len(chars)} characters; {len(train_ids):,} training and {len(valid_ids):,} "
      f"validation characters")
# --8<-- [end:data]

# --8<-- [start:baseline]
# Unigram baseline: predict every character with its frequency in the training text,
# whatever came before. Its loss is the cross-entropy of those frequencies on validation.
freq = torch.bincount(train_ids, minlength=len(chars)).float() + 1  # add-one smoothing
log_p = (freq / freq.sum()).log()
unigram_loss = -log_p[valid_ids].mean().item()
print(f"unigram baseline: {unigram_loss:.4f} nats per character")
# --8<-- [end:baseline]


# --8<-- [start:model]
class CharGRU(nn.Module):
    """Embed each character, run a GRU over the sequence, score every possible next one."""

    def __init__(self, vocab, dim, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.gru(self.embed(x), state)
        return self.head(out), state


model = CharGRU(len(chars), EMBED_DIM, HIDDEN).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
loss_fn = nn.CrossEntropyLoss()
# --8<-- [end:model]


# --8<-- [start:train]
def validation_loss(ids, length=256):
    """Mean next-character loss over the validation text, cut into windows of `length`."""
    model.eval()
    usable = (len(ids) - 1) // length * length
    x = ids[:usable].view(-1, length).to(device)
    y = ids[1:usable + 1].view(-1, length).to(device)
    with torch.no_grad():
        logits, _ = model(x)
        return loss_fn(logits.reshape(-1, len(chars)), y.reshape(-1)).item()


generator = torch.Generator().manual_seed(SEED)
history = []
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=STEPS)
for step in range(1, STEPS + 1):
    model.train()
    starts = torch.randint(len(train_ids) - SEQ_LEN - 1, (BATCH_SIZE,), generator=generator)
    window = torch.stack([train_ids[s:s + SEQ_LEN + 1] for s in starts.tolist()]).to(device)
    logits, _ = model(window[:, :-1])                     # predict character t+1 from 0..t
    loss = loss_fn(logits.reshape(-1, len(chars)), window[:, 1:].reshape(-1))
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    if step % (STEPS // 5) == 0 or step == 1:
        history.append({"step": step, "train_loss": loss.item(),
                        "valid_loss": validation_loss(valid_ids)})
        print(f"step {step}: train loss {loss.item():.4f}  "
              f"valid loss {history[-1]['valid_loss']:.4f}")
# --8<-- [end:train]


# --8<-- [start:sample]
def sample(prompt, n, temperature, seed):
    """Continue `prompt` for n characters, drawing each from softmax(logits / temperature)."""
    model.eval()
    draw = torch.Generator().manual_seed(seed)
    ids = encode(prompt).unsqueeze(0).to(device)
    text = prompt
    with torch.no_grad():
        logits, state = model(ids)
        for _ in range(n):
            probs = (logits[0, -1] / temperature).softmax(0).cpu()
            nxt = torch.multinomial(probs, 1, generator=draw).item()
            text += chars[nxt]
            logits, state = model(torch.tensor([[nxt]], device=device), state)
    return text


samples = {t: sample("Return the ", SAMPLE_CHARS, t, SEED) for t in TEMPERATURES}
# --8<-- [end:sample]

# --8<-- [start:fluent]
# Fluent is not correct. (1) Fluency: how many of the generated words are real words of the
# corpus? (2) Correctness: take validation docstrings, swap one word for its opposite
# ("True" <-> "False", "rows" <-> "columns", ...) and ask which version the model finds more
# likely. A model that knew what is true would prefer the original nearly every time.
corpus_words = set(re.findall(r"[A-Za-z]+", train_text))
real_words = {}
for t in TEMPERATURES:
    words = re.findall(r"[A-Za-z]{3,}", samples[t][len("Return the "):])
    real_words[t] = sum(w in corpus_words for w in words) / max(len(words), 1)

OPPOSITES = dict([("True", "False"), ("min", "max"), ("minimum", "maximum"),
                  ("first", "last"), ("row", "column"), ("rows", "columns"),
                  ("before", "after"), ("lower", "upper"), ("input", "output"),
                  ("left", "right"), ("start", "end"), ("smaller", "larger"),
                  ("positive", "negative"), ("ascending", "descending"),
                  ("width", "height"), ("inner", "outer"), ("always", "never")])
OPPOSITES.update({b: a for a, b in list(OPPOSITES.items())})
SWAP = re.compile(r"\b(" + "|".join(sorted(OPPOSITES)) + r")\b")


def log_likelihood(texts):
    """Total log-probability the model gives each text (newline-terminated), one per text."""
    model.eval()
    ids = [encode("\n" + t + "\n") for t in texts]
    x = nn.utils.rnn.pad_sequence(ids, batch_first=True).to(device)
    with torch.no_grad():
        logp = model(x[:, :-1])[0].log_softmax(-1).gather(2, x[:, 1:, None])[..., 0]
    mask = torch.arange(x.shape[1] - 1)[None, :] < torch.tensor([len(i) - 1 for i in ids])[:, None]
    return (logp.cpu() * mask).sum(1)


originals = [d for d in valid_docs if SWAP.search(d)]
swapped = [SWAP.sub(lambda m: OPPOSITES[m.group(0)], d, count=1) for d in originals]
true_ll, false_ll = log_likelihood(originals), log_likelihood(swapped)
prefers_true = (true_ll > false_ll).float().mean().item()
# the shortest pair where the model finds the false version more likely (if there is one)
fooled = [i for i in range(len(originals)) if false_ll[i] > true_ll[i]] or [0]
example = min(fooled, key=lambda i: (len(originals[i]), i))
print(f"real words: {real_words}; prefers the true docstring in {prefers_true:.1%} "
      f"of {len(originals)} pairs")
# --8<-- [end:fluent]

# --8<-- [start:report]
with open(OUT / "samples.md", "w") as f:
    for t in TEMPERATURES:
        # the first 600 characters, wrapped to 76 columns, a blank line between docstrings
        shown = "\n\n".join(textwrap.fill(doc, 76) for doc in samples[t][:600].split("\n"))
        fence = "`" * max(3, 1 + max(map(len, re.findall("`+", shown)), default=0))
        f.write(f'=== "temperature {t}"\n\n    {fence}text\n')
        for line in shown.split("\n"):
            f.write(f"    {line}\n" if line else "\n")
        f.write(f"    {fence}\n\n")

table = pd.DataFrame(history)
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(table.step, table.train_loss, "o-", label="training batch loss")
ax.plot(table.step, table.valid_loss, "s-", label="validation loss (GRU)")
ax.axhline(unigram_loss, color="gray", ls="--", label="unigram baseline (validation)")
ax.set(xlabel="training step (batch of 32 windows)", ylabel="cross-entropy (nats per character)",
       title="Next-character prediction on docstrings", ylim=(0, None))
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "losses.png", dpi=110)
plt.close(fig)

pairs = pd.DataFrame({"version": ["original (true)", "one word swapped (false)"],
                      "docstring": [d.replace("|", "\\|").replace("<", "&lt;")
                                    for d in (originals[example], swapped[example])],
                      "log-probability (model)": [true_ll[example].item(),
                                                  false_ll[example].item()]})
(OUT / "swap_example.md").write_text(pairs.to_markdown(index=False, floatfmt=".1f") + "\n")

valid_loss = history[-1]["valid_loss"]
metrics = {
    "n_chars": len(chars),
    "n_train_chars": len(train_ids),
    "n_valid_chars": len(valid_ids),
    "steps": STEPS,
    "hidden": HIDDEN,
    "seq_len": SEQ_LEN,
    "unigram_loss": round(unigram_loss, 4),
    "valid_loss": round(valid_loss, 4),
    "gain_over_unigram": round(unigram_loss - valid_loss, 4),
    "unigram_perplexity": round(math.exp(unigram_loss), 4),
    "perplexity": round(math.exp(valid_loss), 4),
    "real_words_low_t": round(real_words[TEMPERATURES[0]], 4),
    "real_words_high_t": round(real_words[TEMPERATURES[1]], 4),
    "low_t": TEMPERATURES[0],
    "high_t": TEMPERATURES[1],
    "swap_pairs": len(originals),
    "prefers_true": round(prefers_true, 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
