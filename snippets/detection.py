"""Object detection in miniature: find a handwritten digit in a photo, say which digit it is.

The images are GENERATED: real handwritten digits (scikit-learn's scans) pasted, at a random size
and place and in a random colour, onto crops of real photos (scikit-image, scikit-learn). One
small CNN predicts the digit's class and its bounding box. Run it alone with
`python detection.py`; outputs go to DLNOTES_OUT (default ./outputs/detection).
DLNOTES_QUICK=1 trains on fewer images for fewer steps.
"""
# dlnotes: expect quick mean_iou >= 0.4
# dlnotes: expect quick iou_above_half >= 0.4
# dlnotes: expect full mean_iou >= 0.6
# dlnotes: expect full class_accuracy >= 0.5

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
import torch.nn.functional as F
from skimage import data
from skimage.transform import rescale
from sklearn.datasets import load_digits, load_sample_images
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
SIZE = 32  # pixels: every generated image is 32 x 32, colour
OBJECT_SIZES = (12, 22)  # pixels: the pasted digit is between 12 and 22 pixels tall
N_TRAIN = 1000 if QUICK else 10000
N_VALID = 300 if QUICK else 1000
STEPS = 70 if QUICK else 700
BATCH_SIZE = 64
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

# --8<-- [start:data]
backgrounds = [np.asarray(p, dtype=np.float32) / 255 for p in load_sample_images().images]
backgrounds += [getattr(data, n)() / 255.0 for n in ["astronaut", "coffee", "chelsea", "rocket"]]
backgrounds += [np.repeat(getattr(data, n)()[..., None] / 255.0, 3, axis=2)
                for n in ["brick", "grass", "gravel", "camera"]]
backgrounds = [rescale(b, 160 / max(b.shape[:2]), channel_axis=2, anti_aliasing=True)
               for b in backgrounds]  # longer side 160 px: a 32 px crop shows a scene part
