"""Bytes as images: 4 KiB chunks of real files -> 64x64 gray images -> a CNN.

The malware-image idea: show a file's raw bytes as pixels and let a CNN
recognise the kind of content. Five runs (seeds) of the CNN, each
validated on whole files it never saw, train side by side next to a
baseline: logistic regression on the chunk's byte histogram. Run it alone
with `python bytes_as_images.py`; outputs go to the folder DLNOTES_OUT
names (default ./outputs/bytes_as_images). DLNOTES_QUICK=1 takes fewer
chunks, fewer runs and trains less. The bytes come from files that ship
with Python, NumPy, scikit-learn and scikit-image (nothing is downloaded);
the same installed versions give the same data set.
"""

# --8<-- [start:setup]
# Settings first, so that a reader can change one number and run again.
import gzip
import io
import json
import os
import random
import struct
import sys
import zipfile
import zlib
from importlib.util import find_spec
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import skimage
import skimage.data
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
CHUNKS_PER_CLASS = 80 if QUICK else 200
N_SEEDS = 2 if QUICK else 5  # independent runs: split, init, batch order
EPOCHS = 3 if QUICK else 4
SIDE = 64                   # each image is SIDE x SIDE pixels...
CHUNK = SIDE * SIDE         # ...one byte per pixel: 4096 bytes per image
VALID_FRACTION = 0.2        # about a fifth of each class: whole files
BATCH_SIZE = 16
LEARNING_RATE = 1e-2        # peak of the one-cycle schedule
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/bytes_as_images"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"bytes_as_images.py: cannot write to {OUT}: {err.strerror}")

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
INKS = {"": "#1f1f1f", "-dark": "#e2e2e2"}  # file suffix: text and axes colour


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


# --8<-- [start:sources]
# Five kinds of content found on any machine with these packages. Each
# class holds several files, so that validation can use files (libraries,
# modules, arrays, photos) that training never saw.
def elf_section(path, wanted=b".text"):
    """One section of a 64-bit little-endian ELF file (a Linux library)."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)  # where the section table is
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    table = [struct.unpack_from("<IIQQQQ", data, shoff + i * entry_size)
             for i in range(count)]
    names_at = table[names_index][4]             # offset of the section names
    for name_at, _, _, _, offset, size in table:
        start = names_at + name_at
        if data[start:data.index(b"\0", start)] == wanted:
            return data[offset:offset + size]
    return b""


def npy_bytes(array):
    """The bytes of a .npy file, as np.save writes it."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


stdlib = sorted(Path(os.__file__).parent.glob("*.py"))  # Python's modules
images_dir = Path(skimage.data.__file__).parent
PHOTOS = ["astronaut", "camera", "cell", "chelsea", "coffee", "coins",
          "immunohistochemistry", "moon", "rocket"]   # photos skimage ships
TABLES = {"breast_cancer.csv": 1, "diabetes_data_raw.csv.gz": 0,
          "digits.csv.gz": 0, "wine_data.csv": 1}  # CSV tables sklearn ships
tables_dir = Path(find_spec("sklearn").origin).parent / "datasets" / "data"
disparity = zipfile.ZipFile(images_dir / "motorcycle_disp.npz")
SOURCES = {  # class -> [(file name, bytes)], in a fixed order
    "machine code": [(f"{p.parent.name}/{p.name.split('.')[0]}.so",
                      elf_section(p))                  # compiled C
                     for p in sorted(Path(np.__file__).parent.rglob("*.so"))],
    "text": [(p.name, p.read_bytes()) for p in stdlib],  # Python source
    "compressed": [(p.name + ".gz",
                    gzip.compress(p.read_bytes(), compresslevel=6, mtime=0))
                   for p in stdlib],                  # the same, gzipped
    "numeric array": [
        ("lfw_subset.npy", (images_dir / "lfw_subset.npy").read_bytes()),
        *[(f"motorcycle_disp.npz:{m}", disparity.read(m))
          for m in sorted(disparity.namelist())],
        *[(f"{name.split('.')[0]}.npy",
           npy_bytes(np.loadtxt(tables_dir / name, skiprows=skip,
                                delimiter=None if "raw" in name else ",")))
          for name, skip in TABLES.items()]],          # float64 tables
    "raw pixels": [(f"{name} decoded", getattr(skimage.data, name)().tobytes())
                   for name in PHOTOS],                # what a .bmp holds
}
CLASSES = list(SOURCES)
# --8<-- [end:sources]


