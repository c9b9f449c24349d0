"""Protein chains as language: tokenise amino-acid sequences and train a small sequence model.

A few real, well-known short sequences (written below with their UniProt / PDB entries) show
the tokenisation. The training data are GENERATED sequences: random chains with, or without,
a hydrophobic stretch long enough to cross a cell membrane. The label follows Kyte and
Doolittle's rule (1982): some window of 19 residues has a mean hydropathy of at least 1.6.
A 1-D CNN on learned token embeddings learns the rule; we then look at what the embeddings learned.

Run it alone with `python protein_sequences.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/protein_sequences). DLNOTES_QUICK=1 uses fewer sequences and epochs.
"""
# dlnotes: expect quick accuracy >= 0.75
# dlnotes: expect quick gain_over_baseline >= 0.2
# dlnotes: expect full accuracy >= 0.9
# dlnotes: expect full gain_over_baseline >= 0.3
# dlnotes: expect full embedding_hydropathy_r >= 0.8
# dlnotes: expect full wrong_near_threshold >= 0.7
# dlnotes: timeout 300

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
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_TRAIN = 1000 if QUICK else 4000   # generated sequences
N_VALID = 500 if QUICK else 1000
LENGTHS = (30, 90)                  # generated chain lengths (residues)
WINDOW = 19                         # Kyte-Doolittle: a membrane-crossing helix is ~19 residues
THRESHOLD = 1.6                     # mean hydropathy over the window that flags a TM segment
NEAR = 0.25                         # "close to the threshold": within 0.25 of it
EMBED_DIM = 2                       # 2 numbers per amino acid: we can plot them directly
CHANNELS = 16
EPOCHS = 6 if QUICK else 12
BATCH_SIZE = 64
LEARNING_RATE = 1e-2
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/protein_sequences"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"protein_sequences.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:real]
# Real sequences (one-letter code), from UniProt (uniprot.org) and the Protein Data Bank.
REAL = [
    ("Oxytocin (human)", "UniProt P01178", "CYIQNCPLG"),
    ("Substance P (human)", "UniProt P20366", "RPKPQQFFGLM"),
    ("Insulin A chain (human)", "UniProt P01308", "GIVEQCCTSICSLYQLENYCN"),
    ("Melittin (honeybee venom)", "UniProt P01501", "GIGAVLKVLTTGLPALISWIKRKRQQ"),
    ("Glucagon (human)", "UniProt P01275", "HSQGTFTSDYSKYLDSRRAQDFVQWLMNT"),
    ("Insulin B chain (human)", "UniProt P01308", "FVNQHLCGSHLVEALYLVCGERGFFYTPKT"),
    ("Glycophorin A, membrane-crossing segment (human)", "UniProt P02724, PDB 1AFO",
     "EPEITLIIFGVMAGVIGTILLISYGIRRLIKK"),
    ("Amyloid beta 1-42 (human)", "UniProt P05067, residues 672-713",
     "DAEFRHDSGYEVHHQKLVFFAEDVGSNKGAIIGLMVGGVVIA"),
]
# --8<-- [end:real]

# --8<-- [start:tokens]
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"           # the 20 standard residues
TOKEN = {aa: i + 1 for i, aa in enumerate(AMINO_ACIDS)}  # 0 is kept for padding


def tokenize(sequence):
    return [TOKEN[aa] for aa in sequence]


def batch_of(sequences):
    """Token ids padded with 0 to the longest sequence (and to at least one window)."""
    width = max(WINDOW, *(len(s) for s in sequences))
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    for row, s in enumerate(sequences):
        ids[row, :len(s)] = torch.tensor(tokenize(s))
    return ids


tokens = pd.DataFrame([{"protein": name, "sequence": seq[:12] + ("…" if len(seq) > 12 else ""),
                        "tokens": " ".join(map(str, tokenize(seq)[:12]))
                                  + (" …" if len(seq) > 12 else ""),
                        "length": len(seq)} for name, _, seq in REAL])
# --8<-- [end:tokens]

