"""Exercise 1 of the non-image page: shorter STFT windows, CNN and baseline.

The page's generated sound clips (the same generator, seed and splits as
sound_spectrograms.py) become log spectrograms twice: with the page's
windows (N_FFT = 128, HOP = 128) and with the exercise's (N_FFT = 64,
HOP = 32). The page's small CNN is trained on each, five runs per setting,
exactly as the page trains it; run k of both settings shares its split,
initial weights and batch order, so only the spectrogram differs. All ten
copies train side by side (grouped convolutions, one optimizer). The
page's band-energy baseline is fitted on the same splits, the page's way.
Run it alone with `python solution_sound_cnn.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/solution_sound_cnn). DLNOTES_QUICK=1
makes fewer clips and runs, and trains less. No recordings are downloaded.
"""

# --8<-- [start:setup]
# The page's settings, with the exercise's spectrogram next to the page's.
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
CLIPS_PER_CLASS = 60 if QUICK else 200
N_SEEDS = 2 if QUICK else 5  # independent runs: split, init, batch order
EPOCHS = 4 if QUICK else 5
BATCH_SIZE = 16
LEARNING_RATE = 1e-2        # peak of the one-cycle schedule
SAMPLE_RATE = 8000
CLIP_SECONDS = 1.0
SETTINGS = {"page": (128, 128), "short": (64, 32)}  # name: (N_FFT, HOP)
VALID_FRACTION = 0.2
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/solution_sound_cnn"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"solution_sound_cnn.py: cannot write to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# The page's sound generator, copied unchanged: the same seed gives the
# same clips.
CLASSES = ["steady tone", "rising chirp", "amplitude-modulated tone",
           "noise burst"]
rng = np.random.default_rng(SEED)
t = np.arange(int(SAMPLE_RATE * CLIP_SECONDS)) / SAMPLE_RATE  # seconds


def make_clip(kind):
    """One clip: an event of the given kind at a random time, over noise."""
    start = rng.uniform(0.0, 0.4)
    length = rng.uniform(0.3, 0.6)
    inside = (t >= start) & (t < start + length)
    ramp = np.clip(np.minimum(t - start, start + length - t) / 0.01, 0, 1)
    envelope = inside * ramp * rng.uniform(0.3, 1.0)     # 10 ms fades
    if kind == "steady tone":
        signal = np.sin(2 * np.pi * rng.uniform(200, 3000) * t)
    elif kind == "rising chirp":
        f0 = rng.uniform(200, 1500)
        f1 = f0 * rng.uniform(1.5, 2.6)          # ends 1.5 to 2.6 times higher
        tau = np.clip(t - start, 0, None)
        phase = 2 * np.pi * (f0 * tau + (f1 - f0) * tau**2 / (2 * length))
        signal = np.sin(phase)
    elif kind == "amplitude-modulated tone":
        rate = rng.uniform(8, 16)             # loudness wobbles 8-16 times/s
        wobble = 0.5 * (1 + np.sin(2 * np.pi * rate * t
                                   + rng.uniform(0, 2 * np.pi)))
        signal = wobble * np.sin(2 * np.pi * rng.uniform(200, 3000) * t)
    else:  # noise burst: every frequency at once
        signal = rng.normal(0, 0.6, t.shape)
    background = rng.normal(0, rng.uniform(0.02, 0.2), t.shape)
    return (envelope * signal + background).astype(np.float32)


waves = np.stack([make_clip(kind) for kind in CLASSES
                  for _ in range(CLIPS_PER_CLASS)])
labels = np.repeat(np.arange(len(CLASSES)), CLIPS_PER_CLASS)
print(f"{len(waves)} clips of {CLIP_SECONDS:g} s at {SAMPLE_RATE} Hz")


# --8<-- [start:spectrograms]
# Exercise 1's change: windows of 64 samples moved by 32, next to the
# page's 128 and 128. Everything downstream is the page's code.
def log_spectrogram(batch, n_fft, hop):
    """Waveforms (N, samples) -> log-magnitudes (N, frequencies, frames)."""
    spec = torch.stft(torch.as_tensor(batch), n_fft=n_fft, hop_length=hop,
                      window=torch.hann_window(n_fft), return_complex=True)
    return torch.log(spec.abs() + 1e-3)


specs = {name: log_spectrogram(waves, *fft) for name, fft in SETTINGS.items()}
images = {name: ((s - s.mean()) / s.std()).to(device)  # as on the page
          for name, s in specs.items()}
for name, s in specs.items():
    print(f"{name}: {tuple(s.shape[1:])} (frequency bins x frames)")
