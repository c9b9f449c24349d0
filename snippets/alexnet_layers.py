"""AlexNet layer by layer: torchvision's architecture, its output shapes and receptive fields.

Run it alone with `python alexnet_layers.py`; outputs go to the folder DLNOTES_OUT names
(default ./outputs/alexnet_layers). The model is built with random weights (weights=None):
nothing is downloaded. Quick and full mode do the same (it takes a second).
"""
# dlnotes: expect quick total_params == 61100840
# dlnotes: expect quick conv_layers == 5
# dlnotes: expect quick receptive_field_conv5 == 163
# dlnotes: expect full total_params == 61100840

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
from skimage import data
from skimage.transform import resize
from torch import nn
from torchvision.models import alexnet

QUICK = os.environ.get("DLNOTES_QUICK") == "1"  # same work in both modes: it is fast
IMAGE_SIZE = 224  # the input size AlexNet was trained on
SEED = 0

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/alexnet_layers"))
try:
    OUT.mkdir(parents=True, exist_ok=True)
except OSError as err:
    sys.exit(f"alexnet_layers.py: cannot write outputs to {OUT}: {err.strerror}")

random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]

# --8<-- [start:shapes]
model = alexnet(weights=None).to(device).eval()  # the architecture only: random weights
layers = [(name, m) for name, m in model.named_modules() if not list(m.children())]
shapes = {}
handles = [m.register_forward_hook(lambda m, i, out, name=name: shapes.__setitem__(name, out.shape))
           for name, m in layers]
with torch.no_grad():
    logits = model(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, device=device))
for handle in handles:
    handle.remove()

rows = []
jump, field, conv_index = 1, 1, 0  # input pixels between neighbouring units; pixels one unit sees
for name, m in layers:
    kernel_stride = ""
    if isinstance(m, (nn.Conv2d, nn.MaxPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        s = m.stride if isinstance(m.stride, int) else m.stride[0]
        field += (k - 1) * jump  # a k-wide window over units `jump` pixels apart
        jump *= s
        kernel_stride = f"{k}×{k} / {s}"
    conv_index += isinstance(m, nn.Conv2d)
    rows.append({
        "layer": name,
        "type": type(m).__name__,
        "notes' layer": f"layer {conv_index}" if isinstance(m, nn.Conv2d) else "",
        "kernel / stride": kernel_stride,
        "output shape": " × ".join(str(d) for d in shapes[name][1:]),
        "parameters": sum(p.numel() for p in m.parameters()),
        "receptive field (px)": field if name.startswith("features") else "",
    })
table = pd.DataFrame(rows)
print(table.to_string(index=False))
# --8<-- [end:shapes]

# --8<-- [start:report]
shown = table[table.type.isin(["Conv2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"])]
shown = shown.drop(columns="layer").rename(columns={"receptive field (px)": "sees (px)"})
(OUT / "architecture.md").write_text(shown.to_markdown(index=False, intfmt=",") + "\n")
table.to_csv(OUT / "architecture.csv", index=False)

convs = table[table.type == "Conv2d"].reset_index(drop=True)
total = int(sum(p.numel() for p in model.parameters()))
conv_params = int(convs.parameters.sum())

# The squares each convolutional layer's units see, drawn on a 224 x 224 photo.
photo = resize(data.astronaut(), (IMAGE_SIZE, IMAGE_SIZE), anti_aliasing=True)
fig, ax = plt.subplots(figsize=(5.5, 5.5))
ax.imshow(photo)
centre = (112, 60)  # around the astronaut's face (x, y in pixels)
colours = plt.cm.viridis(np.linspace(0, 0.9, len(convs)))
for (i, row), colour in zip(convs.iterrows(), colours, strict=True):
    size = min(int(row["receptive field (px)"]), IMAGE_SIZE)
    x0 = np.clip(centre[0] - size / 2, 0, IMAGE_SIZE - size)
    y0 = np.clip(centre[1] - size / 2, 0, IMAGE_SIZE - size)
    ax.add_patch(plt.Rectangle((x0, y0), size, size, fill=False, lw=2, color=colour,
                               label=f"layer {i + 1}: {row['receptive field (px)']} px"))
ax.set(title="What one unit of each AlexNet layer can see\n(receptive field on a 224×224 input)",
       xlabel="x (pixels)", ylabel="y (pixels)")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()
fig.savefig(OUT / "receptive_fields.png", dpi=110)
plt.close(fig)

metrics = {
    "image_size": IMAGE_SIZE,
    "total_params": total,
    "conv_layers": len(convs),
    "conv_params": conv_params,
    "conv_param_share": round(conv_params / total, 4),
    "classifier_param_share": round(1 - conv_params / total, 4),
    "n_classes": int(logits.shape[1]),
    **{f"receptive_field_conv{i + 1}": int(r) for i, r in enumerate(convs["receptive field (px)"])},
    **{f"output_conv{i + 1}": s for i, s in enumerate(convs["output shape"])},
}
(OUT / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
print(json.dumps(metrics, indent=2, ensure_ascii=False))
# --8<-- [end:report]