# --8<-- [start:generate]
# Kyte-Doolittle hydropathy: positive = avoids water (oily), negative = likes water.
HYDROPATHY = {"A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5,
              "G": -0.4, "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8,
              "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2}
# Approximate frequency (%) of each residue in natural proteins: the background of a chain.
BACKGROUND = {"A": 8.3, "R": 5.5, "N": 4.1, "D": 5.5, "C": 1.4, "Q": 3.9, "E": 6.8, "G": 7.1,
              "H": 2.3, "I": 5.9, "L": 9.7, "K": 5.8, "M": 2.4, "F": 3.9, "P": 4.7, "S": 6.6,
              "T": 5.3, "W": 1.1, "Y": 2.9, "V": 6.9}
OILY = "LIVFAMGC"  # residues a membrane-crossing stretch is mostly made of


def window_means(sequence):
    """Mean hydropathy of every window of WINDOW consecutive residues."""
    h = np.array([HYDROPATHY[aa] for aa in sequence])
    return np.convolve(h, np.ones(WINDOW) / WINDOW, mode="valid") if len(h) >= WINDOW else h[:0]


def has_tm_stretch(sequence):
    return bool((window_means(sequence) >= THRESHOLD).any())


def generate(n, rng):
    """Random chains; a third carry a long oily stretch, a third a short one (a decoy)."""
    aa, weights = list(BACKGROUND), np.array(list(BACKGROUND.values()))
    sequences = []
    for i in range(n):
        length = int(rng.integers(*LENGTHS))
        chain = rng.choice(aa, size=length, p=weights / weights.sum())
        kind = i % 3                                  # 0: none, 1: decoy, 2: long stretch
        if kind:
            span = int(rng.integers(16, 25) if kind == 2 else rng.integers(6, 14))
            start = int(rng.integers(0, length - span))
            oily = rng.choice(list(OILY), size=span)
            keep = rng.random(span) < 0.15            # a few polar residues stay in it
            chain[start:start + span] = np.where(keep, chain[start:start + span], oily)
        sequences.append("".join(chain))
    return sequences, torch.tensor([has_tm_stretch(s) for s in sequences], dtype=torch.long)


rng = np.random.default_rng(SEED)
train_seqs, y_train = generate(N_TRAIN, rng)
valid_seqs, y_valid = generate(N_VALID, rng)
print(f"{N_TRAIN} training and {N_VALID} validation chains; "
      f"{y_train.float().mean():.1%} of the training chains carry a TM-like stretch")
# --8<-- [end:generate]


# --8<-- [start:model]
class SequenceCNN(nn.Module):
    """Embed each residue, slide WINDOW-wide filters along the chain, keep each filter's maximum."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(len(AMINO_ACIDS) + 1, EMBED_DIM, padding_idx=0)
        self.conv = nn.Conv1d(EMBED_DIM, CHANNELS, kernel_size=WINDOW)
        self.head = nn.Linear(CHANNELS, 2)

    def forward(self, ids):
        x = self.embed(ids).transpose(1, 2)          # (batch, EMBED_DIM, length)
        x = torch.relu(self.conv(x))                 # (batch, CHANNELS, windows)
        return self.head(x.max(dim=2).values)        # strongest window per filter


model = SequenceCNN().to(device)
initial_embeddings = model.embed.weight.detach().cpu()[1:].clone()
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
loss_fn = nn.CrossEntropyLoss()
# --8<-- [end:model]


# --8<-- [start:train]
def predict(sequences):
    model.eval()
    with torch.no_grad():
        return model(batch_of(sequences).to(device)).softmax(1)[:, 1].cpu()


x_train = batch_of(train_seqs)
generator = torch.Generator().manual_seed(SEED)
for epoch in range(EPOCHS):
    model.train()
    for batch in torch.randperm(N_TRAIN, generator=generator).split(BATCH_SIZE):
        loss = loss_fn(model(x_train[batch].to(device)), y_train[batch].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = ((predict(valid_seqs) > 0.5).long() == y_valid).float().mean().item()
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}  valid accuracy {accuracy:.4f}")

majority = int(y_train.float().mean() >= 0.5)
baseline_accuracy = (y_valid == majority).float().mean().item()
print(f"majority-class baseline: {baseline_accuracy:.4f}")
# --8<-- [end:train]


# --8<-- [start:embeddings]
def hydropathy_r(embeddings):
    """How well a straight line through the embedding space predicts hydropathy (R)."""
    kd = np.array([HYDROPATHY[aa] for aa in AMINO_ACIDS])
    design = np.column_stack([embeddings.numpy(), np.ones(len(kd))])
    fit = design @ np.linalg.lstsq(design, kd, rcond=None)[0]
    return float(np.corrcoef(fit, kd)[0, 1])


learned = model.embed.weight.detach().cpu()[1:]  # one row per amino acid (row 0 is padding)
r_before, r_after = hydropathy_r(initial_embeddings), hydropathy_r(learned)
print(f"hydropathy from the embeddings: R = {r_before:.3f} before training, {r_after:.3f} after")
# --8<-- [end:embeddings]

# --8<-- [start:report]
kd = [HYDROPATHY[aa] for aa in AMINO_ACIDS]
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2), layout="constrained")
for ax, emb, title in [(axes[0], initial_embeddings, "before training (random)"),
                       (axes[1], learned, "after training")]:
    points = ax.scatter(emb[:, 0], emb[:, 1], c=kd, cmap="coolwarm", s=160, vmin=-4.5, vmax=4.5)
    for aa, (u, v) in zip(AMINO_ACIDS, emb.tolist(), strict=True):
        ax.annotate(aa, (u, v), ha="center", va="center", fontsize=9, weight="bold")
    ax.set(xlabel="embedding dimension 1", ylabel="embedding dimension 2",
           title=f"Amino-acid embeddings {title}")
fig.colorbar(points, ax=axes, label="Kyte-Doolittle hydropathy (never shown to the model)")
fig.savefig(OUT / "embeddings.png", dpi=110)
plt.close(fig)

# What the task looks like: the window means along three validation chains.
fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
labels = ["no oily stretch", "short oily stretch (decoy)", "long oily stretch"]
for kind in range(3):
    seq = valid_seqs[kind]
    p = predict([seq]).item()
    ax.plot(np.arange(len(window_means(seq))) + 1, window_means(seq),
            label=f"{labels[kind]}: label {int(y_valid[kind])}, model P={p:.2f}")
ax.axhline(THRESHOLD, color="gray", ls="--", label=f"threshold {THRESHOLD}")
ax.set(xlabel=f"window start (residue number); window = {WINDOW} residues",
       ylabel="mean hydropathy of the window", title="Three generated validation chains")
ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
fig.savefig(OUT / "task.png", dpi=110)
plt.close(fig)

real = pd.DataFrame({
    "protein": [name for name, _, _ in REAL],
    "source": [source for _, source, _ in REAL],
    "length": [len(seq) for _, _, seq in REAL],
    "max window hydropathy": [f"{window_means(seq).max():.2f}" if len(seq) >= WINDOW
                              else "(too short)" for _, _, seq in REAL],
    "rule says TM-like": ["yes" if has_tm_stretch(seq) else "no" for _, _, seq in REAL],
    "model P(TM-like)": predict([seq for _, _, seq in REAL]).numpy(),
})
align = ("left", "left", "right", "right", "left", "right")
(OUT / "real.md").write_text(real.to_markdown(index=False, floatfmt=".2f", colalign=align) + "\n")
(OUT / "tokens.md").write_text(tokens.to_markdown(index=False) + "\n")

best_window = np.array([window_means(seq).max() for seq in valid_seqs])
wrong = ((predict(valid_seqs) > 0.5).long() != y_valid).numpy()
near = np.abs(best_window - THRESHOLD) <= NEAR

real_agree = sum((p > 0.5) == (r == "yes")
                 for p, r in zip(real["model P(TM-like)"], real["rule says TM-like"], strict=True))
metrics = {
    "n_train": N_TRAIN,
    "n_valid": N_VALID,
    "epochs": EPOCHS,
    "window": WINDOW,
    "threshold": THRESHOLD,
    "embed_dim": EMBED_DIM,
    "positive_share": round(y_train.float().mean().item(), 4),
    "baseline_accuracy": round(baseline_accuracy, 4),
    "accuracy": round(accuracy, 4),
    "gain_over_baseline": round(accuracy - baseline_accuracy, 4),
    "embedding_hydropathy_r_before": round(r_before, 4),
    "embedding_hydropathy_r": round(r_after, 4),
    "n_wrong": int(wrong.sum()),
    "near": NEAR,
    "wrong_near_threshold": round(float(near[wrong].mean()) if wrong.any() else 1.0, 4),
    "all_near_threshold": round(float(near.mean()), 4),
    "n_real": len(REAL),
    "real_agree_with_rule": int(real_agree),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