# --8<-- [start:chunks]
# Chunks never cross a file boundary, and each remembers its file, so a
# split can hold out whole files. Fixed, evenly spaced offsets make the
# classes balanced and the data set the same on every machine.
def chunks_of(files, count):
    """`count` SIDE x SIDE chunks at evenly spaced offsets, and their files."""
    room = np.array([max(len(data) - CHUNK + 1, 0) for _, data in files])
    ends = np.cumsum(room)                   # start positions, file by file
    picks = np.linspace(0, ends[-1] - 1, count).astype(int)
    which = np.searchsorted(ends, picks, side="right")
    offsets = picks - (ends[which] - room[which])
    chunks = [np.frombuffer(files[f][1][o:o + CHUNK], np.uint8)
              for f, o in zip(which, offsets, strict=True)]
    return np.stack(chunks).reshape(count, SIDE, SIDE), which


pixels, labels, file_of = [], [], []
for label, name in enumerate(CLASSES):
    chunks, files = chunks_of(SOURCES[name], CHUNKS_PER_CLASS)
    pixels.append(chunks)
    labels += [label] * CHUNKS_PER_CLASS
    file_of.append(files)
pixels, labels = np.concatenate(pixels), np.array(labels)
file_of = np.concatenate(file_of)
print(f"{len(pixels)} images of {SIDE}x{SIDE} bytes, "
      f"{CHUNKS_PER_CLASS} per class")
# --8<-- [end:chunks]


# --8<-- [start:splits]
# Each run holds out whole files, chosen at random per class until about
# a fifth of the class's chunks (never more than 40%) are in validation:
# the score is measured on files the network has not seen at all.
def split(run):
    """Train and validation indices for one run, split by file."""
    rng = np.random.default_rng(SEED + run)
    valid = np.zeros(len(labels), dtype=bool)
    for c in range(len(CLASSES)):
        in_class = labels == c
        held = 0
        for f in rng.permutation(np.unique(file_of[in_class])):
            n = (in_class & (file_of == f)).sum()
            if held + n <= 0.4 * CHUNKS_PER_CLASS:
                valid |= in_class & (file_of == f)
                held += n
            if held >= VALID_FRACTION * CHUNKS_PER_CLASS:
                break
    return np.flatnonzero(~valid), np.flatnonzero(valid)


splits = [split(run) for run in range(N_SEEDS)]
# --8<-- [end:splits]


def entropy_bits(chunk):
    """Shannon entropy of the byte values in a chunk, bits per byte (0-8)."""
    p = np.bincount(chunk.ravel(), minlength=256) / chunk.size
    return float(-(p[p > 0] * np.log2(p[p > 0])).sum())


rows = []
for label, name in enumerate(CLASSES):
    used = sorted(set(file_of[labels == label]))      # files chunks come from
    rows.append({
        "class": name,
        "files": len(used),
        "first file": f"`{SOURCES[name][used[0]][0]}`",
        "last file": f"`{SOURCES[name][used[-1]][0]}`",
        "bytes": sum(len(SOURCES[name][f][1]) for f in used),
        "entropy (bits/byte)": np.mean([entropy_bits(c)
                                        for c in pixels[labels == label]]),
    })
header = ("| class | files | first file | last file | bytes "
          "| entropy (bits/byte) |")
(OUT / "classes.md").write_text("\n".join(
    [header, "|:--|--:|:--|:--|--:|--:|"]
    + [f"| {r['class']} | {r['files']} | {r['first file']} | {r['last file']} "
       f"| {r['bytes']:,} | {r['entropy (bits/byte)']:.2f} |" for r in rows])
    + "\n")


