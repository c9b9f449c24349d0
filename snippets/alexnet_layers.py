"""AlexNet layer by layer: torchvision's architecture, shapes, receptive
fields.

Run it alone with `python alexnet_layers.py`; outputs go to the folder
DLNOTES_OUT names (default ./outputs/alexnet_layers). The model is built
with random weights (weights=None): nothing is downloaded. Quick and full
mode do the same (it takes a second).
"""

# --8<-- [start:setup]
# Settings. torchvision's AlexNet is the single-GPU variant of Krizhevsky's
# 2014 "One weird trick" paper (64 first-layer filters), not the two-GPU
# network of 2012 (96).
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
from skimage import data
from skimage.transform import resize
from torch import nn
from torchvision.models import alexnet

QUICK = os.environ.get("DLNOTES_QUICK") == "1"  # same work in both modes
IMAGE_SIZE = 224  # the input size AlexNet was trained on
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/alexnet_layers"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"alexnet_layers.py: cannot write outputs to {OUT}: "
             f"{err.strerror}")

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
INKS = {"": "#1f1f1f", "-dark": "#e2e2e2"}  # file suffix: text, axes colour


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


# --8<-- [start:shapes]
# Build the architecture (random weights: nothing to download), push one
# image through it, and let a hook on every layer record its output shape.
model = alexnet(weights=None).to(device).eval()
layers = [(name, m) for name, m in model.named_modules()
          if not list(m.children())]
shapes = {}
handles = [m.register_forward_hook(
    lambda m, i, out, name=name: shapes.__setitem__(name, out.shape))
    for name, m in layers]
with torch.no_grad():
    logits = model(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, device=device))
for handle in handles:
    handle.remove()

rows = []
# jump: input pixels between neighbouring units; field: pixels a unit sees
jump, field, conv_index = 1, 1, 0
for name, m in layers:
    kernel_stride = ""
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, int) else (
            m.kernel_size[0])
        s = m.stride if isinstance(m.stride, int) else m.stride[0]
        field += (k - 1) * jump  # a k-wide window over units jump px apart
        jump *= s
        kernel_stride = f"{k}×{k} / {s}"
    conv_index += isinstance(m, nn.Conv2d)
    rows.append({
        "layer": name,
        "type": type(m).__name__,
        "conv layer": (f"layer {conv_index}" if isinstance(m, nn.Conv2d)
                       else ""),
        "kernel / stride": kernel_stride,
        "output shape": " × ".join(str(d) for d in shapes[name][1:]),
        "parameters": sum(p.numel() for p in m.parameters()),
        "receptive field (px)": (field if name.startswith("features")
                                 else ""),
    })
table = pd.DataFrame(rows)
print(table.to_string(index=False))
# --8<-- [end:shapes]

# --8<-- [start:report]
# The table the page shows (ReLU and dropout rows left out), the figure of
# receptive fields, and the numbers the page quotes.
keep = ["Conv2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"]
shown = table[table.type.isin(keep)].drop(columns="layer").rename(
    columns={"receptive field (px)": "sees (px)"})
(OUT / "architecture.md").write_text(
    shown.to_markdown(index=False, intfmt=",") + "\n")
table.to_csv(OUT / "architecture.csv", index=False)

convs = table[table.type == "Conv2d"].reset_index(drop=True)
total = int(sum(p.numel() for p in model.parameters()))
conv_params = int(convs.parameters.sum())
photo = resize(data.astronaut(), (IMAGE_SIZE, IMAGE_SIZE),
               anti_aliasing=True)
centre = (112, 60)  # around the astronaut's face (x, y in pixels)


def draw_receptive_fields():
    """The square each conv layer's unit sees, on a 224 x 224 photo."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    ax.imshow(photo, interpolation="nearest")
    for (i, row), colour in zip(convs.iterrows(), COLORS, strict=False):
        size = min(int(row["receptive field (px)"]), IMAGE_SIZE)
        x0 = np.clip(centre[0] - size / 2, 0, IMAGE_SIZE - size)
        y0 = np.clip(centre[1] - size / 2, 0, IMAGE_SIZE - size)
        ax.add_patch(plt.Rectangle(
            (x0, y0), size, size, fill=False, lw=2.5, color=colour,
            label=f"layer {i + 1}: {row['receptive field (px)']} px"))
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9)
    fig.tight_layout()
    return fig


save_figure(draw_receptive_fields, "receptive_fields")

first_conv = model.features[0]
metrics = {
    "image_size": IMAGE_SIZE,
    "total_params": total,
    "conv_layers": len(convs),
    "conv1_filters": first_conv.out_channels,
    "conv1_kernel": first_conv.kernel_size[0],
    "conv_params": conv_params,
    "conv_param_share": round(conv_params / total, 4),
    "classifier_param_share": round(1 - conv_params / total, 4),
    "n_classes": int(logits.shape[1]),
    **{f"receptive_field_conv{i + 1}": int(r)
       for i, r in enumerate(convs["receptive field (px)"])},
    **{f"output_conv{i + 1}": s for i, s in enumerate(convs["output shape"])},
}
(OUT / "metrics.json").write_text(
    json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
print(json.dumps(metrics, indent=2, ensure_ascii=False))
# --8<-- [end:report]

# Build checks (read by the site's build; harmless when run by hand):
# dlnotes: expect quick total_params == 61100840
# dlnotes: expect quick conv_layers == 5
# dlnotes: expect quick conv1_filters == 64
# dlnotes: expect quick receptive_field_conv5 == 163
# dlnotes: expect full total_params == 61100840
# dlnotes: expect full conv1_filters == 64
