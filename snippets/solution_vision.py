"""Solutions to the vision page's exercises: three changed set-ups.

(1) out_of_domain.py's digits CNN shown its own validation digits turned
upside down; (2) augmentation.py's 50-digit runs with rotations of up to
0 (no augmentation), 10 (the page's setting) and 90 degrees, side by side;
(3) detection.py's detector with BOX_WEIGHT 1 and 10, side by side;
(4) onet_transfer.py's fine-tuned O-Net body and its random start, on its
two tasks, trained for more steps than there and scored along the way.
Each over 5 seeds; (1) to (3) train for less than the pages' runs so that
they fit in a few seconds; every comparison is made inside this script,
like with like. Exercise 4 reads MTCNN's O-Net weights from the wheel of
facenet-pytorch 2.6.0 (`pip install --no-deps facenet-pytorch==2.6.0`;
see snippets/pretrained_faces.py for where they come from). Run it alone
with `python solution_vision.py`; outputs go to DLNOTES_OUT (default
./outputs/solution_vision). DLNOTES_QUICK=1 runs fewer seeds for fewer
steps.
"""

# --8<-- [start:setup]
# The four set-ups' sizes. The first three train for less than the pages
# do, so that the solutions cost seconds; each compares its variants with
# each other.
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage import data
from skimage.transform import rescale, resize
from sklearn.datasets import load_digits, load_sample_images
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
N_SEEDS = 2 if QUICK else 5  # runs: data, starting weights, batch order
SEEDS = list(range(N_SEEDS))
LEARNING_RATE = 3e-3
CONFIDENT = 0.9  # exercise 1: "the model is sure"
OOD_EPOCHS = 1 if QUICK else 3  # exercise 1 (the page: 7)
AUG_DEGREES = (0, 10, 90)  # exercise 2: none, the page's, the exercise's
AUG_EPOCHS = 10 if QUICK else 30  # (the page: 100)
PER_CLASS, AUG_VALID, WINDOW = 5, 200, 3  # (the page: 500 digits)
BOX_WEIGHTS = (1.0, 10.0)  # exercise 3: the exercise's, the page's
DET_TRAIN = 300 if QUICK else 800  # generated images (the page: 4000)
DET_VALID = 200  # (the page: 1000)
DET_STEPS = 15 if QUICK else 50  # (the page: 200)
DET_BATCH = 16  # (the page: 48)
ONET_K = 3  # exercise 4: onet_transfer.py's labels per class,
ONET_TEST_FACES = 4 if QUICK else 16  # its test faces (4 turns each),
ONET_TEST_PATCHES = 8 if QUICK else 24  # its test patches per texture,
ONET_LEARNING_RATE = 1e-3  # its Adam; its STEPS (12), then 18 steps
ONET_STEPS = (2, 4) if QUICK else (12, 18)  # (48 steps: over the budget)
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_vision"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_vision.py: cannot write to {OUT}: {err.strerror}")
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]




# --8<-- [start:cnn]
# Exercises 1 and 2 use the digits CNN of the losses page. As in
# augmentation.py, all copies train side by side as one network (grouped
# convolutions, a leading model axis in the last layer); copies that share
# a seed share their starting weights and batch order.
digits = load_digits()
images = torch.tensor(digits.images / 16.0, dtype=torch.float32)  # N,8,8
labels = torch.tensor(digits.target)


def make_model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32 * 4 * 4, 10),
    )


class Models(nn.Module):
    """The CNNs of `nets` as one: input (batch, models, 8, 8)."""

    def __init__(self, nets):
        super().__init__()
        n, self.n = len(nets), len(nets)
        self.conv1 = nn.Conv2d(n, n * 16, 3, padding=1, groups=n)
        self.conv2 = nn.Conv2d(n * 16, n * 32, 3, padding=1, groups=n)
        with torch.no_grad():  # each model starts from its own weights
            for conv, i in [(self.conv1, 0), (self.conv2, 2)]:
                conv.weight.copy_(torch.cat([m[i].weight for m in nets]))
                conv.bias.copy_(torch.cat([m[i].bias for m in nets]))
        self.weight = nn.Parameter(torch.stack(
            [m[-1].weight.detach().T for m in nets]))  # (n, 512, 10)
        self.bias = nn.Parameter(torch.stack(
            [m[-1].bias.detach() for m in nets]))  # (n, 10)

    def forward(self, x):
        h = F.max_pool2d(self.conv2(self.conv1(x).relu()).relu(), 2)
        h = F.dropout(h.unflatten(1, (self.n, -1)).flatten(2), 0.5,
                      self.training)  # (batch, models, 512)
        return torch.einsum("bmi,mio->bmo", h, self.weight) + self.bias