# --8<-- [start:model]
# N_SEEDS copies of one small CNN train side by side: grouped convolutions
# keep copy k apart from the others (its own weights, split, batch order),
# while one loop pays the Python overhead once for all runs.
def conv_block(c_in, c_out, runs):
    """3x3 convolution, stride 2 (halves height and width), BN, ReLU."""
    return [nn.Conv2d(c_in * runs, c_out * runs, 3, stride=2, padding=1,
                      groups=runs),  # copy k only sees channel group k
            nn.BatchNorm2d(c_out * runs), nn.ReLU()]


class SideBySide(nn.Module):
    """`runs` independent copies of the small CNN in one module."""

    def __init__(self, runs, n_classes):
        super().__init__()
        self.runs = runs
        self.body = nn.Sequential(                # input: 1 x 64 x 64
            *conv_block(1, 8, runs), *conv_block(8, 16, runs),
            *conv_block(16, 32, runs),            # 32 x 8 x 8
            nn.AdaptiveAvgPool2d(1),              # average texture
        )
        self.head = nn.Conv2d(32 * runs, n_classes * runs, 1, groups=runs)

    def forward(self, x):                  # x: (batch, runs, height, width)
        return self.head(self.body(x)).view(len(x), self.runs, -1)
# --8<-- [end:model]


# --8<-- [start:train]
# Adam with a one-cycle schedule (warm up, then anneal, as fastai's
# fit_one_cycle does). The loss is the sum of the runs' losses, so each
# copy gets exactly the gradient it would get if trained alone. Splits by
# file differ in size: an epoch is as many batches as the smallest
# training set holds, each run drawing them from its own training files.
x_all = (torch.as_tensor(pixels, dtype=torch.float32) / 255).to(device)
y_all = torch.as_tensor(labels).to(device)
valid_len = max(len(va) for _, va in splits)
valid_idx = torch.as_tensor(np.stack([np.resize(va, valid_len)
                                      for _, va in splits]))  # padded
valid_mask = torch.as_tensor(np.stack([np.arange(valid_len) < len(va)
                                       for _, va in splits]))
model = SideBySide(N_SEEDS, len(CLASSES)).to(device)
steps = min(len(tr) for tr, _ in splits) // BATCH_SIZE
optimizer = torch.optim.Adam(model.parameters(), foreach=True)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=LEARNING_RATE, epochs=EPOCHS, steps_per_epoch=steps)
loss_fn = nn.CrossEntropyLoss()
generators = [torch.Generator().manual_seed(SEED + r) for r in range(N_SEEDS)]
history = np.zeros((EPOCHS, N_SEEDS))          # validation accuracy per run
for epoch in range(EPOCHS):
    model.train()
    order = torch.stack([
        torch.as_tensor(tr)[torch.randperm(len(tr), generator=g)]
        [:steps * BATCH_SIZE]
        for (tr, _), g in zip(splits, generators, strict=True)])
    for step in range(steps):
        batch = order[:, step * BATCH_SIZE:(step + 1) * BATCH_SIZE].T
        logits = model(x_all[batch])           # (batch, runs, classes)
        loss = loss_fn(logits.flatten(0, 1), y_all[batch].flatten())
        optimizer.zero_grad()
        (loss * N_SEEDS).backward()
        optimizer.step()
        scheduler.step()
    if epoch < EPOCHS - 2:
        continue                    # only the last two epochs are reported
    model.eval()
    with torch.no_grad():
        predicted = model(x_all[valid_idx.T]).argmax(dim=2).T.cpu()
    right = (predicted == y_all.cpu()[valid_idx]) & valid_mask
    history[epoch] = right.sum(1) / valid_mask.sum(1)
    print(f"epoch {epoch}: valid accuracy per run {history[epoch].round(3)}")
cnn_accuracy = history[-2:].mean(axis=0)    # mean of the last two epochs
# --8<-- [end:train]


# --8<-- [start:baseline]
# The baseline a practitioner tries first: how often each of the 256 byte
# values occurs in the chunk (its byte histogram), and a logistic
# regression on those 256 numbers. It sees which bytes occur, not where.
histograms = np.stack([np.bincount(c.ravel(), minlength=256)
                       for c in pixels]) / CHUNK


def fit_logistic(features, labels, splits, l2=1e-3):
    """Validation accuracy of one logistic regression per run.

    The runs are fitted side by side: a leading run dimension, and L-BFGS
    on the sum of their losses (each run's optimum is unchanged). Features
    are standardised with the mean and spread of each run's training rows.
    """
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels)
    n_classes = int(y.max()) + 1
    train = torch.zeros(len(splits), len(x), dtype=torch.bool)
    valid = torch.zeros_like(train)
    for run, (tr, va) in enumerate(splits):
        train[run, tr], valid[run, va] = True, True
    weight = train / train.sum(1, keepdim=True)      # mean over train rows
    mean = (weight[:, :, None] * x).sum(1, keepdim=True)
    std = ((weight[:, :, None] * (x - mean) ** 2).sum(1, keepdim=True)
           .sqrt().clamp_min(1e-6))
    xs = (x - mean) / std                                  # (runs, n, F)
    w = torch.zeros(len(splits), x.shape[1], n_classes, dtype=torch.float64,
                    requires_grad=True)
    b = torch.zeros(len(splits), 1, n_classes, dtype=torch.float64,
                    requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], max_iter=300,
                                  line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        logits = torch.einsum("rnf,rfk->rnk", xs, w) + b
        nll = -logits.log_softmax(2).gather(
            2, y.expand(len(splits), -1)[:, :, None])[:, :, 0]
        value = (weight * nll).sum() + l2 / 2 * (w ** 2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    with torch.no_grad():
        guess = (torch.einsum("rnf,rfk->rnk", xs, w) + b).argmax(2)
    right = ((guess == y) & valid).sum(1)
    return (right / valid.sum(1)).numpy()


baseline_accuracy = fit_logistic(histograms, labels, splits)
print("baseline accuracy per run:", baseline_accuracy.round(3))
# --8<-- [end:baseline]

# --8<-- [start:png]
# PNG files of photos: pixels again, but DEFLATE-compressed inside the
# file, a kind of data no run was trained on. Which class do they pick?
PNG_FILES = ["camera.png", "chelsea.png", "coffee.png", "grass.png",
             "gravel.png"]
png_files = [(n, (images_dir / n).read_bytes()) for n in PNG_FILES]
png, _ = chunks_of(png_files, 100)
png = torch.as_tensor(png, dtype=torch.float32) / 255
with torch.no_grad():
    png_votes = model(png[:, None].expand(-1, N_SEEDS, -1, -1).to(device))
png_votes = png_votes.argmax(dim=2).cpu()               # (chunks, runs)
png_share = {name: (png_votes == c).float().mean().item()
             for c, name in enumerate(CLASSES)}
print("PNG chunks classified as:",
      {k: round(v, 2) for k, v in png_share.items()})
# --8<-- [end:png]


def draw_examples():
    """Three chunks per class, one column per class."""
    fig, axes = plt.subplots(3, len(CLASSES), figsize=(7.2, 4.7))
    for c, name in enumerate(CLASSES):
        picks = np.linspace(0, CHUNKS_PER_CLASS - 1, 3).astype(int)
        for k, i in enumerate(picks):
            axes[k, c].imshow(pixels[c * CHUNKS_PER_CLASS + i], cmap="gray",
                              vmin=0, vmax=255, interpolation="nearest")
            axes[k, c].set_axis_off()
        axes[0, c].set_title(name)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.94,
                        wspace=0.08, hspace=0.06)  # no tight_layout pass
    return fig


