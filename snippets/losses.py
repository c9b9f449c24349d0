"""train_loss vs valid_loss vs error_rate: a small CNN on scikit-learn's handwritten digits.

Run it alone with `python losses.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/losses). DLNOTES_QUICK=1 trains for fewer epochs.
"""
# dlnotes: expect quick final_error_rate <= 0.35
# dlnotes: expect full final_error_rate <= 0.03
# dlnotes: timeout 180

# --8<-- [start:setup]
import json
import os
import random
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
EPOCHS = 3 if QUICK else 20
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SMOOTHING = 0.98  # fastai's train_loss: exponential moving average of the batch losses
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/losses"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"losses.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:data]
digits = load_digits()  # 1,797 real 8x8 grayscale scans of handwritten digits, values 0..16
images = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
labels = torch.tensor(digits.target)
train_idx, valid_idx = train_test_split(
    np.arange(len(labels)), test_size=0.2, random_state=SEED, stratify=digits.target
)
x_train, y_train = images[train_idx].to(device), labels[train_idx].to(device)
x_valid, y_valid = images[valid_idx].to(device), labels[valid_idx].to(device)
print(f"{len(train_idx)} training images, {len(valid_idx)} validation images")
# --8<-- [end:data]

# --8<-- [start:model]
model = nn.Sequential(
    nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(),    # 16 x 8 x 8
    nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(),   # 32 x 8 x 8
    nn.MaxPool2d(2),                                          # 32 x 4 x 4
    nn.Flatten(),
    nn.Dropout(0.5),                                          # active only in training mode
    nn.Linear(32 * 4 * 4, 10),
).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
loss_fn = nn.CrossEntropyLoss()
# --8<-- [end:model]


# --8<-- [start:train]
def evaluate(x, y):
    """Mean loss and error rate over a whole set, in eval mode (dropout off, no gradients)."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = loss_fn(logits, y).item()
        error_rate = (logits.argmax(dim=1) != y).float().mean().item()
    return loss, error_rate


history = []
smoothed, steps = 0.0, 0
generator = torch.Generator().manual_seed(SEED)
for epoch in range(EPOCHS):
    start = time.perf_counter()
    model.train()  # dropout on: the loss seen while training is noisier and higher
    for batch in torch.randperm(len(x_train), generator=generator).split(BATCH_SIZE):
        loss = loss_fn(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
        smoothed = SMOOTHING * smoothed + (1 - SMOOTHING) * loss.item()
    train_loss = smoothed / (1 - SMOOTHING**steps)  # debiased, as fastai does
    valid_loss, error_rate = evaluate(x_valid, y_valid)
    train_loss_eval, _ = evaluate(x_train, y_train)
    history.append({
        "epoch": epoch,
        "train_loss": train_loss,
        "valid_loss": valid_loss,
        "error_rate": error_rate,
        "time": time.perf_counter() - start,
        "train_loss_eval": train_loss_eval,
    })
    print(f"epoch {epoch}: train_loss {train_loss:.4f}  valid_loss {valid_loss:.4f}  "
          f"error_rate {error_rate:.4f}")
# --8<-- [end:train]

# --8<-- [start:report]
table = pd.DataFrame(history)
shown = table[["epoch", "train_loss", "valid_loss", "error_rate", "time"]].copy()
shown["time"] = shown["time"].map(lambda s: f"{s:.2f} s")
(OUT / "epochs.md").write_text(shown.to_markdown(index=False, floatfmt=".6f") + "\n")
table.to_csv(OUT / "epochs.csv", index=False)

fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.8))
ax_loss.plot(table.epoch, table.train_loss, "o-", label="train_loss (smoothed, training mode)")
ax_loss.plot(table.epoch, table.train_loss_eval, "o:", label="loss on training set, eval mode")
ax_loss.plot(table.epoch, table.valid_loss, "s-", label="valid_loss (eval mode)")
ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Losses")
ax_loss.legend()
ax_err.plot(table.epoch, table.error_rate, "d-", color="tab:red")
ax_err.set(xlabel="epoch", ylabel="error rate", title="error_rate on the validation set")
ax_err.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
fig.tight_layout()
fig.savefig(OUT / "curves.png", dpi=120)

first, last = history[0], history[-1]
metrics = {
    "epochs": EPOCHS,
    "n_train": len(train_idx),
    "n_valid": len(valid_idx),
    "first_train_loss": round(first["train_loss"], 4),
    "first_valid_loss": round(first["valid_loss"], 4),
    "final_train_loss": round(last["train_loss"], 4),
    "final_train_loss_eval": round(last["train_loss_eval"], 4),
    "final_valid_loss": round(last["valid_loss"], 4),
    "final_error_rate": round(last["error_rate"], 4),
    "final_accuracy": round(1 - last["error_rate"], 4),
    "final_errors": round(last["error_rate"] * len(valid_idx)),
    "epochs_train_above_valid": sum(h["train_loss"] > h["valid_loss"] for h in history),
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