def augment(x, degrees, generator):
    """augmentation.py's rotation (up to `degrees`, one per image) and
    shift (-1, 0 or +1 pixel) of every image in x (N, 1, 8, 8)."""
    n = len(x)
    angle = torch.deg2rad((torch.rand(n, generator=generator) * 2 - 1)
                          * degrees)
    shift = torch.round(torch.rand(n, 2, generator=generator) * 2 - 1)
    shift = shift * 2 / x.shape[-1]  # pixels -> affine_grid's [-1, 1]
    theta = torch.stack([
        torch.stack([angle.cos(), -angle.sin(), shift[:, 0]], dim=1),
        torch.stack([angle.sin(), angle.cos(), shift[:, 1]], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", align_corners=False)


def as_input(x):
    """(models, n, 8, 8) -> the network's (n, models, 8, 8) layout."""
    return x.transpose(0, 1).contiguous(memory_format=torch.channels_last)


def train_cnns(x_train, y_train, seeds, degrees, epochs, batch_size,
               after_epoch=None):
    """One CNN per model m: seed seeds[m], rotations up to degrees[m]
    (0: no augmentation); x_train (models, n, 8, 8)."""
    model = Models([make_model(SEED + s) for s in seeds]).to(
        device, memory_format=torch.channels_last)
    x_train, y_train = x_train.to(device), y_train.to(device)
    n_models, n_train = y_train.shape
    seeds, degrees = torch.tensor(seeds), torch.tensor(degrees, dtype=float)
    augmented = degrees > 0
    optimizer = torch.optim.Adam(model.parameters(), LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)
    rows = torch.arange(n_models)[:, None]
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.stack([torch.randperm(n_train, generator=generator)
                             for _ in SEEDS])[seeds]  # one order per seed
        for batch in order.split(batch_size, dim=1):
            x, y = x_train[rows, batch], y_train[rows, batch]
            if augmented.any():
                turn = degrees[augmented, None].expand(-1, x.shape[1])
                x[augmented] = augment(x[augmented].flatten(0, 1)[:, None],
                                       turn.flatten().float(), generator
                                       )[:, 0].view_as(x[augmented])
            loss = F.cross_entropy(model(as_input(x)).flatten(0, 1),
                                   y.T.flatten(), reduction="none")
            loss.view(y.T.shape).mean(0).sum().backward()  # own mean each
            optimizer.step()
            optimizer.zero_grad()
        if after_epoch:
            model.eval()
            after_epoch(model, epoch)
    model.eval()
    return model
# --8<-- [end:cnn]


def mean_std(values, places=4):
    values = torch.as_tensor(values, dtype=torch.float64)
    return {"mean": round(float(values.mean()), places),
            "std": round(float(values.std()), places)}


def auroc(inside, outside):
    """Chance that a random digit scores above a random outsider."""
    above = (inside[:, None] > outside[None]).double().mean()
    tied = (inside[:, None] == outside[None]).double().mean()
    return float(above + tied / 2)


def listing(items):
    """'a', 'a and b', 'a, b and c'; 'none' when empty."""
    items = [str(i) for i in items]
    if not items:
        return "none"
    return (", ".join(items[:-1]) + " and " + items[-1]
            if len(items) > 1 else items[0])


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1))
             + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --8<-- [start:upside_down]
# Exercise 1: out_of_domain.py's 80/20 split per seed and its CNN (batch
# 64), trained for OOD_EPOCHS. Each seed's validation digits are scored as
# they are and turned upside down (np.rot90(image, 2): both axes flipped),
# by the model's confidence and by the baseline, minus the pixel distance
# to the nearest training digit.
splits = [train_test_split(np.arange(len(labels)), test_size=0.2,
                           random_state=SEED + s, stratify=digits.target)
          for s in SEEDS]
train_idx = np.stack([t for t, _ in splits])  # (seeds, 1437)
valid_idx = np.stack([v for _, v in splits])  # (seeds, 360)
cnn = train_cnns(images[train_idx], labels[train_idx], SEEDS,
                 [0] * N_SEEDS, OOD_EPOCHS, 64)


def scores(x):
    """Confidence, answer and familiarity of x (seeds, n, 8, 8)."""
    with torch.no_grad():
        logits = cnn(as_input(x.to(device))).transpose(0, 1).cpu()
    nearest = torch.cdist(x.flatten(2), images[train_idx].flatten(2))
    return (logits.softmax(-1).max(-1).values, logits.argmax(-1),
            -nearest.min(-1).values)


upright = scores(images[valid_idx])
turned = scores(images[valid_idx].flip(-2, -1))  # upside down
truth = labels[valid_idx]  # (seeds, 360): the digit before turning
ud = {"epochs": OOD_EPOCHS,
      "valid_accuracy": mean_std((upright[1] == truth).double().mean(1)),
      "upright_confident": mean_std((upright[0] > CONFIDENT).double()
                                    .mean(1)),
      "confident": mean_std((turned[0] > CONFIDENT).double().mean(1)),
      "auroc_msp": mean_std([auroc(upright[0][s], turned[0][s])
                             for s in SEEDS], 3),
      "auroc_nearest": mean_std([auroc(upright[2][s], turned[2][s])
                                 for s in SEEDS], 3)}
ud["baseline_beats_msp"] = sum(
    auroc(upright[2][s], turned[2][s]) > auroc(upright[0][s], turned[0][s])
    for s in SEEDS)
per_digit, rows = {}, []
for c in range(10):
    mask = truth == c  # the same number of each digit in every seed
    named = torch.bincount(turned[1][mask], minlength=10) / mask.sum()
    said = int(named.argmax())
    d = {"named": said, "named_share": round(float(named[said]), 3),
         "named_9": round(float(named[9]), 3),
         "named_6": round(float(named[6]), 3),
         "confidence": round(float(turned[0][mask].mean()), 3),
         "confident": round(float((turned[0][mask] > CONFIDENT)
                                  .double().mean()), 3),
         "auroc_msp": round(float(np.mean([
             auroc(upright[0][s], turned[0][s][mask[s]])
             for s in SEEDS])), 3),
         "auroc_nearest": round(float(np.mean([
             auroc(upright[2][s], turned[2][s][mask[s]])
             for s in SEEDS])), 3)}
    per_digit[f"digit_{c}"] = d
    rows.append([c, f"{said} ({d['named_share']:.0%})",
                 f"{d['confidence']:.2f}", f"{d['confident']:.0%}",
                 f"{d['auroc_msp']:.3f}", f"{d['auroc_nearest']:.3f}"])
ud |= per_digit
ud["high_confidence_digits"] = listing(
    c for c in range(10) if per_digit[f"digit_{c}"]["confident"] >= 0.5)
ud["same_label_digits"] = listing(
    c for c in range(10) if per_digit[f"digit_{c}"]["named"] == c)
ud["baseline_flags_digits"] = listing(
    c for c in range(10) if per_digit[f"digit_{c}"]["auroc_nearest"] >= 0.9)
ud["baseline_misses_digits"] = listing(
    c for c in range(10) if per_digit[f"digit_{c}"]["auroc_nearest"] < 0.9)
rows.append(["all", "",
             f"{turned[0].mean():.2f}",
             f"{ud['confident']['mean']:.0%}",
             f"{ud['auroc_msp']['mean']:.3f} ± {ud['auroc_msp']['std']:.3f}",
             f"{ud['auroc_nearest']['mean']:.3f} ± "
             f"{ud['auroc_nearest']['std']:.3f}"])
(OUT / "upside_down.md").write_text(markdown(
    ["digit turned", "named (share)", "mean confidence",
     f"confidence > {CONFIDENT}", "AUROC confidence",
     "AUROC nearest digit (baseline)"], rows))
print("upside down:", json.dumps({k: v for k, v in ud.items()
                                  if not k.startswith("digit_")}))
# --8<-- [end:upside_down]


# --8<-- [start:augmentation]
# Exercise 2: augmentation.py's 50 training digits and 500 validation
# digits per seed, trained with rotations of up to 0 (none), 10 and 90
# degrees side by side: inside a seed the three share data, starting
# weights and batch order. Errors: mean of the last WINDOW epochs.
train_a, valid_a = [], []
for s in SEEDS:
    rng = np.random.default_rng(SEED + s)  # a new small training set
    order = rng.permutation(len(labels))
    train_a.append(np.concatenate(
        [order[digits.target[order] == c][:PER_CLASS] for c in range(10)]))
    valid_a.append(np.setdiff1d(order, train_a[-1])[:AUG_VALID])
arms = [(deg, s) for deg in AUG_DEGREES for s in SEEDS]
train_a = np.array([train_a[s] for _, s in arms])
valid_a = np.array([valid_a[s] for _, s in arms])
x_valid, y_valid = as_input(images[valid_a].to(device)), labels[valid_a]
answers = []  # (models, 500) per epoch of the window


def record(model, epoch):
    if epoch > AUG_EPOCHS - WINDOW:
        with torch.no_grad():
            answers.append(model(x_valid).argmax(-1).T.cpu())


train_cnns(images[train_a], labels[train_a], [s for _, s in arms],
           [deg for deg, _ in arms], AUG_EPOCHS, 32, record)
answers = torch.stack(answers)  # (window, models, 500)
wrong = (answers != y_valid).double().mean(0)  # (models, 500)
error = wrong.mean(1).view(len(AUG_DEGREES), N_SEEDS)  # (arms, seeds)
aug = {"epochs": AUG_EPOCHS, "window": WINDOW,
       "train_size": PER_CLASS * 10, "n_valid": AUG_VALID}
for a, deg in enumerate(AUG_DEGREES):
    aug[f"error_{deg}"] = mean_std(error[a])
gain = error[0] - error  # lower error than without augmentation: > 0
for a, deg in enumerate(AUG_DEGREES[1:], 1):
    aug[f"gain_{deg}"] = mean_std(gain[a])
    aug[f"wins_{deg}"] = int((gain[a] > 0).sum())  # of N_SEEDS pairs
    aug[f"losses_{deg}"] = int((gain[a] < 0).sum())
aug["wins_90_over_10"] = int((error[2] < error[1]).sum())
aug["losses_90_vs_10"] = int((error[2] > error[1]).sum())
by_digit = torch.stack([(wrong * (y_valid == c)).sum(1)
                        / (y_valid == c).sum(1) for c in range(10)], -1)
by_digit = by_digit.view(len(AUG_DEGREES), N_SEEDS, 10)  # error per digit
rise = (by_digit[2] - by_digit[1]).mean(0)  # 90 against 10 degrees
worst = [int(c) for c in torch.argsort(-rise, stable=True)[:3]]
aug["worst_digits"] = listing(worst)
confused = {}
for a, deg in enumerate(AUG_DEGREES):
    pick = slice(a * N_SEEDS, (a + 1) * N_SEEDS)
    said, true = answers[:, pick], y_valid[pick].expand_as(answers[:, pick])
    six_nine = (((true == 6) & (said == 9)) | ((true == 9) & (said == 6)))
    confused[deg] = float(six_nine.sum() / ((true == 6) | (true == 9)).sum())
    aug[f"six_nine_{deg}"] = round(confused[deg], 4)
said_90 = answers[:, 2 * N_SEEDS:]  # the 90-degree arm's answers
true_90 = y_valid[2 * N_SEEDS:].expand_as(said_90)
rows = []
for c in range(10):
    others = torch.bincount(said_90[(true_90 == c) & (said_90 != c)],
                            minlength=10)
    often = f"{int(others.argmax())}" if others.sum() else "—"
    rows.append([c] + [f"{by_digit[a, :, c].mean():.1%}"
                       for a in range(len(AUG_DEGREES))] + [often])
    aug[f"digit_{c}"] = {f"error_{deg}": round(float(
        by_digit[a, :, c].mean()), 4) for a, deg in enumerate(AUG_DEGREES)}
rows.append(["all"] + [f"{aug[f'error_{d}']['mean']:.1%} ± "
                       f"{aug[f'error_{d}']['std']:.1%}"
                       for d in AUG_DEGREES] + [""])
(OUT / "augmentation.md").write_text(markdown(
    ["digit", "error, no augmentation", "error, up to 10°",
     "error, up to 90°", "most frequent wrong answer at 90°"], rows))
print("augmentation:", json.dumps({k: v for k, v in aug.items()
                                   if not k.startswith("digit_")}))
# --8<-- [end:augmentation]


# --8<-- [start:detection]
# Exercise 3: detection.py's generated images (fewer of them) and its
# detector, with BOX_WEIGHT 1 and 10 side by side for DET_STEPS steps.
# The two detectors of a seed share starting weights and batches, so the
# weight is the only difference inside a pair.
photos = [np.asarray(p, dtype=np.float32) / 255
          for p in load_sample_images().images]
photos += [getattr(data, n)() / 255.0
           for n in ["astronaut", "coffee", "chelsea", "rocket"]]
photos += [np.repeat(getattr(data, n)()[..., None] / 255.0, 3, axis=2)
           for n in ["brick", "grass", "gravel", "camera"]]
backgrounds = [rescale(b, 160 / max(b.shape[:2]), channel_axis=2,
                       anti_aliasing=True) for b in photos]
SIZE, OBJECT_SIZES = 32, (12, 22)
order = np.random.default_rng(SEED).permutation(len(digits.target))
cut = len(order) * 3 // 4
digit_split = {"train": order[:cut], "valid": order[cut:]}


def compose(n, split, rng):
    """detection.py's generator: a digit pasted on a photo crop."""
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


class Detectors(nn.Module):
    """detection.py's N detectors; input (batch, N, 3, 32, 32)."""

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
        features = before * (SIZE // 8) ** 2

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


rng = np.random.default_rng(SEED)
x_train, box_train, y_train = compose(DET_TRAIN, "train", rng)
x_valid, box_valid, y_valid = compose(DET_VALID, "valid", rng)
n_det = N_SEEDS * len(BOX_WEIGHTS)  # model m: weight m // N_SEEDS
torch.manual_seed(SEED)
one = Detectors(N_SEEDS)  # the seeds' starting weights, as on the page
model = Detectors(n_det)
with torch.no_grad():  # ... copied once per box weight
    for mine, theirs in zip(model.parameters(), one.parameters(),
                            strict=True):
        mine.copy_(torch.cat([theirs] * len(BOX_WEIGHTS)))
model = model.to(device, memory_format=torch.channels_last)
weight = torch.tensor(BOX_WEIGHTS).repeat_interleave(N_SEEDS).to(device)
optimizer = torch.optim.AdamW(model.parameters(), LEARNING_RATE,
                              weight_decay=1e-4)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE,
                                               total_steps=DET_STEPS)
generator = torch.Generator().manual_seed(SEED)
late = []  # training-mode losses of the last tenth of the steps
model.train()
for step in range(DET_STEPS):
    batch = torch.randint(DET_TRAIN, (DET_BATCH, N_SEEDS),
                          generator=generator).repeat(1, len(BOX_WEIGHTS))
    x, box = x_train[batch].to(device), box_train[batch].to(device)
    y = y_train[batch].to(device)
    logits, predicted = model(x)
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(),
                         reduction="none").view(y.shape).mean(0)
    l1 = (predicted / SIZE - box / SIZE).abs().mean((0, 2))  # per model
    (ce + weight * l1).sum().backward()  # each model its own loss
    optimizer.step()
    optimizer.zero_grad()
    schedule.step()
    if step >= DET_STEPS * 9 // 10:
        late.append(torch.stack([ce, l1]).detach().cpu())
