"""Bytes as images: 4 KiB chunks of real files -> 64x64 grayscale images -> a CNN.

The malware-image idea: show a file's raw bytes as pixels and let a CNN recognise the kind of
content. Run it alone with `python bytes_as_images.py`; outputs go to the folder DLNOTES_OUT
names (default ./outputs/bytes_as_images). DLNOTES_QUICK=1 takes fewer chunks and trains less.
The bytes come from files that ship with Python, NumPy and scikit-image (nothing is downloaded);
the same installed versions give the same data set.
"""
# dlnotes: expect quick valid_accuracy >= 0.6
# dlnotes: expect full valid_accuracy >= 0.9
# dlnotes: expect full png_classified_as.compressed >= 0.8
# dlnotes: timeout 180

# --8<-- [start:setup]
import gzip
import json
import os
import random
import struct
import sys
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import skimage
import skimage.data
import torch
from torch import nn

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
CHUNKS_PER_CLASS = 60 if QUICK else 240
EPOCHS = 6 if QUICK else 8
SIDE = 64                   # each image is SIDE x SIDE pixels...
CHUNK = SIDE * SIDE         # ...one byte per pixel: 4096 bytes per image
VALID_FRACTION = 0.2        # the chunks from the end of each byte stream: files not trained on
BATCH_SIZE = 32
LEARNING_RATE = 1e-2        # peak of the one-cycle schedule
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/bytes_as_images"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"bytes_as_images.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:sources]
def elf_section(path, wanted=b".text"):
    """The bytes of one section of a 64-bit little-endian ELF file (a Linux shared library)."""
    data = path.read_bytes()
    shoff, = struct.unpack_from("<Q", data, 0x28)              # where the section table is
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    table = [struct.unpack_from("<IIQQQQ", data, shoff + i * entry_size) for i in range(count)]
    names_at = table[names_index][4]                           # offset of the section names
    for name_at, _, _, _, offset, size in table:
        start = names_at + name_at
        if data[start:data.index(b"\0", start)] == wanted:
            return data[offset:offset + size]
    return b""


stdlib = sorted(Path(os.__file__).parent.glob("*.py"))          # Python's own modules
images_dir = Path(skimage.data.__file__).parent
PHOTOS = ["astronaut", "camera", "chelsea", "coffee"]            # photos scikit-image ships
SOURCES = {  # class -> [(file name, bytes)], in a fixed order
    "machine code": [(f"{p.parent.name}/{p.name.split('.')[0]}.so", elf_section(p))
                     for p in sorted(Path(np.__file__).parent.rglob("*.so"))],  # compiled C
    "text": [(p.name, p.read_bytes()) for p in stdlib],          # Python source code
    "compressed": [(p.name + ".gz", gzip.compress(p.read_bytes(), compresslevel=6, mtime=0))
                   for p in stdlib],                             # the same sources, gzipped
    "numeric array": [("lfw_subset.npy", (images_dir / "lfw_subset.npy").read_bytes())] + [
        (f"{npz.name}:{member}", zipfile.ZipFile(npz).read(member))  # .npy files inside .npz
        for npz in [images_dir / "motorcycle_disp.npz"]
        for member in sorted(zipfile.ZipFile(npz).namelist())],
    "raw pixels": [(f"{name}.png decoded", getattr(skimage.data, name)().tobytes())
                   for name in PHOTOS],                          # what a .bmp file holds
}
CLASSES = list(SOURCES)
# --8<-- [end:sources]


# --8<-- [start:chunks]
def chunks_of(stream, count):
    """`count` chunks of CHUNK bytes at evenly spaced, fixed offsets, as SIDE x SIDE images."""
    if len(stream) < count * CHUNK:
        sys.exit(f"bytes_as_images.py: only {len(stream)} bytes, {count * CHUNK} needed")
    starts = np.linspace(0, len(stream) - CHUNK, count).astype(int)
    return np.stack([np.frombuffer(stream[s:s + CHUNK], np.uint8) for s in starts]).reshape(
        count, SIDE, SIDE)


pixels, labels = [], []
for label, name in enumerate(CLASSES):
    stream = b"".join(data for _, data in SOURCES[name])   # files one after the other
    pixels.append(chunks_of(stream, CHUNKS_PER_CLASS))
    labels += [label] * CHUNKS_PER_CLASS
pixels, labels = np.concatenate(pixels), np.array(labels)
# Validation: the last 20% of each stream, from other files (or parts) than the rest.
is_valid = np.tile(np.arange(CHUNKS_PER_CLASS) >= (1 - VALID_FRACTION) * CHUNKS_PER_CLASS,
                   len(CLASSES))
print(f"{len(pixels)} images of {SIDE}x{SIDE} bytes, {CHUNKS_PER_CLASS} per class")
# --8<-- [end:chunks]


def entropy_bits(chunk):
    """Shannon entropy of the byte values in a chunk, in bits per byte (0 to 8)."""
    p = np.bincount(chunk.ravel(), minlength=256) / chunk.size
    return float(-(p[p > 0] * np.log2(p[p > 0])).sum())


rows = []
for label, name in enumerate(CLASSES):
    files = SOURCES[name]
    rows.append({
        "class": name,
        "files": len(files),
        "first file": f"`{files[0][0]}`",
        "last file": f"`{files[-1][0]}`",
        "bytes": sum(len(data) for _, data in files),
        "entropy (bits/byte)": np.mean([entropy_bits(c) for c in pixels[labels == label]]),
    })