def draw_runs(scores, mean_label):
    """Accuracy of each run (dots) with mean and std (bar) per method."""
    def draw():
        fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.55 * len(scores)))
        for row, acc in enumerate(scores.values()):
            ax.errorbar(acc.mean(), row, xerr=acc.std(), fmt="|", ms=14,
                        capsize=4, color=COLORS[row], lw=1.5)
            ax.plot(acc, np.full(len(acc), row), "o", ms=6, alpha=0.8,
                    color=COLORS[row], markeredgewidth=0)
        ax.set_yticks(range(len(scores)), list(scores))
        ax.set_ylim(len(scores) - 0.5, -0.5)
        ax.set_xlabel(mean_label)
        ax.grid(axis="x")
        fig.tight_layout()
        return fig
    return draw


# --8<-- [start:report]
# Every number the page quotes comes from here: means and spreads over the
# runs, win counts, and a confusion table summed over all runs.
save_figure(draw_examples, "examples")
scores = {"CNN on 64x64 images": cnn_accuracy,
          "byte histogram + logistic regression": baseline_accuracy}
save_figure(draw_runs(scores, f"validation accuracy ({N_SEEDS} runs; "
                              "bar: mean ± std)"), "runs")

matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)  # actual, guess
np.add.at(matrix, (y_all.cpu()[valid_idx][valid_mask].numpy(),
                   predicted[valid_mask].numpy()), 1)
table = ["| actual \\ predicted | " + " | ".join(CLASSES) + " |",
         "| --- |" + " ---: |" * len(CLASSES)]
table += [f"| {CLASSES[r]} | " + " | ".join(str(n) for n in matrix[r])
          + " |" for r in range(len(CLASSES))]
(OUT / "confusion.md").write_text("\n".join(table) + "\n")

key = {name: name.replace(" ", "_") for name in CLASSES}
metrics = {
    "classes": len(CLASSES),
    "chunks_per_class": CHUNKS_PER_CLASS,
    "chunk_bytes": CHUNK,
    "side": SIDE,
    "n_seeds": N_SEEDS,
    "n_train_min": min(len(tr) for tr, _ in splits),
    "n_valid_min": min(len(va) for _, va in splits),
    "n_valid_max": valid_len,
    "epochs": EPOCHS,
    "so_files": int(rows[0]["files"]),
    "stdlib_files": int(rows[1]["files"]),
    "photos": len(PHOTOS),
    "valid_accuracy_mean": round(float(cnn_accuracy.mean()), 4),
    "valid_accuracy_std": round(float(cnn_accuracy.std()), 4),
    "valid_accuracy_min": round(float(cnn_accuracy.min()), 4),
    "baseline_accuracy_mean": round(float(baseline_accuracy.mean()), 4),
    "baseline_accuracy_std": round(float(baseline_accuracy.std()), 4),
    "cnn_minus_baseline": round(float((cnn_accuracy
                                       - baseline_accuracy).mean()), 4),
    "cnn_wins": int((cnn_accuracy > baseline_accuracy).sum()),
    "baseline_wins": int((cnn_accuracy < baseline_accuracy).sum()),
    "valid_errors_all_runs": int(matrix.sum() - np.trace(matrix)),
    "valid_images_all_runs": int(matrix.sum()),
    "per_class_accuracy": {key[name]: round(float(matrix[i, i]
                                                  / matrix[i].sum()), 4)
                           for i, name in enumerate(CLASSES)},
    "entropy": {key[r["class"]]: round(r["entropy (bits/byte)"], 2)
                for r in rows},
    "png_chunks": len(png),
    "png_classified_as": {key[name]: round(share, 4)
                          for name, share in png_share.items()},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick valid_accuracy_mean >= 0.35
# dlnotes: expect quick baseline_accuracy_mean >= 0.4
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full valid_accuracy_mean >= 0.7
# dlnotes: expect full baseline_accuracy_mean >= 0.6
# dlnotes: expect full cnn_minus_baseline <= 0.05
# dlnotes: timeout 300
