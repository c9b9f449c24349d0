"""Object detection in miniature: find a handwritten digit in a photo.

The images are GENERATED: real handwritten digits (scikit-learn's scans)
pasted, at a random size and place and in a colour that stands out, onto
crops of real photos (scikit-image, scikit-learn). A small CNN predicts the
digit's class and its bounding box; several copies (seeds) train side by
side as one grouped network. Next to it, two baselines without a network:
the mean training box, and a linear (ridge) regression from pixels to the
box and the class. Run it alone with `python detection.py`; outputs go to
DLNOTES_OUT (default ./outputs/detection). DLNOTES_QUICK=1 trains on fewer
images for fewer steps.
"""

# --8<-- [start:setup]
# Settings first: 32x32 colour images, one digit each, and N_SEEDS copies
# of the detector, each with its own starting weights and batch order.
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
import torch.nn.functional as F
from skimage import data
from skimage.transform import rescale
from sklearn.datasets import load_digits, load_sample_images
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SIZE = 32  # pixels: every generated image is 32 x 32, colour
OBJECT_SIZES = (12, 22)  # pixels: the pasted digit is 12 to 22 pixels tall
N_TRAIN = 800 if QUICK else 4000
N_VALID = 300 if QUICK else 1000
N_SEEDS = 2 if QUICK else 5
STEPS = 50 if QUICK else 200
BATCH_SIZE = 48
LEARNING_RATE = 3e-3
BOX_WEIGHT = 10.0  # how much the box error counts next to the class error
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/detection"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"detection.py: cannot write outputs to {OUT}: {err.strerror}")

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


# --8<-- [start:data]
# Generated data with a known answer: we paste the digit ourselves, so we
# know its box. Validation uses other digits and other parts of the photos
# (the bottom quarter of each), so a model cannot memorise either.
photos = [np.asarray(p, dtype=np.float32) / 255
          for p in load_sample_images().images]
photos += [getattr(data, n)() / 255.0
           for n in ["astronaut", "coffee", "chelsea", "rocket"]]
photos += [np.repeat(getattr(data, n)()[..., None] / 255.0, 3, axis=2)
           for n in ["brick", "grass", "gravel", "camera"]]
# longer side 160 px, so that a 32 px crop shows a part of a scene
backgrounds = [rescale(b, 160 / max(b.shape[:2]), channel_axis=2,
                       anti_aliasing=True) for b in photos]
digits = load_digits()
order = np.random.default_rng(SEED).permutation(len(digits.target))
cut = len(order) * 3 // 4
digit_split = {"train": order[:cut], "valid": order[cut:]}


