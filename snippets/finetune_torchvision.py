"""The real recipe: fine-tune torchvision's ImageNet ResNet-18 on your images.

    python finetune_torchvision.py PATH/TO/IMAGES  # or FINETUNE_DATA=PATH

PATH/TO/IMAGES is an ImageFolder: one sub-folder of images per class, or
`train/` and `valid/` (or `val/`) each holding one sub-folder per class.
With your own folder the script asks for `ResNet18_Weights.DEFAULT`; the
first time, torchvision DOWNLOADS those ImageNet weights (about 45 MB) into
the torch hub cache (`$TORCH_HOME/hub/checkpoints`, by default
~/.cache/torch).

Without a folder (this is how the site's build runs it) the script makes a
small ImageFolder of texture photos bundled with scikit-image, and it never
downloads anything: it uses the ImageNet weights only if they are already
in the torch hub cache, and otherwise says so and starts from random
weights (`weights=None`). `--weights imagenet|cached|none` (or
FINETUNE_WEIGHTS) overrides the choice. Next to the fine-tuned network it
fits two baselines: logistic regression on 32x32 thumbnails of the images
(the demo's smaller images as they are),
and on the loaded body's 512 features (a linear probe). Outputs go to the
folder DLNOTES_OUT names (default ./outputs/finetune_torchvision);
DLNOTES_QUICK=1 makes the demo smaller.
"""

# --8<-- [start:setup]
# Settings for real use (224-pixel images, a few epochs) and, below them,
# the small demo the site's build runs on a CPU.
import argparse
import hashlib
import io
import json
import os
import random
import re
import sys
import tempfile
import zlib
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image
from sklearn.linear_model import LogisticRegressionCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms
from torchvision.models import ResNet18_Weights, resnet18

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
IMAGE_SIZE = 224           # what the ImageNet weights were trained on
BATCH_SIZE = 32
HEAD_EPOCHS = 2            # stage 1: body frozen, only the new head learns
UNFROZEN_EPOCHS = 4        # stage 2: everything learns
HEAD_LR = 1e-3
BODY_LR = 1e-4             # stage 2: the pretrained body moves 10x slower
TRAIN_BN = True            # stage 1: BatchNorm layers keep learning
VALID_FRACTION = 0.2       # held out when there is no train/ and valid/
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
THUMBNAIL = 32             # the pixel baseline: at most 32x32 pixels
SEED = 0
# The build's demo (no folder given): tiny images and few epochs, on a
# CPU. It shows the code path, not what the weights are worth.
DEMO_IMAGE_SIZE = 24
DEMO_TRAIN, DEMO_VALID = (16, 8) if QUICK else (40, 20)  # per class
DEMO_HEAD_EPOCHS, DEMO_UNFROZEN_EPOCHS = (1, 2) if QUICK else (2, 6)
DEMO_BATCH_SIZE = 16

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/finetune_torchvision"))
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


# --8<-- [start:weights]
# The weights decide what the result means, so the script says which it
# got: ImageNet (checked against the published hash), another file under
# that name, or random weights.
def imagenet_checkpoint():
    """Where torch.hub keeps ResNet18_Weights.DEFAULT once downloaded."""
    name = Path(ResNet18_Weights.DEFAULT.url).name   # resnet18-f37072fd.pth
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def load_resnet18(choice):
    """ResNet-18, its weights ('imagenet', 'other-checkpoint', 'none'), why.

    'imagenet' may download; 'cached' uses the weights only if they are on
    disk already; 'none' starts from random weights.
    """
    checkpoint = imagenet_checkpoint()
    if choice == "imagenet" or (choice == "cached" and checkpoint.is_file()):
        try:  # downloads if not cached
            model = resnet18(weights=ResNet18_Weights.DEFAULT)
        except OSError as err:  # offline, or the download was refused
            sys.exit(f"cannot get the ImageNet weights ({err}); put "
                     f"{checkpoint.name} in {checkpoint.parent} or run "
                     "with --weights none")
        # The file name holds the start of the published SHA-256: check it.
        expected = re.search(r"-([0-9a-f]+)\.pth$", checkpoint.name).group(1)
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        if digest.startswith(expected):
            return model, "imagenet", (
                "ImageNet weights (ResNet18_Weights.DEFAULT, verified)")
        return model, "other-checkpoint", (
            f"the cached {checkpoint.name} is not the published file (its "
            "SHA-256 differs): these are NOT ImageNet weights")
    why = "as asked" if choice == "none" else (
        "no ImageNet checkpoint in the torch hub cache, and the demo never "
        "downloads")
    return resnet18(weights=None), "none", (
        f"random weights (weights=None), {why}")