late = torch.stack(late).mean(0).view(2, len(BOX_WEIGHTS), N_SEEDS)
model.eval()
with torch.no_grad():
    x = x_valid[:, None].expand(-1, n_det, -1, -1, -1)
    logits, predicted = (t.cpu() for t in model(x.to(device)))
overlaps = iou(predicted, box_valid[:, None])  # (valid, models)
correct = logits.argmax(-1) == y_valid[:, None]
per_model = {"mean_iou": overlaps.mean(0),
             "iou_above_half": (overlaps >= 0.5).double().mean(0),
             "class_accuracy": correct.double().mean(0),
             "detected": ((overlaps >= 0.5) & correct).double().mean(0)}
det = {"steps": DET_STEPS, "n_train": DET_TRAIN, "n_valid": DET_VALID}
for w, wt in enumerate(BOX_WEIGHTS):
    part = slice(w * N_SEEDS, (w + 1) * N_SEEDS)
    det[f"weight_{wt:g}"] = {
        **{k: mean_std(v[part]) for k, v in per_model.items()},
        "train_cross_entropy": round(float(late[0, w].mean()), 4),
        "train_box_l1": round(float(late[1, w].mean()), 4),
        "box_share": round(float((wt * late[1, w] / (
            late[0, w] + wt * late[1, w])).mean()), 4)}
ten = slice(N_SEEDS, None)
det["iou_wins_10"] = int((per_model["mean_iou"][ten]
                          > per_model["mean_iou"][:N_SEEDS]).sum())
det["class_wins_1"] = int((per_model["class_accuracy"][:N_SEEDS]
                           > per_model["class_accuracy"][ten]).sum())
det["baseline_meanbox_iou"] = round(float(iou(
    box_train.mean(0, keepdim=True), box_valid).mean()), 4)
rows = []
names = {"mean_iou": "mean IoU", "iou_above_half": "IoU ≥ 0.5",
         "class_accuracy": "class accuracy",
         "detected": "class right and IoU ≥ 0.5"}
for key, label in names.items():
    one_, ten_ = (det[f"weight_{wt:g}"][key] for wt in BOX_WEIGHTS)
    higher = int((per_model[key][:N_SEEDS] > per_model[key][ten]).sum())
    rows.append([label, f"{one_['mean']:.3f} ± {one_['std']:.3f}",
                 f"{ten_['mean']:.3f} ± {ten_['std']:.3f}",
                 f"{higher} of {N_SEEDS}"])
for key, label in [("train_cross_entropy", "cross-entropy (training)"),
                   ("train_box_l1", "box L1 error (training)")]:
    rows.append([label] + [f"{det[f'weight_{wt:g}'][key]:.3f}"
                           for wt in BOX_WEIGHTS] + [""])
(OUT / "detection.md").write_text(markdown(
    ["measure", "BOX_WEIGHT = 1", "BOX_WEIGHT = 10",
     "seeds where 1 is higher"], rows))
print("detection:", json.dumps(det))
# --8<-- [end:detection]

# --8<-- [start:onet_steps]
# Exercise 4: onet_transfer.py's set-up, copied so that this script stands
# alone: O-Net's trained body and the same body from random weights, side
# by side as one grouped model, on its two tasks with its splits, heads
# and random weights per seed. Each run trains for ONET_STEPS[-1] steps
# and is scored after each of ONET_STEPS: a shorter run is the start of
# the longer one (full batches and Adam: nothing else differs).
spec = importlib.util.find_spec("facenet_pytorch")
onet_dir = (Path(spec.origin).parent / "data" if spec and spec.origin
            else None)
if onet_dir is None or not (onet_dir / "onet.pt").is_file():
    sys.exit("solution_vision.py: exercise 4 needs MTCNN's trained "
             "weights: pip install --no-deps facenet-pytorch==2.6.0")
trained = torch.load(onet_dir / "onet.pt", map_location="cpu",
                     weights_only=True)
# name, channels in, out, kernel, max-pool (size, stride) after it
CONVS = [("1", 3, 32, 3, (3, 2)), ("2", 32, 64, 3, (3, 2)),
         ("3", 64, 64, 3, (2, 2)), ("4", 64, 128, 2, None)]
FEATURES = 256  # what dense5 hands the head


def random_like(shape, fan_in, generator):
    """PyTorch's default init: uniform within +-1 / sqrt(fan in)."""
    bound = fan_in ** -0.5
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def start_weights(n_classes, seeds):
    """Trained copies, then random copies, then a new head for each."""
    n = len(seeds)
    gens = [torch.Generator().manual_seed(1000 + s) for s in seeds]
    w = {}
    for i, c_in, c_out, k, _ in CONVS:
        shapes = [(c_out, c_in, k, k), (c_out,), (c_out,)]
        old = [trained[f"conv{i}.weight"], trained[f"conv{i}.bias"],
               trained[f"prelu{i}.weight"]]
        new = [[random_like(shapes[0], c_in * k * k, g),
                random_like(shapes[1], c_in * k * k, g),
                torch.full(shapes[2], 0.25)] for g in gens]
        for j, key in enumerate(("conv", "bias", "prelu")):
            w[f"{key}{i}"] = torch.cat([old[j]] * n + [r[j] for r in new])
    old = [trained["dense5.weight"].T, trained["dense5.bias"],
           trained["prelu5.weight"]]
    new = [[random_like((1152, FEATURES), 1152, g),
            random_like((FEATURES,), 1152, g),
            torch.full((FEATURES,), 0.25)] for g in gens]
    for j, key in enumerate(("dense5", "bias5", "prelu5")):
        w[key] = torch.stack([old[j]] * n + [r[j] for r in new])
    head = [random_like((FEATURES, n_classes), FEATURES, g) for g in gens]
    w["head"] = torch.stack(head * 2)  # a seed's two copies: same head
    w["head_bias"] = torch.zeros(2 * n, n_classes)
    w["conv1"] = w["conv1"].sum(1, keepdim=True)  # gray input: one channel
    return {key: v.to(device).requires_grad_() for key, v in w.items()}


def onet_logits(w, x):
    """x (batch, copies, 48, 48), O-Net's input scale -> class scores."""
    copies = x.shape[1]
    x = x.contiguous(memory_format=torch.channels_last)
    for i, *_, pool in CONVS:
        x = F.conv2d(x, w[f"conv{i}"], w[f"bias{i}"], groups=copies)
        x = F.prelu(x, w[f"prelu{i}"])
        if pool:
            x = F.max_pool2d(x, *pool, ceil_mode=True)
    # flatten each copy in (width, height, channel) order, as trained
    x = x.reshape(len(x), copies, 128, 3, 3).permute(0, 1, 4, 3, 2)
    x = torch.einsum("bcf,cfo->bco", x.flatten(2), w["dense5"])
    x = x + w["bias5"]
    x = torch.where(x >= 0, x, x * w["prelu5"])
    return torch.einsum("bcf,cfo->bco", x, w["head"]) + w["head_bias"]