# --8<-- [end:spectrograms]


def split(run):
    """Train and validation indices for one run, stratified by class."""
    order = np.random.default_rng(SEED + run).permutation(len(labels))
    n_valid = int(VALID_FRACTION * CLIPS_PER_CLASS)
    valid = np.concatenate([order[labels[order] == c][:n_valid]
                            for c in range(len(CLASSES))])
    train = np.setdiff1d(order, valid)
    return np.sort(train), np.sort(valid)


splits = [split(run) for run in range(N_SEEDS)]
train_idx = torch.as_tensor(np.stack([tr for tr, _ in splits]))
valid_idx = torch.as_tensor(np.stack([va for _, va in splits]))


# The page's CNN, unchanged: N_SEEDS copies side by side in one module.
def conv_block(c_in, c_out, runs):
    """3x3 convolution, stride 2 (halves height and width), BN, ReLU."""
    return [nn.Conv2d(c_in * runs, c_out * runs, 3, stride=2, padding=1,
                      groups=runs),
            nn.BatchNorm2d(c_out * runs), nn.ReLU()]


class SideBySide(nn.Module):
    """`runs` independent copies of the small CNN in one module."""

    def __init__(self, runs, n_classes):
        super().__init__()
        self.runs = runs
        self.body = nn.Sequential(
            *conv_block(1, 8, runs), *conv_block(8, 16, runs),
            *conv_block(16, 32, runs), nn.AdaptiveMaxPool2d(1))
        self.head = nn.Conv2d(32 * runs, n_classes * runs, 1, groups=runs)

    def forward(self, x):                  # x: (batch, runs, height, width)
        return self.head(self.body(x)).view(len(x), self.runs, -1)


def multiply_adds(height, width):
    """Multiply-adds of the CNN's three convolutions on one image."""
    total = 0
    for c_in, c_out in ((1, 8), (8, 16), (16, 32)):
        height, width = (height + 1) // 2, (width + 1) // 2
        total += height * width * c_in * c_out * 9
    return total


# --8<-- [start:train]
# Both settings train in one loop: run k of each sees the same split, the
# same batches in the same order and the same initial weights (the layers
# do not depend on the image size), so a difference between the settings
# comes from the spectrograms. One optimizer updates both models on the
# sum of their losses; each copy still gets exactly its own gradient.
def fresh_model():
    torch.manual_seed(SEED)              # identical weights for both
    return SideBySide(N_SEEDS, len(CLASSES)).to(device)


models = {name: fresh_model() for name in SETTINGS}
y_all = torch.as_tensor(labels).to(device)
steps = train_idx.shape[1] // BATCH_SIZE
optimizer = torch.optim.Adam([p for m in models.values()
                              for p in m.parameters()], foreach=True)
scheduler = torch.optim.lr_scheduler.OneCycleLR(
    optimizer, max_lr=LEARNING_RATE, epochs=EPOCHS, steps_per_epoch=steps)
loss_fn = nn.CrossEntropyLoss()
generators = [torch.Generator().manual_seed(SEED + r) for r in range(N_SEEDS)]
history = {name: np.zeros((EPOCHS, N_SEEDS)) for name in SETTINGS}
guesses = {}                 # last epoch's validation predictions
for epoch in range(EPOCHS):
    for model in models.values():
        model.train()
    order = torch.stack([idx[torch.randperm(len(idx), generator=g)]
                         for idx, g in zip(train_idx, generators,
                                           strict=True)])
    for step in range(steps):
        batch = order[:, step * BATCH_SIZE:(step + 1) * BATCH_SIZE].T
        target = y_all[batch].flatten()
        loss = sum(loss_fn(m(images[name][batch]).flatten(0, 1), target)
                   for name, m in models.items())
        optimizer.zero_grad()
        (loss * N_SEEDS).backward()
        optimizer.step()
        scheduler.step()
    if epoch < EPOCHS - 2:
        continue                    # only the last two epochs are reported
    for name, model in models.items():
        model.eval()
        with torch.no_grad():
            guess = model(images[name][valid_idx.T]).argmax(dim=2).T.cpu()
        guesses[name] = guess
        history[name][epoch] = (guess == y_all.cpu()[valid_idx]).float().mean(1)
        print(f"epoch {epoch} {name}: valid accuracy per run "
              f"{history[name][epoch].round(3)}")
cnn_accuracy = {name: h[-2:].mean(axis=0) for name, h in history.items()}
# --8<-- [end:train]


# The page's baseline, fitted the page's way on the same splits: band
# energies of each setting's spectrogram and a logistic regression.
def band_features(spec):
    """(N, bins, frames) log-spectrograms -> (N, 64) band statistics."""
    bands = spec[:, 1:].reshape(len(spec), 16, -1, spec.shape[2]).mean(2)
    delta = bands.diff(dim=2).abs()                 # change frame to frame
    return torch.cat([bands.mean(2), bands.std(2), bands.amax(2),
                      delta.mean(2)], dim=1).numpy()


def fit_logistic(features, labels, splits, l2=1e-3):
    """Validation accuracy of one logistic regression per run, side by
    side (the page's fit: standardised on each run's training rows,
    L-BFGS on the sum of the runs' losses)."""
    x = torch.as_tensor(features, dtype=torch.float64)
    y = torch.as_tensor(labels)
    n_classes = int(y.max()) + 1
    train = torch.zeros(len(splits), len(x), dtype=torch.bool)
    valid = torch.zeros_like(train)
    for run, (tr, va) in enumerate(splits):
        train[run, tr], valid[run, va] = True, True
    weight = train / train.sum(1, keepdim=True)
    mean = (weight[:, :, None] * x).sum(1, keepdim=True)
    std = ((weight[:, :, None] * (x - mean) ** 2).sum(1, keepdim=True)
           .sqrt().clamp_min(1e-6))
    xs = (x - mean) / std
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


baseline_accuracy = {name: fit_logistic(band_features(s), labels, splits)
                     for name, s in specs.items()}
print("baseline:", {k: v.round(3) for k, v in baseline_accuracy.items()})


# --8<-- [start:report]
# Each setting's image size and cost, means and spreads over the runs,
# paired differences with win counts, and accuracy per class (last epoch,
# all runs' validation clips together).
def mean_std(values):
    return {"mean": round(float(np.mean(values)), 4),
            "std": round(float(np.std(values)), 4)}


def per_class(guess):
    truth = labels[valid_idx.numpy()]
    return {name.replace(" ", "_").replace("-", "_"): round(float(
        (guess.numpy() == truth)[truth == c].mean()), 4)
        for c, name in enumerate(CLASSES)}


def setting(name):
    n_fft, hop = SETTINGS[name]
    height, width = specs[name].shape[1:]
    cnn, base = cnn_accuracy[name], baseline_accuracy[name]
    return {"n_fft": n_fft, "hop": hop, "hz_per_bin": SAMPLE_RATE / n_fft,
            "ms_per_frame": 1000 * hop / SAMPLE_RATE,
            "image_height": height, "image_width": width,
            "pixels": height * width,
            "multiply_adds": multiply_adds(height, width),
            "cnn_accuracy": {**mean_std(cnn),
                             "min": round(float(cnn.min()), 4)},
            "baseline_accuracy": mean_std(base),
            "cnn_beat_baseline": int((cnn > base).sum()),
            "baseline_beat_cnn": int((cnn < base).sum()),
            "per_class_accuracy": per_class(guesses[name])}


def paired(accuracy):
    """short minus page, per run: mean, spread and who came first."""
    diff = accuracy["short"] - accuracy["page"]
    return {**mean_std(diff), "short_ahead": int((diff > 0).sum()),
            "page_ahead": int((diff < 0).sum())}


sound = {name: setting(name) for name in SETTINGS}
metrics = {
    "n_seeds": N_SEEDS,
    "epochs": EPOCHS,
    "clips_per_class": CLIPS_PER_CLASS,
    "sound": sound,
    "pixels_ratio": round(sound["short"]["pixels"]
                          / sound["page"]["pixels"], 2),
    "cost_ratio": round(sound["short"]["multiply_adds"]
                        / sound["page"]["multiply_adds"], 2),
    "cnn_short_minus_page": paired(cnn_accuracy),
    "baseline_short_minus_page": paired(baseline_accuracy),
    "baseline_accuracy_mean": sound["short"]["baseline_accuracy"]["mean"],
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick sound.page.cnn_accuracy.mean >= 0.5
# dlnotes: expect quick sound.short.cnn_accuracy.mean >= 0.5
# dlnotes: expect quick sound.page.baseline_accuracy.mean >= 0.4
# dlnotes: expect full n_seeds >= 5
# every model trained (far above the 25% of chance), whichever setting wins
# dlnotes: expect full sound.page.cnn_accuracy.mean >= 0.85
# dlnotes: expect full sound.short.cnn_accuracy.mean >= 0.85
# dlnotes: expect full sound.page.baseline_accuracy.mean >= 0.5
# dlnotes: expect full sound.short.baseline_accuracy.mean >= 0.5