classes_table = pd.DataFrame(rows)
(OUT / "classes.md").write_text(
    classes_table.to_markdown(index=False, floatfmt=".2f", intfmt=",") + "\n")

fig, axes = plt.subplots(len(CLASSES), 6, figsize=(9, 8))
for c, name in enumerate(CLASSES):
    picks = np.linspace(0, CHUNKS_PER_CLASS - 1, 6).astype(int)
    for k, i in enumerate(picks):
        axes[c, k].imshow(pixels[c * CHUNKS_PER_CLASS + i], cmap="gray", vmin=0, vmax=255)
        axes[c, k].set_xticks([])
        axes[c, k].set_yticks([])
    axes[c, 0].set_ylabel(name, fontsize=10)
fig.suptitle(f"4 KiB of bytes as {SIDE}x{SIDE} grayscale images (byte 0 = black, 255 = white)")
fig.tight_layout()
fig.savefig(OUT / "examples.png", dpi=100)
plt.close(fig)

# --8<-- [start:model]
x = torch.as_tensor(pixels, dtype=torch.float32).unsqueeze(1) / 255  # (N, 1, 64, 64)
y = torch.as_tensor(labels)
x_train, y_train = x[~is_valid].to(device), y[~is_valid].to(device)
x_valid, y_valid = x[is_valid].to(device), y[is_valid].to(device)


def conv_block(c_in, c_out):
    """3x3 convolution with stride 2: halves height and width, like conv + 2x2 pooling."""
    return [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]


model = nn.Sequential(                                  # input: 1 x 64 x 64
    *conv_block(1, 8), *conv_block(8, 16), *conv_block(16, 32),   # 32 x 8 x 8
    nn.AdaptiveAvgPool2d(1), nn.Flatten(),              # 32: average texture over the image
    nn.Linear(32, len(CLASSES)),
).to(device)
optimizer = torch.optim.Adam(model.parameters())
scheduler = torch.optim.lr_scheduler.OneCycleLR(  # warm up, then anneal (fastai's one-cycle)
    optimizer, max_lr=LEARNING_RATE, epochs=EPOCHS,
    steps_per_epoch=-(-len(x_train) // BATCH_SIZE))
loss_fn = nn.CrossEntropyLoss()

generator = torch.Generator().manual_seed(SEED)
for epoch in range(EPOCHS):
    model.train()
    for batch in torch.randperm(len(x_train), generator=generator).split(BATCH_SIZE):
        loss = loss_fn(model(x_train[batch]), y_train[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    model.eval()
    with torch.no_grad():
        predicted = model(x_valid).argmax(dim=1)
    accuracy = (predicted == y_valid).float().mean().item()
    print(f"epoch {epoch}: last batch loss {loss.item():.4f}  valid accuracy {accuracy:.4f}")
# --8<-- [end:model]

# --8<-- [start:png]
# PNG files of photos: pixels again, but DEFLATE-compressed inside the file.
PNG_FILES = ["camera.png", "chelsea.png", "coffee.png", "grass.png", "gravel.png"]
png_stream = b"".join((images_dir / name).read_bytes() for name in PNG_FILES)
png = torch.as_tensor(chunks_of(png_stream, 100), dtype=torch.float32).unsqueeze(1) / 255
with torch.no_grad():
    png_predicted = model(png.to(device)).argmax(dim=1).cpu()
png_share = {name: (png_predicted == c).float().mean().item() for c, name in enumerate(CLASSES)}
print("PNG chunks classified as:", {k: round(v, 2) for k, v in png_share.items()})
# --8<-- [end:png]

# --8<-- [start:report]
matrix = np.zeros((len(CLASSES), len(CLASSES)), dtype=int)  # rows: actual, columns: predicted
np.add.at(matrix, (y_valid.cpu().numpy(), predicted.cpu().numpy()), 1)
fig, ax = plt.subplots(figsize=(6.4, 5.4))
ax.imshow(matrix, cmap="Blues")
for (r, c), count in np.ndenumerate(matrix):
    ax.text(c, r, count, ha="center", va="center",
            color="white" if count > matrix.max() / 2 else "black")
ax.set_xticks(range(len(CLASSES)), CLASSES, rotation=20)
ax.set_yticks(range(len(CLASSES)), CLASSES)
ax.set(xlabel="predicted class", ylabel="actual class",
       title=f"Bytes as images: validation accuracy {accuracy:.1%}")
fig.tight_layout()
fig.savefig(OUT / "confusion.png", dpi=110)
plt.close(fig)

key = {name: name.replace(" ", "_") for name in CLASSES}
metrics = {
    "classes": len(CLASSES),
    "chunks_per_class": CHUNKS_PER_CLASS,
    "chunk_bytes": CHUNK,
    "side": SIDE,
    "n_train": int((~is_valid).sum()),
    "n_valid": int(is_valid.sum()),
    "epochs": EPOCHS,
    "so_files": len(SOURCES["machine code"]),
    "stdlib_files": len(stdlib),
    "valid_accuracy": round(accuracy, 4),
    "valid_errors": int(matrix.sum() - np.trace(matrix)),
    "per_class_accuracy": {key[name]: round(float(matrix[i, i] / matrix[i].sum()), 4)
                           for i, name in enumerate(CLASSES)},
    "entropy": {key[r["class"]]: round(r["entropy (bits/byte)"], 2) for r in rows},
    "png_chunks": len(png),
    "png_classified_as": {key[name]: round(share, 4) for name, share in png_share.items()},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
print(json.dumps(metrics, indent=2))
# --8<-- [end:report]