def compose(n, split, rng):
    """n images, each a digit pasted on a photo crop, with box and class."""
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
    boxes = np.empty((n, 4), dtype=np.float32)  # x0, y0, x1, y1 in pixels
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        photo = backgrounds[rng.integers(len(backgrounds))]
        height, width = photo.shape[:2]
        border = height - max(SIZE, height // 4)  # below: validation rows
        top = (rng.integers(0, border - SIZE, endpoint=True)
               if split == "train"
               else rng.integers(border, height - SIZE, endpoint=True))
        left = rng.integers(0, width - SIZE)
        canvas = photo[top:top + SIZE, left:left + SIZE].copy()
        index = rng.choice(digit_split[split])
        size = int(rng.integers(*OBJECT_SIZES, endpoint=True))
        scan = torch.tensor(digits.images[index] / 16.0)[None, None]
        ink = F.interpolate(scan.float(), size=(size, size),
                            mode="bilinear", align_corners=False)[0, 0]
        ink = ink.clamp(0, 1).numpy()[..., None]
        y, x = rng.integers(0, SIZE - size, endpoint=True, size=2)
        region = canvas[y:y + size, x:x + size]
        light = region.mean() < 0.5  # light ink on dark ground, and back
        colour = (rng.uniform(0.75, 1.0, 3) if light
                  else rng.uniform(0.0, 0.25, 3))
        canvas[y:y + size, x:x + size] = region * (1 - ink) + colour * ink
        rows, cols = np.nonzero(ink[..., 0] > 0.2)  # box around the strokes
        boxes[i] = [x + cols.min(), y + rows.min(),
                    x + cols.max() + 1, y + rows.max() + 1]
        images[i] = canvas.transpose(2, 0, 1)
        labels[i] = digits.target[index]
    return torch.tensor(images), torch.tensor(boxes), torch.tensor(labels)


rng = np.random.default_rng(SEED)
x_train, box_train, y_train = compose(N_TRAIN, "train", rng)
x_valid, box_valid, y_valid = compose(N_VALID, "valid", rng)
print(f"generated {N_TRAIN} training and {N_VALID} validation images")
# --8<-- [end:data]


# --8<-- [start:model]
# One body, two heads: 10 class scores and 4 box edges. N_SEEDS detectors
# run as one network: grouped convolutions keep their channels apart, and
# the linear layers carry a leading "seed" dimension. The first convolution
# steps 2 pixels at a time: half the compute, the same 4x4 grid at the end.
class Detectors(nn.Module):
    """N independent detectors; input (batch, N, 3, 32, 32)."""

    def __init__(self, n, width=(8, 16, 32), hidden=128):
        super().__init__()
        layers, before = [], 3
        for k, channels in enumerate(width):  # 32 -> 16 -> 8 -> 4 pixels
            layers += [nn.Conv2d(n * before, n * channels, 3, padding=1,
                                 groups=n, stride=2 if k == 0 else 1),
                       nn.BatchNorm2d(n * channels), nn.ReLU()]
            layers += [nn.MaxPool2d(2)] if k else []
            before = channels
        self.n, self.body = n, nn.Sequential(*layers)
        features = before * (SIZE // 8) ** 2  # keeps *where* things are

        def linear(i, o):
            bound = i ** -0.5  # PyTorch's default nn.Linear init
            return nn.Parameter(torch.empty(n, i, o).uniform_(-bound, bound))
        self.hidden, self.classes, self.box = (
            linear(features, hidden), linear(hidden, 10), linear(hidden, 4))

    def forward(self, x):
        x = x.flatten(1, 2).contiguous(memory_format=torch.channels_last)
        h = self.body(x)  # (batch, N * C, 4, 4)
        h = h.unflatten(1, (self.n, -1)).flatten(2)  # (batch, N, C*4*4)
        h = torch.einsum("bni,nio->bno", h, self.hidden).relu()
        logits = torch.einsum("bni,nio->bno", h, self.classes)
        box = torch.einsum("bni,nio->bno", h, self.box)
        return logits, torch.sigmoid(box) * SIZE  # box in pixels


model = Detectors(N_SEEDS).to(device, memory_format=torch.channels_last)
# --8<-- [end:model]


# --8<-- [start:train]
# Each copy draws its own batches; the loss adds the copies' losses, so
# each copy's gradient is its own. The box loss is the L1 distance of the
# edges (as a fraction of the image), weighted against cross-entropy.
def iou(a, b):
    """Intersection over union of boxes (..., 4) as (x0, y0, x1, y1)."""
    width = (torch.minimum(a[..., 2], b[..., 2])
             - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    height = (torch.minimum(a[..., 3], b[..., 3])
              - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = width * height

    def area(r):
        return ((r[..., 2] - r[..., 0]).clamp(min=0)
                * (r[..., 3] - r[..., 1]).clamp(min=0))
    return inter / (area(a) + area(b) - inter)


optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE,
                              weight_decay=1e-4)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE,
                                               total_steps=STEPS)
generator = torch.Generator().manual_seed(SEED)
model.train()
for step in range(STEPS):
    batch = torch.randint(N_TRAIN, (BATCH_SIZE, N_SEEDS),
                          generator=generator)  # own batch per copy
    x, box = x_train[batch].to(device), box_train[batch].to(device)
    y = y_train[batch].to(device)
    logits, predicted = model(x)
    loss = (F.cross_entropy(logits.flatten(0, 1), y.flatten())
            + BOX_WEIGHT * F.l1_loss(predicted / SIZE, box / SIZE))
    optimizer.zero_grad()
    (loss * N_SEEDS).backward()  # the sum of the copies' mean losses
    optimizer.step()
    schedule.step()
    if step % 50 == 0 or step == STEPS - 1:
        print(f"step {step}: mean loss of the copies {loss.item():.3f}")

model.eval()
with torch.no_grad():
    x = x_valid[:, None].expand(-1, N_SEEDS, -1, -1, -1)
    logits, predicted = model(x.to(device))
    logits, predicted = logits.cpu(), predicted.cpu()  # (valid, seeds, .)
    overlaps = iou(predicted, box_valid[:, None])  # (valid, seeds)
    correct = logits.argmax(-1) == y_valid[:, None]
print(f"mean IoU per seed {overlaps.mean(0).numpy().round(3)}, "
      f"class accuracy {correct.double().mean(0).numpy().round(3)}")
# --8<-- [end:train]

# --8<-- [start:baseline]
# Baselines a practitioner tries first: always predict the mean training
# box; and a ridge regression from the pixels (averaged over 2x2 blocks)
# to the four edges and the ten one-hot class columns, its penalty chosen
# on a held-out fifth of the training images.
def features(x):
    f = F.avg_pool2d(x, 2).flatten(1).double()
    return torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], dim=1)


