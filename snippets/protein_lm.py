"""Proteins as language, ULMFiT style: pretrain on real chains, fine-tune.

Pretraining reads REAL protein sequences: the 17,408 chains of the SOLpro
solubility benchmark (Magnan et al., 2009), which the aaanalysis package
(BSD-3-Clause) ships inside its wheel as _data/benchmarks/SEQ_SOLUBLE.tsv.
We read that file, never import the package, and ignore its labels: a
language model needs none. The model is the text page's neural n-gram
language model: it reads the last 19 residues and predicts the next one.

The labelled task is protein_sequences.py's GENERATED one: random chains,
labelled by Kyte and Doolittle's rule (some window of 19 residues has a mean
hydropathy of at least 1.6). With only 100 or 400 labelled chains, the
pretrained model is fine-tuned with a classifier head, next to the same
network trained from scratch and an amino-acid composition baseline; five
runs, each with its own language model, labelled chains and batch order.

Run it alone with `python protein_lm.py` after
`pip install --no-deps aaanalysis==1.1.0`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/protein_lm). DLNOTES_QUICK=1 uses
fewer steps, chains and runs.
"""

# --8<-- [start:setup]
# Settings first, so that every number on the page can be traced to one line.
import importlib.util
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
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
WINDOW = 19              # residues the model reads: the rule's window, too
EMBED_DIM = 4            # numbers per amino acid
CHANNELS = 16            # filters, each WINDOW residues wide (as on the page)
CROP = 64                # residues per pretraining crop
LM_BATCH = 64            # crops per step and per run
LM_STEPS = 30 if QUICK else 250
LM_LEARNING_RATE = 1e-2
HELD_OUT_SHARE = 0.1     # real chains kept apart to score the LM
LABELLED = (100, 400)    # labelled chains per run: the scarce-label regime
N_VALID = 200 if QUICK else 1000   # generated validation chains per run
FT_STEPS = 40 if QUICK else 250    # fine-tuning steps (same for scratch)
FT_BATCH = 32
FT_LEARNING_RATE = 1e-2
LENGTHS = (30, 90)       # generated chain lengths, as on the page
THRESHOLD = 1.6          # Kyte-Doolittle window rule, as on the page
NEAR = 0.25              # "close to the threshold": within 0.25 of it
SEEDS = [0, 1] if QUICK else [0, 1, 2, 3, 4]  # one run per seed
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/protein_lm"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"protein_lm.py: cannot write outputs to {OUT}: {err.strerror}")

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


# --8<-- [start:corpus]
# Real chains for pretraining, read from the aaanalysis wheel's data
# folder (never imported: we need one file, not the package).
spec = importlib.util.find_spec("aaanalysis")
CORPUS = (Path(spec.origin).parent / "_data" / "benchmarks" / "DOM_GSEC_PU.tsv"
          if spec and spec.origin else None)
if CORPUS is None or not CORPUS.is_file():
    sys.exit("protein_lm.py: needs real protein chains to pretrain on: "
             "pip install --no-deps aaanalysis==1.1.0")

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"           # the 20 standard residues
ID_OF_BYTE = np.zeros(256, dtype=np.int64)      # 0: padding; 1-20: residues
ID_OF_BYTE[list(AMINO_ACIDS.encode())] = np.arange(1, 21)

table = pd.read_csv(CORPUS, sep="\t")
chains = table["sequence"]
chains = chains[chains.str.fullmatch(f"[{AMINO_ACIDS}]+")
                & (chains.str.len() >= CROP)].tolist()  # 20 letters only
order = np.random.default_rng(SEED).permutation(len(chains))
n_held = int(len(chains) * HELD_OUT_SHARE)
held_out = [chains[i] for i in order[:n_held]]
pretrain = [chains[i] for i in order[n_held:]]