def onet_scale(images):
    return (np.asarray(images, np.float32) * 255 - 127.5) / 128


lfw = data.lfw_subset()[:100].astype(np.float32)  # the 100 faces
faces = np.stack([resize(f / lfw.max(), (48, 48)) for f in lfw])


def which_way_up(seed):
    """K faces per turn to learn from; other faces at every turn."""
    order = np.random.default_rng(seed).permutation(len(faces))
    train = order[:4 * ONET_K]  # each face once, at angle i % 4
    x = [np.rot90(faces[f], i % 4) for i, f in enumerate(train)]
    test = order[4 * ONET_K:4 * ONET_K + ONET_TEST_FACES]
    x_test = [np.rot90(faces[f], a) for f in test for a in range(4)]
    return (onet_scale(x), np.arange(len(x)) % 4, onet_scale(x_test),
            np.tile(np.arange(4), len(test)))


textures = [getattr(data, name)().astype(np.float32) / 255
            for name in ("brick", "grass", "gravel")]  # 512 x 512 gray


def patch(photo, top, left):
    """A 48 x 48 patch, brightness and contrast set the same for all."""
    p = photo[top:top + 48, left:left + 48]
    return 0.5 + 0.15 * (p - p.mean()) / (p.std() + 1e-6)


def which_texture(seed):
    """K patches per texture from the top half of its photo, test
    patches from the bottom half."""
    rng = np.random.default_rng(seed)
    x, y, x_test, y_test = [], [], [], []
    for label, photo in enumerate(textures):
        half = photo.shape[0] // 2
        for n, rows, out, labels_ in [(ONET_K, (0, half - 48), x, y),
                                      (ONET_TEST_PATCHES,
                                       (half, 2 * half - 48), x_test,
                                       y_test)]:
            tops = rng.integers(*rows, n, endpoint=True)
            lefts = rng.integers(0, photo.shape[1] - 48, n, endpoint=True)
            out += [patch(photo, t, c) for t, c in zip(tops, lefts,
                                                       strict=True)]
            labels_ += [label] * n
    return onet_scale(x), np.array(y), onet_scale(x_test), np.array(y_test)


def stack(arrays):
    """Per-seed arrays (seed, b, 48, 48) -> (b, copies, 48, 48), twice:
    once for the trained copies, once for the random ones."""
    x = torch.as_tensor(np.stack(arrays)).transpose(0, 1)
    return torch.cat([x, x], 1).to(device)


def train_onet(task, n_classes):
    """Accuracy on held-out images and training loss of every copy after
    each of ONET_STEPS; copies 0..N-1 trained start, N..2N-1 random."""
    splits = [task(SEED + s) for s in SEEDS]
    x, y, x_test, y_test = [list(a) for a in zip(*splits, strict=True)]
    x, x_test = stack(x), stack(x_test)
    y = torch.as_tensor(np.stack(y * 2), device=device).T  # (b, copies)
    y_test = torch.as_tensor(np.stack(y_test * 2)).T
    w = start_weights(n_classes, SEEDS)
    optimiser = torch.optim.Adam(w.values(), lr=ONET_LEARNING_RATE)
    accuracy, loss_at = {}, {}
    for step in range(1, ONET_STEPS[-1] + 1):
        out = onet_logits(w, x)
        loss = F.cross_entropy(out.permute(0, 2, 1), y, reduction="none")
        optimiser.zero_grad()
        loss.mean(0).sum().backward()  # each copy: its own gradient
        optimiser.step()
        if step in ONET_STEPS:
            loss_at[step] = loss.mean(0).detach().cpu()
            with torch.no_grad():  # in chunks: less memory to allocate
                said = torch.cat([onet_logits(w, chunk) for chunk
                                  in x_test.split(16)]).argmax(-1).cpu()
            accuracy[step] = (said == y_test).double().mean(0)
            print(f"  step {step}: test accuracy, trained start "
                  f"{accuracy[step][:N_SEEDS].mean():.3f}, random start "
                  f"{accuracy[step][N_SEEDS:].mean():.3f}")
    return accuracy, loss_at, len(y_test)