targets = torch.cat([box_train / SIZE,
                     F.one_hot(y_train, 10).float()], dim=1).double()
fit, held = slice(0, N_TRAIN * 4 // 5), slice(N_TRAIN * 4 // 5, N_TRAIN)


def ridge(rows, penalty):
    a = features(x_train[rows])
    gram = a.T @ a + penalty * torch.eye(a.shape[1], dtype=a.dtype)
    return torch.linalg.solve(gram, a.T @ targets[rows])


def ridge_scores(weights, x, box, y):
    out = features(x) @ weights
    return (iou(out[:, :4].float() * SIZE, box),
            out[:, 4:].argmax(1) == y, out[:, :4].float() * SIZE)


PENALTIES = [0.1, 1.0, 10.0, 100.0, 1000.0]
held_iou = [ridge_scores(ridge(fit, p), x_train[held], box_train[held],
                         y_train[held])[0].mean() for p in PENALTIES]
penalty = PENALTIES[int(np.argmax(held_iou))]
base_iou, base_correct, base_box = ridge_scores(
    ridge(slice(None), penalty), x_valid, box_valid, y_valid)
mean_box = box_train.mean(0, keepdim=True)
mean_box_iou = iou(mean_box, box_valid)
print(f"ridge (penalty {penalty}): mean IoU {base_iou.mean():.3f}, "
      f"class accuracy {base_correct.double().mean():.3f}; "
      f"mean box: mean IoU {mean_box_iou.mean():.3f}")
# --8<-- [end:baseline]

# --8<-- [start:report]
# Per seed: mean IoU, share of boxes with IoU >= 0.5, class accuracy and
# both together; the table shows mean ± std over the seeds.
found = overlaps >= 0.5
per_seed = {
    "mean IoU": overlaps.mean(0),
    "IoU ≥ 0.5": found.double().mean(0),
    "class accuracy": correct.double().mean(0),
    "class right and IoU ≥ 0.5": (found & correct).double().mean(0),
}
ridge_row = [base_iou.mean(), (base_iou >= 0.5).double().mean(),
             base_correct.double().mean(),
             ((base_iou >= 0.5) & base_correct).double().mean()]
mean_box_row = [mean_box_iou.mean(), (mean_box_iou >= 0.5).double().mean(),
                0.1, 0.1 * (mean_box_iou >= 0.5).double().mean()]
table = pd.DataFrame({
    "measure": list(per_seed),
    f"CNN (mean ± std, {N_SEEDS} seeds)": [
        f"{v.mean():.3f} ± {v.std():.3f}" for v in per_seed.values()],
    "ridge on pixels": [f"{float(v):.3f}" for v in ridge_row],
    "mean box (chance class)": [f"{float(v):.3f}" for v in mean_box_row],
})
(OUT / "results.md").write_text(
    table.to_markdown(index=False, disable_numparse=True) + "\n")
# --8<-- [end:report]

shown = range(10)
classes = logits[:, 0].argmax(-1)  # the first seed's answers


def draw_boxes():
    fig, axes = plt.subplots(2, 5, figsize=(6.4, 3.3))
    for ax, i in zip(axes.flat, shown, strict=True):
        ax.imshow(x_valid[i].permute(1, 2, 0).clamp(0, 1),
                  interpolation="nearest", extent=(0, SIZE, SIZE, 0))
        for b, c, ls in [(box_valid[i], COLORS[2], "-"),
                         (predicted[i, 0], COLORS[3], "--"),
                         (base_box[i], COLORS[5], ":")]:
            ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0],
                                       b[3] - b[1], fill=False, color=c,
                                       lw=2, ls=ls))
        mark = "✓" if classes[i] == y_valid[i] else "✗"
        ax.set_title(f"says {classes[i].item()} {mark}\n"
                     f"IoU {overlaps[i, 0]:.2f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def draw_iou():
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    bins = np.linspace(0, 1, 21)
    ink = plt.rcParams["text.color"]
    counts = np.stack([np.histogram(overlaps[:, s], bins)[0]
                       for s in range(N_SEEDS)]) / N_VALID
    centres = (bins[:-1] + bins[1:]) / 2
    ax.bar(centres, counts.mean(0), 0.05, yerr=counts.std(0, ddof=1),
           color=COLORS[0], ecolor=ink, capsize=2,
           label=f"CNN (mean ± std of {N_SEEDS} seeds)")
    for values, c, label in [(base_iou, COLORS[1], "ridge on pixels"),
                             (mean_box_iou, COLORS[4], "mean box")]:
        ax.step(centres, np.histogram(values, bins)[0] / N_VALID,
                where="mid", color=c, lw=2, label=label)
    ax.axvline(0.5, color=ink, ls=":", lw=1)
    ax.yaxis.set_major_formatter(plt.FuncFormatter("{:.0%}".format))
    ax.set(xlabel="IoU of predicted and true box",
           ylabel="share of validation images")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


save_figure(draw_boxes, "boxes")
save_figure(draw_iou, "iou")


def mean_std(name, values):
    return {f"{name}_mean": round(float(values.mean()), 4),
            f"{name}_std": round(float(values.std()), 4)}


seed_iou = overlaps.mean(0)
metrics = {
    "n_train": N_TRAIN,
    "n_valid": N_VALID,
    "n_seeds": N_SEEDS,
    "steps": STEPS,
    "image_size": SIZE,
    **mean_std("mean_iou", seed_iou),
    **mean_std("iou_above_half", per_seed["IoU ≥ 0.5"]),
    **mean_std("class_accuracy", per_seed["class accuracy"]),
    **mean_std("detected", per_seed["class right and IoU ≥ 0.5"]),
    "baseline_ridge_penalty": penalty,
    "baseline_mean_iou": round(float(ridge_row[0]), 4),
    "baseline_iou_above_half": round(float(ridge_row[1]), 4),
    "baseline_class_accuracy": round(float(ridge_row[2]), 4),
    "baseline_detected": round(float(ridge_row[3]), 4),
    "baseline_meanbox_iou": round(float(mean_box_row[0]), 4),
    "baseline_meanbox_iou_above_half": round(float(mean_box_row[1]), 4),
    "iou_wins": int((seed_iou > ridge_row[0]).sum()),
    "class_wins": int((per_seed["class accuracy"] > ridge_row[2]).sum()),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))

# Build checks (read by the site's build; harmless when run by hand):
# About 30 CPU seconds; the margin is for a busy machine.
# dlnotes: timeout 900
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect quick mean_iou_mean >= 0.2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full mean_iou_mean >= 0.45
# dlnotes: expect full class_accuracy_mean >= 0.13
# The page reports the CNN's wins over the ridge baseline; fail only if the
# baseline clearly wins.
# dlnotes: expect full iou_wins >= 3
# dlnotes: expect full baseline_meanbox_iou >= 0.1