digits = load_digits()
order = np.random.default_rng(SEED).permutation(len(digits.target))
digit_split = {"train": order[: len(order) * 3 // 4], "valid": order[len(order) * 3 // 4:]}


def compose(n, split, rng):
    """n generated images: a digit pasted on a photo crop. Backgrounds come from the top 3/4
    of each photo for training and the bottom 1/4 for validation; the digits are split too."""
    images = np.empty((n, 3, SIZE, SIZE), dtype=np.float32)
    boxes = np.empty((n, 4), dtype=np.float32)  # x0, y0, x1, y1 in pixels
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        photo = backgrounds[rng.integers(len(backgrounds))]
        height, width = photo.shape[:2]
        border = height - max(SIZE, height // 4)  # rows below it: validation backgrounds
        top = rng.integers(0, border - SIZE, endpoint=True) if split == "train" else (
            rng.integers(border, height - SIZE, endpoint=True))
        left = rng.integers(0, width - SIZE)
        canvas = photo[top:top + SIZE, left:left + SIZE].copy()
        index = rng.choice(digit_split[split])
        size = int(rng.integers(*OBJECT_SIZES, endpoint=True))
        ink = F.interpolate(torch.tensor(digits.images[index] / 16.0)[None, None].float(),
                            size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        ink = ink.clamp(0, 1).numpy()
        y, x = rng.integers(0, SIZE - size, endpoint=True, size=2)
        region = canvas[y:y + size, x:x + size]
        light = region.mean() < 0.5  # light ink on dark ground, dark ink on light ground
        colour = rng.uniform(0.75, 1.0, 3) if light else rng.uniform(0.0, 0.25, 3)
        canvas[y:y + size, x:x + size] = region * (1 - ink[..., None]) + colour * ink[..., None]
        rows, cols = np.nonzero(ink > 0.2)  # the box around the visible strokes
        boxes[i] = [x + cols.min(), y + rows.min(), x + cols.max() + 1, y + rows.max() + 1]
        images[i] = canvas.transpose(2, 0, 1)
        labels[i] = digits.target[index]
    return torch.tensor(images), torch.tensor(boxes), torch.tensor(labels)


rng = np.random.default_rng(SEED)
x_train, box_train, y_train = compose(N_TRAIN, "train", rng)
x_valid, box_valid, y_valid = compose(N_VALID, "valid", rng)
print(f"generated {N_TRAIN} training and {N_VALID} validation images")
# --8<-- [end:data]

# --8<-- [start:model]
class Detector(nn.Module):
    """A shared convolutional body, then two heads: 10 class scores and 4 box coordinates."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),  # 64 x 4 x 4: keeps *where* things are, which the box needs
            nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
        )
        self.classes = nn.Linear(128, 10)
        self.box = nn.Linear(128, 4)

    def forward(self, x):
        h = self.body(x)
        return self.classes(h), torch.sigmoid(self.box(h)) * SIZE  # box in pixels


model = Detector().to(device).to(memory_format=torch.channels_last)  # faster on CPU
# --8<-- [end:model]


# --8<-- [start:train]
def iou(a, b):
    """Intersection over union of boxes (x0, y0, x1, y1), row by row."""
    width = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    height = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = width * height
    area = lambda r: (r[:, 2] - r[:, 0]).clamp(min=0) * (r[:, 3] - r[:, 1]).clamp(min=0)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=1e-4)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=STEPS)
generator = torch.Generator().manual_seed(SEED)
model.train()
for step in range(STEPS):
    batch = torch.randint(N_TRAIN, (BATCH_SIZE,), generator=generator)
    x, box, y = x_train[batch].to(device), box_train[batch].to(device), y_train[batch].to(device)
    logits, predicted = model(x)
    loss = F.cross_entropy(logits, y) + BOX_WEIGHT * F.l1_loss(predicted / SIZE, box / SIZE)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    schedule.step()
    if step % 150 == 0 or step == STEPS - 1:
        print(f"step {step}: loss {loss.item():.3f}")

model.eval()
with torch.no_grad():
    logits, predicted = model(x_valid.to(device))
    overlaps = iou(predicted, box_valid.to(device)).cpu()
    correct = (logits.argmax(dim=1).cpu() == y_valid)
print(f"mean IoU {overlaps.mean():.3f}, class accuracy {correct.float().mean():.3f}")
# --8<-- [end:train]

# --8<-- [start:report]
predicted, labels_hat = predicted.cpu(), logits.argmax(dim=1).cpu()
fig, axes = plt.subplots(3, 5, figsize=(9.5, 7.2))
for ax, i in zip(axes.flat, range(15), strict=True):
    ax.imshow(x_valid[i].permute(1, 2, 0).clamp(0, 1), interpolation="nearest",
              extent=(0, SIZE, SIZE, 0))
    for b, style in [(box_valid[i], dict(color="lime", lw=2)),
                     (predicted[i], dict(color="red", lw=2, ls="--"))]:
        ax.add_patch(plt.Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, **style))
    mark = "✓" if labels_hat[i] == y_valid[i] else "✗"
    ax.set_title(f"says {labels_hat[i].item()} {mark} (is {y_valid[i].item()})\n"
                 f"IoU {overlaps[i]:.2f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle("Generated validation images: true box (green) and predicted box (red, dashed)")
fig.tight_layout()
fig.savefig(OUT / "boxes.png", dpi=110)
plt.close(fig)

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.hist(overlaps.numpy(), bins=np.linspace(0, 1, 21), color="tab:blue", edgecolor="white")
ax.axvline(0.5, color="black", ls=":", label="IoU 0.5: a usual 'found it' threshold")
ax.set(xlabel="IoU of predicted and true box", ylabel="validation images",
       title=f"Box overlap on {N_VALID} generated validation images")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "iou.png", dpi=110)
plt.close(fig)

both = correct & (overlaps >= 0.5)
table = pd.DataFrame({
    "measure": ["mean IoU", "IoU ≥ 0.5", "class accuracy", "class right and IoU ≥ 0.5"],
    "validation": [overlaps.mean().item(), (overlaps >= 0.5).float().mean().item(),
                   correct.float().mean().item(), both.float().mean().item()],
})
(OUT / "results.md").write_text(table.to_markdown(index=False, floatfmt=".3f") + "\n")
metrics = {
    "n_train": N_TRAIN,
    "n_valid": N_VALID,
    "steps": STEPS,
    "image_size": SIZE,
    "mean_iou": round(overlaps.mean().item(), 4),
    "iou_above_half": round((overlaps >= 0.5).float().mean().item(), 4),
    "class_accuracy": round(correct.float().mean().item(), 4),
    "detected": round(both.float().mean().item(), 4),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