short, long = ONET_STEPS
onet = {"steps_short": short, "steps_long": long}
rows = [[f"fine-tuned, {short} steps"], [f"fine-tuned, {long} steps"],
        [f"random start, {short} steps"], [f"random start, {long} steps"],
        [f"seeds: random at {long} ≥ fine-tuned at {short}"],
        [f"seeds: random at {long} ≥ fine-tuned at {long}"]]
for name, task, n_classes in [("faces", which_way_up, 4),
                              ("textures", which_texture, 3)]:
    print(f"exercise 4, {name}: {N_SEEDS} seeds, steps {ONET_STEPS}")
    accuracy, loss_at, n_test = train_onet(task, n_classes)
    r, acc = {"n_test": n_test}, {}
    for who, part in [("fine_tuned", slice(0, N_SEEDS)),
                      ("scratch", slice(N_SEEDS, None))]:
        for s, when in [(short, "short"), (long, "long")]:
            acc[who, when] = accuracy[s][part]
            r[f"{who}_{when}"] = mean_std(acc[who, when])
            r[f"train_loss_{who}_{when}"] = round(float(
                loss_at[s][part].mean()), 4)
        change = acc[who, "long"] - acc[who, "short"]
        r[f"{who}_change"] = mean_std(change)
        r[f"{who}_rose"] = int((change > 0).sum())
        r[f"{who}_fell"] = int((change < 0).sum())
    for when in ("short", "long"):  # ties count as reached
        r[f"gap_{when}"] = mean_std(acc["fine_tuned", when]
                                    - acc["scratch", when])
        r[f"scratch_long_reached_{when}"] = int(
            (acc["scratch", "long"] >= acc["fine_tuned", when]).sum())
    onet[name] = r
    cells = [f"{r[k]['mean']:.1%} ± {r[k]['std']:.1%}" for k in (
        "fine_tuned_short", "fine_tuned_long", "scratch_short",
        "scratch_long")] + [f"{r[f'scratch_long_reached_{when}']} of "
                            f"{N_SEEDS}" for when in ("short", "long")]
    for row, cell in zip(rows, cells, strict=True):
        row.append(cell)
(OUT / "onet_steps.md").write_text(markdown(
    ["starting point, steps", "which way up (faces)", "which texture"],
    rows))
print("onet steps:", json.dumps(onet))
# --8<-- [end:onet_steps]

metrics = {"n_seeds": N_SEEDS, "upside_down": ud, "augmentation": aug,
           "detection": det, "onet_steps": onet,
           # the simple baselines next to each model, for the checks
           "baseline_upside_down_auroc": ud["auroc_nearest"]["mean"],
           "baseline_no_augmentation_error": aug["error_0"]["mean"],
           "baseline_meanbox_iou": det["baseline_meanbox_iou"]}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick n_seeds >= 2
# dlnotes: expect full n_seeds >= 5
# dlnotes: expect full upside_down.valid_accuracy.mean >= 0.9
# dlnotes: expect full augmentation.error_0.mean <= 0.35
# dlnotes: expect full augmentation.error_10.mean <= 0.35
# dlnotes: expect full detection.weight_10.mean_iou.mean >= 0.3
# The solutions state these directions; fail if one clearly reverses.
# dlnotes: expect full upside_down.baseline_beats_msp >= 3
# dlnotes: expect full augmentation.wins_90 <= 2
# dlnotes: expect full augmentation.six_nine_90 <= 0.1
# dlnotes: expect full detection.iou_wins_10 >= 3
# In so short a run neither detector names the digits much above chance.
# dlnotes: expect full detection.weight_1.class_accuracy.mean <= 0.2
# dlnotes: expect full detection.weight_10.class_accuracy.mean <= 0.2
# Exercise 4: both starting points must have trained, their training loss
# well under chance's (ln 4 = 1.39, ln 3 = 1.10) after the longer run.
# dlnotes: expect full onet_steps.steps_long >= 13
# dlnotes: expect full onet_steps.faces.train_loss_scratch_long <= 1.0
# dlnotes: expect full onet_steps.textures.train_loss_scratch_long <= 0.9
# dlnotes: expect full onet_steps.faces.train_loss_fine_tuned_long <= 1.0
# dlnotes: expect full onet_steps.textures.train_loss_fine_tuned_long <= 0.9
# The solution answers "no, not by then": fail if the random start ends
# ahead of the fine-tuned body on average (a reversal, not a small gap).
# dlnotes: expect full onet_steps.faces.gap_long.mean >= 0
# dlnotes: expect full onet_steps.textures.gap_long.mean >= 0