def stream(seqs, shuffle=None):
    """All chains end to end as token ids, and where each crop may start.
    With a generator as `shuffle`, the residues are shuffled across the
    whole corpus: the same residue counts, and no order left."""
    ids = ID_OF_BYTE[np.frombuffer("".join(seqs).encode(), np.uint8)]
    if shuffle is not None:
        ids = shuffle.permutation(ids)
    lengths = np.array([len(s) for s in seqs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # a crop lies inside one chain: chain start + 0 .. length - CROP
    first = np.concatenate([s + np.arange(n - CROP + 1)
                            for s, n in zip(starts, lengths, strict=True)])
    return torch.from_numpy(ids), torch.from_numpy(first)


pretrain_ids, pretrain_starts = stream(pretrain)
shuffled_ids, _ = stream(pretrain, shuffle=np.random.default_rng(SEED))
held_ids, held_starts = stream(held_out)
print(f"pretraining on {len(pretrain)} real chains "
      f"({len(pretrain_ids):,} residues); {len(held_out)} held out")
# --8<-- [end:corpus]


# --8<-- [start:generate]
# The labelled task is the page's: generated chains, labelled by the
# Kyte-Doolittle window rule (copied from protein_sequences.py).
HYDROPATHY = {"A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5,
              "E": -3.5, "G": -0.4, "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9,
              "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9,
              "Y": -1.3, "V": 4.2}
BACKGROUND = {"A": 8.3, "R": 5.5, "N": 4.1, "D": 5.5, "C": 1.4, "Q": 3.9,
              "E": 6.8, "G": 7.1, "H": 2.3, "I": 5.9, "L": 9.7, "K": 5.8,
              "M": 2.4, "F": 3.9, "P": 4.7, "S": 6.6, "T": 5.3, "W": 1.1,
              "Y": 2.9, "V": 6.9}
OILY = "LIVFAMGC"  # residues the generator's oily stretches are made of
KD = np.array([HYDROPATHY[aa] for aa in AMINO_ACIDS])  # by token id - 1


def window_means(sequence):
    """Mean hydropathy of every window of WINDOW consecutive residues."""
    h = KD[ID_OF_BYTE[np.frombuffer(sequence.encode(), np.uint8)] - 1]
    return np.convolve(h, np.ones(WINDOW) / WINDOW, mode="valid")


def generate(n, rng):
    """Random chains; a third carry a long oily stretch, a third a short one
    (a decoy), a third none. Label: the window rule."""
    aa, weights = list(BACKGROUND), np.array(list(BACKGROUND.values()))
    sequences = []
    for i in range(n):
        length = int(rng.integers(*LENGTHS))
        chain = rng.choice(aa, size=length, p=weights / weights.sum())
        if kind := i % 3:                 # 0: none, 1: decoy, 2: long stretch
            span = int(rng.integers(16, 25) if kind == 2
                       else rng.integers(6, 14))
            start = int(rng.integers(0, length - span))
            oily = rng.choice(list(OILY), size=span)
            keep = rng.random(span) < 0.15  # a few polar residues stay in it
            chain[start:start + span] = np.where(
                keep, chain[start:start + span], oily)
        sequences.append("".join(chain.tolist()))
    labels = [bool((window_means(s) >= THRESHOLD).any()) for s in sequences]
    return sequences, torch.tensor(labels).long()


def batch_of(sequences, width=LENGTHS[1]):
    """Token ids padded with 0 to `width`."""
    ids = np.zeros((len(sequences), width), dtype=np.int64)
    for row, s in enumerate(sequences):
        ids[row, :len(s)] = ID_OF_BYTE[np.frombuffer(s.encode(), np.uint8)]
    return torch.from_numpy(ids)


data = []  # per run: max(LABELLED) labelled chains, N_VALID validation ones
for seed in SEEDS:
    rng = np.random.default_rng(seed)
    data.append((*generate(max(LABELLED), rng), *generate(N_VALID, rng)))
x_train = torch.stack([batch_of(d[0]) for d in data])   # (runs, N, L)
y_train = torch.stack([d[1] for d in data])
x_valid = torch.stack([batch_of(d[2]) for d in data])
y_valid = torch.stack([d[3] for d in data])
# --8<-- [end:generate]


# --8<-- [start:model]
# The page's CNN with a leading run dimension: embed residues, slide
# WINDOW-wide filters, ReLU. As a language model, the filters over
# residues j .. j+18 predict residue j+19 (the text page's neural n-gram,
# as a convolution); as a classifier, the maximum over the chain keeps each
# filter's best window. Only the head on top differs.
class Encoders(nn.Module):
    def __init__(self, n_models, n_out):
        super().__init__()
        self.n = n_models
        self.embed = nn.Parameter(torch.randn(n_models, 21, EMBED_DIM))
        self.conv = nn.Conv1d(n_models * EMBED_DIM, n_models * CHANNELS,
                              kernel_size=WINDOW, groups=n_models)
        self.head = nn.Parameter(torch.randn(n_models, CHANNELS, n_out)
                                 / CHANNELS ** 0.5)
        self.bias = nn.Parameter(torch.zeros(n_models, n_out))

    def windows(self, ids):                       # ids: (models, batch, L)
        rows = torch.arange(self.n, device=ids.device)[:, None, None]
        x = self.embed[rows, ids] * (ids > 0)[..., None]  # padding -> 0
        x = x.permute(1, 0, 3, 2).flatten(1, 2)   # (batch, models * E, L)
        x = torch.relu(self.conv(x))              # one value per window
        return x.view(len(x), self.n, CHANNELS, -1)  # (batch, models, C, W)

    def next_residue(self, ids):                  # language model scores
        x = self.windows(ids)[..., :-1]           # the last window: no next
        return torch.einsum("bmcw,mck->mbwk", x, self.head) + self.bias[
            :, None, None]

    def forward(self, ids):                       # classifier scores
        x = self.windows(ids).amax(3)
        return torch.einsum("bmc,mck->mbk", x, self.head) + self.bias[:, None]

    def encoder(self):                            # what pretraining passes on
        return [self.embed, self.conv.weight, self.conv.bias]


loss_fn = nn.CrossEntropyLoss()
# --8<-- [end:model]


# --8<-- [start:pretrain]
# Pretraining: every run has its own language model (initial weights and
# crops from its own generator). One step: 64 random crops of 64 residues
# per model, 45 next-residue predictions in each. A control model per run
# reads the SHUFFLED corpus: the same residues, no order to learn.
def crops(ids, starts, n, generator):
    picks = starts[torch.randint(len(starts), (n,), generator=generator)]
    return ids[picks[:, None] + torch.arange(CROP)]


def lm_losses(model, batch):                      # batch: (models, n, CROP)
    scores = model.next_residue(batch.to(device))
    targets = (batch[..., WINDOW:] - 1).to(device)   # residue ids 0 .. 19
    loss = nn.functional.cross_entropy(scores.permute(0, 3, 1, 2), targets,
                                       reduction="none")
    return loss.mean((1, 2))                      # one loss per model


def hydropathy_r(embeddings):
    """How well a straight line in the embedding space predicts hydropathy."""
    design = np.column_stack([embeddings.numpy(), np.ones(len(KD))])
    fit = design @ np.linalg.lstsq(design, KD, rcond=None)[0]
    return float(np.corrcoef(fit, KD)[0, 1])


S = len(SEEDS)
torch.manual_seed(SEED)
lm = Encoders(2 * S, 20).to(device)     # models 0..S-1: real; S..: shuffled
initial_embeddings = lm.embed.detach().cpu()[:, 1:].clone()
optimizer = torch.optim.Adam(lm.parameters(), lr=LM_LEARNING_RATE)
schedule = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, LM_LEARNING_RATE, total_steps=LM_STEPS)
generators = [torch.Generator().manual_seed(1000 * c + seed)
              for c in range(2) for seed in SEEDS]
streams = [pretrain_ids] * S + [shuffled_ids] * S
held_batch = crops(held_ids, held_starts, 400, torch.Generator().manual_seed(
    SEED)).expand(2 * S, -1, -1)                  # the same crops for all
for step in range(1, LM_STEPS + 1):
    lm.train()
    batch = torch.stack([crops(ids, pretrain_starts, LM_BATCH, g)
                         for ids, g in zip(streams, generators, strict=True)])
    losses = lm_losses(lm, batch)
    optimizer.zero_grad()
    losses.sum().backward()                       # each model: its own mean
    optimizer.step()
    schedule.step()
    if step % (LM_STEPS // 4) == 0:
        print(f"LM step {step}: {losses[:S].mean().item():.4f} nats per "
              f"residue (shuffled corpus: {losses[S:].mean().item():.4f})")

lm.eval()
with torch.no_grad():
    lm_held = lm_losses(lm, held_batch).cpu().numpy()  # on real chains
# The language model's baseline: residue frequencies alone (no context).
freq = np.bincount(pretrain_ids.numpy() - 1, minlength=20) / len(pretrain_ids)
unigram = float(-np.log(freq[held_batch[0, :, WINDOW:].numpy() - 1]).mean())
r_before = np.array([hydropathy_r(e) for e in initial_embeddings])
r_lm = np.array([hydropathy_r(e) for e in lm.embed.detach().cpu()[:, 1:]])
print(f"held-out real chains: LM {lm_held[:S].round(4)}, shuffled-corpus LM "
      f"{lm_held[S:].round(4)}, residue frequencies {unigram:.4f} nats")
print(f"embeddings vs hydropathy R: {r_before[:S].round(2)} -> "
      f"{r_lm[:S].round(2)} (shuffled corpus: {r_lm[S:].round(2)})")
# --8<-- [end:pretrain]


# --8<-- [start:finetune]
# Fine-tuning, ULMFiT style: copy a pretrained model's embeddings and
# filters under a new, random classifier head, then train every weight.
# Three starts per (labelled-set size, run), on the same labelled chains in
# the same batches: the real-corpus LM, the shuffled-corpus LM, and random
# weights (the page's CNN from scratch).
STARTS = ("real-corpus LM", "shuffled-corpus LM", "from scratch")
slots = [(start, k, r) for start in range(3) for k in range(len(LABELLED))
         for r in range(S)]
slot_run = torch.tensor([r for _, _, r in slots])
M = len(slots)
torch.manual_seed(SEED + 1)
model = Encoders(M, 2).to(device)
with torch.no_grad():
    for mine, pretrained in zip(model.encoder(), lm.encoder(), strict=True):
        mine = mine.view(M, -1, *mine.shape[1:])  # a view: writes go through
        pretrained = pretrained.view(2 * S, -1, *pretrained.shape[1:])
        for m, (start, _, r) in enumerate(slots):
            if start < 2:                         # 0: real LM r, 1: shuffled
                mine[m] = pretrained[start * S + r]
optimizer = torch.optim.Adam(model.parameters(), lr=FT_LEARNING_RATE)
shufflers = [torch.Generator().manual_seed(100 + k * S + r)  # same batches
             for _, k, r in slots]                # for the three starts
rows = slot_run[:, None]
for _step in range(FT_STEPS):
    model.train()
    picks = torch.stack([torch.randint(LABELLED[k], (FT_BATCH,), generator=g)
                         for (_, k, _), g in zip(slots, shufflers, strict=True)])
    x, y = x_train[rows, picks].to(device), y_train[rows, picks].to(device)
    loss = loss_fn(model(x).flatten(0, 1), y.flatten())
    optimizer.zero_grad()
    (loss * M).backward()                         # each slot: its own mean
    optimizer.step()

model.eval()
with torch.no_grad():   # P(TM-like) for each slot's own run's chains
    p_tm = model(x_valid[slot_run].to(device)).softmax(2)[..., 1].cpu()
p_tm = p_tm.view(3, len(LABELLED), S, -1)         # (start, size, run, chain)
accuracy = ((p_tm > 0.5).long() == y_valid).float().mean(3).numpy()
for k, n in enumerate(LABELLED):
    print(f"{n} labelled chains: " + "; ".join(
        f"{name} {accuracy[i, k].round(3)}" for i, name in enumerate(STARTS)))
# --8<-- [end:finetune]


# --8<-- [start:baseline]
# The composition baseline of the page, tuned on each labelled set alone
# (3-fold cross-validation picks the regularisation C). It keeps the 20
# residue shares and drops the page's 400 neighbour-pair shares: from 100
# chains, 400 more features would mostly fit noise.
def composition(ids):
    """The share of each of the 20 residues in each chain."""
    counts = nn.functional.one_hot(ids, 21).sum(1)[:, 1:].double()
    return (counts / counts.sum(1, keepdim=True)).numpy()


def fit_composition(features, y, c):
    return make_pipeline(StandardScaler(), LogisticRegression(
        C=c, max_iter=500)).fit(features, y)


def composition_baseline(features, y, valid_features, y_valid):
    folds = list(StratifiedKFold(3, shuffle=True, random_state=SEED).split(
        features, y))
    score = {c: np.mean([fit_composition(features[a], y[a], c).score(
        features[b], y[b]) for a, b in folds]) for c in (0.01, 0.1, 1, 10)}
    fit = fit_composition(features, y, max(score, key=score.get))
    return fit.score(valid_features, y_valid)


acc_baseline = np.array([[composition_baseline(
    composition(x_train[r, :n]), d[1][:n].numpy(), composition(x_valid[r]),
    d[3].numpy()) for r, d in enumerate(data)] for n in LABELLED])
majority = np.array([float((d[3] == 0).float().mean()) for d in data])
print(f"composition baseline: {acc_baseline.round(3)}")
# --8<-- [end:baseline]


# --8<-- [start:probe]
# What did the language models learn from the real chains? After an oily
# context (high mean hydropathy over the last 19 residues), how likely is
# an oily next residue: in the held-out chains, and by each model?
oily_ids = torch.tensor([AMINO_ACIDS.index(aa) for aa in OILY])
with torch.no_grad():
    p_next = lm.next_residue(held_batch.to(device)).softmax(-1).cpu()
p_oily = p_next[..., oily_ids].sum(-1).flatten(1).numpy()   # (models, n)
context = torch.from_numpy(KD)[held_batch[0] - 1].unfold(1, WINDOW, 1)
context = context.mean(-1)[:, :-1].flatten().numpy()       # per prediction
next_oily = np.isin(held_batch[0, :, WINDOW:].flatten().numpy() - 1,
                    oily_ids.numpy())
edges = np.quantile(context, np.linspace(0, 1, 6))          # 5 equal bins
bins = np.clip(np.searchsorted(edges, context, side="right") - 1, 0, 4)
true_share = np.array([next_oily[bins == b].mean() for b in range(5)])
model_share = np.array([[p[bins == b].mean() for b in range(5)]
                        for p in p_oily])                    # (models, 5)
print(f"P(next residue oily), by context quintile: held-out chains "
      f"{true_share.round(3)}, LMs {model_share[:S].mean(0).round(3)}, "
      f"shuffled-corpus LMs {model_share[S:].mean(0).round(3)}")
# The real chains' annotated membrane-crossing segments, by the page's rule
segments = [seq[a - 1:b] for seq, a, b in zip(
    table["sequence"], table["tmd_start"], table["tmd_stop"], strict=True)]
rule_flags = np.mean([window_means(seg).max() >= THRESHOLD
                      for seg in segments if len(seg) >= WINDOW])
print(f"the rule flags {rule_flags:.1%} of the {len(segments)} annotated "
      f"membrane-crossing segments")
# --8<-- [end:probe]


# --8<-- [start:report]
# Figures, a table of confident mistakes, and metrics.json.
METHODS = [("fine-tuned LM (real chains)", accuracy[0]),
           ("fine-tuned LM (shuffled chains)", accuracy[1]),
           ("same CNN from scratch", accuracy[2]),
           ("composition + log. regression", acc_baseline)]


def draw_result():
    fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
    for i, (label, acc) in enumerate(METHODS):
        for k in range(len(LABELLED)):
            x = k + (i - 1.5) * 0.2
            ax.plot(np.full(S, x - 0.04), acc[k], "o", ms=5, alpha=0.7,
                    color=COLORS[i], label=label if k == 0 else None)
            ax.errorbar(x + 0.04, acc[k].mean(), yerr=acc[k].std(), fmt="D",
                        ms=5, color=COLORS[i], capsize=3)
    ax.axhline(majority.mean(), color=plt.rcParams["text.color"], ls=":",
               lw=1, label="majority class")
    ax.set(xticks=range(len(LABELLED)),
           xticklabels=[f"{n} labelled chains" for n in LABELLED],
           ylabel="validation accuracy", xlim=(-0.5, len(LABELLED) - 0.5))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.grid(axis="y")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    return fig


def draw_lm():
    fig, axes = plt.subplots(1, 2, figsize=(6.8, 3.4), layout="constrained")
    ax = axes[0]
    centres = [context[bins == b].mean() for b in range(5)]
    ax.plot(centres, true_share, "s-", color=COLORS[2],
            label="held-out chains")
    for i, (part, name) in enumerate([(slice(0, S), "LMs, real chains"),
                                      (slice(S, None), "LMs, shuffled")]):
        share = model_share[part]
        ax.errorbar(centres, share.mean(0), yerr=share.std(0), fmt="o--",
                    color=COLORS[i], capsize=3, label=name)
    ax.set(xlabel="mean hydropathy, last 19", ylabel="P(next is oily)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.legend(loc="upper left")
    ax = axes[1]
    emb = lm.embed.detach().cpu()[0, 1:].numpy()
    emb = emb - emb.mean(0)
    uv = emb @ np.linalg.svd(emb, full_matrices=False)[2][:2].T  # 2 axes
    points = ax.scatter(uv[:, 0], uv[:, 1], c=KD, cmap="coolwarm", s=150,
                        vmin=-4.5, vmax=4.5)
    for aa, (u, v), h in zip(AMINO_ACIDS, uv, KD, strict=True):
        ax.annotate(aa, (u, v), ha="center", va="center", fontsize=9,
                    weight="bold", color="#ffffff" if abs(h) > 3 else "#1f1f1f")
    ax.set(xlabel="principal axis 1", ylabel="axis 2",
           title="run 1's LM embeddings")
    fig.colorbar(points, ax=ax, label="hydropathy")
    return fig


save_figure(draw_result, "result")
save_figure(draw_lm, "lm")

# Confident mistakes of the real-corpus fine-tuned models, fewest labels
best = np.array([[window_means(s).max() for s in d[2]] for d in data])
p_lm, p_scratch = p_tm[0, 0], p_tm[2, 0]          # (runs, chains)
wrong = ((p_lm > 0.5).long() != y_valid).numpy()
confidence = np.abs(p_lm.numpy() - 0.5) * wrong
runs, chains_at = np.unravel_index(np.argsort(-confidence, axis=None)[:4],
                                   wrong.shape)
mistakes = pd.DataFrame([{
    "run": int(r) + 1,
    "chain (start)": data[r][2][i][:16] + "…",
    "length": len(data[r][2][i]),
    "best window": best[r, i],
    "rule says": "yes" if y_valid[r, i] else "no",
    "LM: P(yes)": float(p_lm[r, i]),
    "scratch: P(yes)": float(p_scratch[r, i]),
} for r, i in zip(runs, chains_at, strict=True)])
(OUT / "mistakes.md").write_text(mistakes.to_markdown(
    index=False, floatfmt=".2f",
    colalign=("right", "left", "right", "right", "left", "right", "right"))
    + "\n")
near = np.abs(best - THRESHOLD) <= NEAR


def mean_std(name, values):
    values = np.asarray(values)
    return {f"{name}_mean": round(float(values.mean()), 4),
            f"{name}_std": round(float(values.std()), 4)}


metrics = {
    "n_seeds": S, "labelled_few": LABELLED[0], "labelled_more": LABELLED[1],
    "n_valid": N_VALID,
    "window": WINDOW, "embed_dim": EMBED_DIM, "channels": CHANNELS,
    "lm_steps": LM_STEPS, "ft_steps": FT_STEPS, "crop": CROP,
    "lm_batch": LM_BATCH, "corpus_chains": len(pretrain),
    "corpus_residues": len(pretrain_ids), "held_out_chains": len(held_out),
    "segments": len(segments), "rule_flags_segments": round(rule_flags, 4),
    **mean_std("lm_loss", lm_held[:S]),
    **mean_std("shuffled_lm_loss", lm_held[S:]),
    "baseline_unigram_loss": round(unigram, 4),
    **mean_std("lm_gain_nats", unigram - lm_held[:S]),
    "lm_beats_unigram": int((lm_held[:S] < unigram).sum()),
    **mean_std("r_before", r_before[:S]), **mean_std("r_lm", r_lm[:S]),
    **mean_std("r_shuffled_lm", r_lm[S:]),
    "oily_after_polar": round(float(true_share[0]), 4),
    "oily_after_oily": round(float(true_share[-1]), 4),
    **mean_std("lm_oily_after_polar", model_share[:S, 0]),
    **mean_std("lm_oily_after_oily", model_share[:S, -1]),
    **mean_std("shuffled_oily_after_oily", model_share[S:, -1]),
    **mean_std("baseline_majority", majority),
    "wrong_near_threshold": round(float(near[wrong == 1].mean())
                                  if wrong.any() else 1.0, 4),
    "all_near_threshold": round(float(near.mean()), 4),
    "n_wrong": int(wrong.sum()), "n_valid_all": int(wrong.size),
    "near": NEAR,
}
for k, n in enumerate(LABELLED):
    real, shuffled, scratch = accuracy[:, k]
    metrics[f"n{n}"] = {
        **mean_std("tuned", real), "tuned_min": round(float(real.min()), 4),
        **mean_std("shuffled", shuffled),
        **mean_std("scratch", scratch),
        **mean_std("gain", real - scratch),
        **mean_std("gain_over_shuffled", real - shuffled),
        **mean_std("gain_over_baseline", real - acc_baseline[k]),
        "tuned_wins": int((real > scratch).sum()),
        "tuned_beats_shuffled": int((real > shuffled).sum()),
        "shuffled_beats_scratch": int((shuffled > scratch).sum()),
        "tuned_beats_baseline": int((real > acc_baseline[k]).sum()),
        "scratch_beats_baseline": int((scratch > acc_baseline[k]).sum()),
    }
    metrics[f"baseline_n{n}"] = mean_std("accuracy", acc_baseline[k])
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick lm_loss_mean <= 3.0
# dlnotes: expect quick baseline_n400.accuracy_mean >= 0.6
# dlnotes: expect full n_seeds >= 5
# the language model learned something beyond residue frequencies
# dlnotes: expect full lm_gain_nats_mean >= 0.005
# every model trained: well above always answering the majority class
# dlnotes: expect full n400.tuned_mean >= 0.7
# dlnotes: expect full n400.scratch_mean >= 0.65
# dlnotes: expect full baseline_n400.accuracy_mean >= 0.7
# the page says pretraining helped on average at 100 labelled chains:
# fail only on a clear reversal
# dlnotes: expect full n100.gain_mean >= -0.05