# --8<-- [end:weights]


# --8<-- [start:data]
# Training images get random crops and flips (augmentation); validation
# images, and the baselines' copy of the training images, do not.
def image_folders(root, image_size):
    """(train set, the same without augmentation, valid set, classes)."""
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(image_size, scale=(0.5, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    valid_tf = transforms.Compose([
        transforms.Resize(round(image_size * 1.14)),
        transforms.CenterCrop(image_size),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    root = Path(root)
    valid_dir = next((root / n for n in ("valid", "val")
                      if (root / n).is_dir()), None)
    if (root / "train").is_dir() and valid_dir is not None:
        train_set = datasets.ImageFolder(root / "train", train_tf)
        plain = datasets.ImageFolder(root / "train", valid_tf)
        valid_set = datasets.ImageFolder(valid_dir, valid_tf)
        return train_set, plain, valid_set, train_set.classes
    # One folder of class folders: hold out VALID_FRACTION of it, the same
    # split every run.
    train_all = datasets.ImageFolder(root, train_tf)
    valid_all = datasets.ImageFolder(root, valid_tf)  # same files, plain
    generator = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(train_all), generator=generator).tolist()
    n_valid = max(1, round(len(order) * VALID_FRACTION))
    return (Subset(train_all, order[n_valid:]),
            Subset(valid_all, order[n_valid:]),
            Subset(valid_all, order[:n_valid]), train_all.classes)


def make_demo_folder(root):
    """A small ImageFolder of scikit-image's brick, grass, gravel photos.

    96x96 crops; training crops come from the top 60 % of each photo,
    validation crops from the bottom 40 %: no validation pixel was seen in
    training.
    """
    from skimage import data

    rng = np.random.default_rng(SEED)
    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()                     # 512x512 gray
        split_row = int(photo.shape[0] * 0.6)
        for subset, count, (low, high) in (
                ("train", DEMO_TRAIN, (0, split_row - 96)),
                ("valid", DEMO_VALID, (split_row, 512 - 96))):
            folder = Path(root) / subset / name
            folder.mkdir(parents=True)
            for i in range(count):
                top = rng.integers(low, high + 1)
                left = rng.integers(0, 512 - 96 + 1)
                crop = photo[top:top + 96, left:left + 96]
                Image.fromarray(crop).convert("RGB").save(
                    folder / f"{name}_{i:03d}.png")
    return root
# --8<-- [end:data]


# --8<-- [start:fit]
# A plain loop: train one epoch, then measure on the validation images.
# train_loss here is the mean over the epoch's batches, in training mode
# (see the losses page for how fastai's smoothed one differs).
def fit(model, optimizer, train_loader, valid_loader, epochs, stage,
        history):
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()  # BatchNorm: batch statistics, running stats update
        total, seen = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(y), seen + len(y)
        model.eval()   # BatchNorm: the running statistics
        valid_loss, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for x, y in valid_loader:
                x, y = x.to(device), y.to(device)
                logits = model(x)
                valid_loss += loss_fn(logits, y).item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                count += len(y)
        history.append({"epoch": len(history) + 1, "stage": stage,
                        "train_loss": total / seen,
                        "valid_loss": valid_loss / count,
                        "accuracy": correct / count})
        print(f"epoch {len(history)} ({stage}): "
              f"train_loss {total / seen:.4f}  "
              f"valid_loss {valid_loss / count:.4f}  "
              f"accuracy {correct / count:.3f}")


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
# --8<-- [end:fit]


# --8<-- [start:recipe]
# Head first, so that a random head does not send large, meaningless
# gradients into good weights; then everything, the body more slowly.
# Like fastai (train_bn=True), the frozen body's BatchNorm layers keep
# learning in stage 1: their weights and biases train, and in train mode
# their running statistics follow the new images, whose statistics are
# not ImageNet's.
def fine_tune(model, n_classes, train_loader, valid_loader, head_epochs,
              unfrozen_epochs):
    """New head; train it on the frozen body, then all of it."""
    model.fc = nn.Linear(model.fc.in_features, n_classes)  # the new head
    model = model.to(device)
    history = []

    # Stage 1: freeze the pretrained body, train the new head (and BN).
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    if TRAIN_BN:
        for layer in model.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.requires_grad_(True)
    head_stage_trainable = trainable(model)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=HEAD_LR)
    fit(model, optimizer, train_loader, valid_loader, head_epochs,
        "head only", history)

    # Stage 2: unfreeze everything; the body learns 10x more slowly.
    model.requires_grad_(True)
    body = [p for name, p in model.named_parameters()
            if not name.startswith("fc.")]
    optimizer = torch.optim.AdamW([
        {"params": body, "lr": BODY_LR},
        {"params": model.fc.parameters(), "lr": HEAD_LR / 2}])
    fit(model, optimizer, train_loader, valid_loader, unfrozen_epochs,
        "unfrozen", history)
    return model, history, head_stage_trainable
# --8<-- [end:recipe]


# --8<-- [start:baselines]
# What to try before any network: logistic regression on small thumbnails
# of the pixels, and on the loaded body's 512 features (a linear probe:
# the best a new head on the frozen body could do), C picked by
# cross-validation on the training images.
def tensors(dataset):
    x, y = zip(*(dataset[i] for i in range(len(dataset))),
               strict=True)
    return torch.stack(x), np.array(y)


def baselines(model, plain_train, valid_set):
    (x_train, y_train), (x_valid, y_valid) = map(tensors,
                                                 (plain_train, valid_set))
    body = nn.Sequential(*list(model.children())[:-1], nn.Flatten())
    body = body.to(device).eval()
    scores = {}
    for name, embed in [
            ("pixels", lambda x: nn.functional.interpolate(
                x, size=min(THUMBNAIL, x.shape[-1]),
                mode="area").flatten(1)),
            ("linear_probe", lambda x: torch.cat([
                body(b.to(device)).cpu() for b in x.split(64)]))]:
        with torch.no_grad():
            train_x, valid_x = embed(x_train).numpy(), embed(x_valid).numpy()
        model_lr = make_pipeline(StandardScaler(), LogisticRegressionCV(
            Cs=[0.01, 0.1, 1.0, 10.0], cv=3, max_iter=2000))
        scores[name] = model_lr.fit(train_x, y_train).score(valid_x, y_valid)
        print(f"baseline {name}: accuracy {scores[name]:.3f}")
    return scores
# --8<-- [end:baselines]


# --8<-- [start:main]
# Your folder: full-size images and the ImageNet weights. No folder: the
# small demo, which never downloads.
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?",
                        default=os.environ.get("FINETUNE_DATA"),
                        help="an ImageFolder; without one, a demo is made")
    parser.add_argument("--weights", choices=["imagenet", "cached", "none"],
                        default=os.environ.get("FINETUNE_WEIGHTS"),
                        help="default: imagenet with your folder, cached "
                        "for the demo")
    # In a notebook, sys.argv holds the kernel's own arguments: use the
    # environment variables.
    args = parser.parse_args([] if "ipykernel" in sys.modules else None)
    try:
        OUT.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        sys.exit(f"finetune_torchvision.py: cannot write outputs to {OUT}: "
                 f"{err.strerror}")
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    with tempfile.TemporaryDirectory() as scratch:
        if args.data:      # your images: full size, ImageNet weights
            root, image_size, batch_size = args.data, IMAGE_SIZE, BATCH_SIZE
            epochs = HEAD_EPOCHS, UNFROZEN_EPOCHS
            choice = args.weights or "imagenet"
        else:              # the demo: a small folder, nothing downloaded
            root = make_demo_folder(scratch)
            image_size, batch_size = DEMO_IMAGE_SIZE, DEMO_BATCH_SIZE
            epochs = DEMO_HEAD_EPOCHS, DEMO_UNFROZEN_EPOCHS
            choice = args.weights or "cached"
        train_set, plain_train, valid_set, classes = image_folders(
            root, image_size)
        train_loader = DataLoader(
            train_set, batch_size=batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(SEED))
        valid_loader = DataLoader(valid_set, batch_size=2 * batch_size)
        print(f"{len(train_set)} training, {len(valid_set)} validation "
              f"images: {classes}")

        model, weights, weights_note = load_resnet18(choice)
        print(f"weights: {weights_note}")
        scores = baselines(model, plain_train, valid_set)
        model, history, head_stage_trainable = fine_tune(
            model, len(classes), train_loader, valid_loader, *epochs)
        if args.data:  # later: model.load_state_dict(torch.load(path))
            torch.save(model.state_dict(), OUT / "resnet18_finetuned.pt")
        report(model, valid_set, classes, history, weights, weights_note,
               head_stage_trainable, len(train_set), image_size, scores)
# --8<-- [end:main]


# --8<-- [start:report]
# The history table, eight validation images with their predictions, and
# the numbers the page quotes.
def report(model, valid_set, classes, history, weights, weights_note,
           head_stage_trainable, n_train, image_size, scores):
    table = pd.DataFrame(history)
    table.to_csv(OUT / "history.csv", index=False)
    (OUT / "history.md").write_text(
        table.to_markdown(index=False, floatfmt=".4f") + "\n")

    picks = np.linspace(0, len(valid_set) - 1, 8).round().astype(int)
    model.eval()
    shown = []
    for i in picks:
        x, y = valid_set[int(i)]
        with torch.no_grad():
            probs = model(x.unsqueeze(0).to(device)).softmax(1)[0].cpu()
        image = x.permute(1, 2, 0).numpy() * IMAGENET_STD + IMAGENET_MEAN
        shown.append((image.clip(0, 1), int(probs.argmax()), y,
                      float(probs.max())))

    def draw_predictions():
        fig, axes = plt.subplots(2, 4, figsize=(6.4, 3.9))
        for ax, (image, guess, actual, p) in zip(axes.flat, shown,
                                                 strict=True):
            ax.imshow(image)
            right = guess == actual
            ax.set_title(f"{classes[guess]} / {classes[actual]}\n"
                         f"p = {p:.2f}" + ("" if right else "  (wrong)"),
                         fontsize=9, color=plt.rcParams["text.color"]
                         if right else COLORS[3])
            ax.axis("off")
        fig.tight_layout()
        return fig

    save_figure(draw_predictions, "predictions")

    head_stage = table[table.stage == "head only"].iloc[-1]
    bn_params = sum(p.numel() for m in model.modules()
                    if isinstance(m, nn.BatchNorm2d)
                    for p in m.parameters())
    metrics = {
        "weights": weights,
        "weights_note": weights_note,
        "classes": ", ".join(classes),
        "n_classes": len(classes),
        "chance_accuracy": round(1 / len(classes), 4),
        "n_train": n_train,
        "n_valid": len(valid_set),
        "image_size": image_size,
        "total_params": sum(p.numel() for p in model.parameters()),
        "train_bn": TRAIN_BN,
        "bn_params": bn_params,
        "head_stage_trainable_params": head_stage_trainable,
        "epochs": len(history),
        "head_stage_accuracy": round(float(head_stage.accuracy), 4),
        "valid_accuracy": round(float(table.accuracy.iloc[-1]), 4),
        "final_valid_loss": round(float(table.valid_loss.iloc[-1]), 4),
        "train_loss_drop": round(float(table.train_loss.iloc[0]
                                       - table.train_loss.iloc[-1]), 4),
        "thumbnail": min(THUMBNAIL, image_size),
        "baseline_logreg_pixels_accuracy": round(scores["pixels"], 4),
        "baseline_linear_probe_accuracy": round(scores["linear_probe"], 4),
    }
    (OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
# --8<-- [end:report]


if __name__ == "__main__":
    main()

# Build checks (read by the site's build; harmless when run by hand):
# stage 1 trains the head and the BatchNorm layers: a small share of all
# dlnotes: expect quick head_stage_trainable_params <= 20000
# dlnotes: expect quick total_params >= 11000000
# dlnotes: expect quick train_loss_drop >= 0.1
# dlnotes: expect full valid_accuracy >= 0.8
# dlnotes: expect full baseline_logreg_pixels_accuracy >= 0.34
# wall-clock limit: generous, the build machine may be shared
# dlnotes: timeout 600
# The ImageNet checkpoint, where torch.hub keeps it: the result depends on
# whether it is there.
# dlnotes: data-if-present $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth
# dlnotes: data-if-present $XDG_CACHE_HOME/torch/hub/checkpoints/resnet18-f37072fd.pth
# dlnotes: data-if-present ~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth
