"""The real recipe: fine-tune torchvision's ImageNet-pretrained ResNet-18 on your own images.

    python finetune_torchvision.py PATH/TO/IMAGES      # or: FINETUNE_DATA=PATH/TO/IMAGES

PATH/TO/IMAGES is an ImageFolder: one sub-folder of images per class, or `train/` and `valid/`
(or `val/`) each holding one sub-folder per class. With your own folder the script asks for
`ResNet18_Weights.DEFAULT`; the first time, torchvision DOWNLOADS those ImageNet weights (about
45 MB) into the torch hub cache (`$TORCH_HOME/hub/checkpoints`, by default ~/.cache/torch).

Without a folder (this is how the site's build runs it) the script makes a small ImageFolder of
texture photos bundled with scikit-image, and it never downloads anything: it uses the ImageNet
weights only if they are already in the torch hub cache, and otherwise says so and starts from
random weights (`weights=None`). `--weights imagenet|cached|none` (or FINETUNE_WEIGHTS) overrides
the choice. Outputs go to the folder DLNOTES_OUT names (default ./outputs/finetune_torchvision);
DLNOTES_QUICK=1 makes the demo smaller.
"""
# dlnotes: expect quick head_stage_trainable_params <= 2000
# dlnotes: expect quick total_params >= 11000000
# dlnotes: expect quick train_loss_drop >= 0.1
# dlnotes: expect full valid_accuracy >= 0.8
# dlnotes: timeout 180
# The ImageNet checkpoint, where torch.hub keeps it: the result depends on whether it is there.
# dlnotes: data-if-present $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth
# dlnotes: data-if-present $XDG_CACHE_HOME/torch/hub/checkpoints/resnet18-f37072fd.pth
# dlnotes: data-if-present ~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth

# --8<-- [start:setup]
import argparse
import hashlib
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms
from torchvision.models import ResNet18_Weights, resnet18

QUICK = os.environ.get("DLNOTES_QUICK") == "1"
IMAGE_SIZE = 224                  # what the ImageNet weights were trained on
BATCH_SIZE = 32
HEAD_EPOCHS = 2                   # stage 1: body frozen, only the new head learns
UNFROZEN_EPOCHS = 4               # stage 2: everything learns
HEAD_LR = 1e-3
BODY_LR = 1e-4                    # stage 2: the pretrained body moves 10x more slowly
VALID_FRACTION = 0.2              # held out when the folder has no train/ and valid/
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SEED = 0
# The build's demo (no folder given): small images and few epochs, so that it runs on a CPU.
DEMO_IMAGE_SIZE = 64
DEMO_TRAIN, DEMO_VALID = (16, 8) if QUICK else (40, 20)   # images per class
DEMO_HEAD_EPOCHS, DEMO_UNFROZEN_EPOCHS = (1, 2) if QUICK else (2, 6)
DEMO_BATCH_SIZE = 16

OUT = Path(os.environ.get("DLNOTES_OUT", "outputs/finetune_torchvision"))
device = "cuda" if torch.cuda.is_available() else "cpu"
# --8<-- [end:setup]


# --8<-- [start:weights]
def imagenet_checkpoint():
    """Where torch.hub keeps ResNet18_Weights.DEFAULT once it is downloaded."""
    name = Path(ResNet18_Weights.DEFAULT.url).name           # resnet18-f37072fd.pth
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def load_resnet18(choice):
    """ResNet-18, the weights it got ('imagenet', 'other-checkpoint' or 'none'), and why.

    'imagenet' may download; 'cached' uses the weights only if they are on disk already;
    'none' starts from random weights.
    """
    checkpoint = imagenet_checkpoint()
    if choice == "imagenet" or (choice == "cached" and checkpoint.is_file()):
        try:
            model = resnet18(weights=ResNet18_Weights.DEFAULT)   # downloads if not cached
        except OSError as err:  # offline, or the download was refused
            sys.exit(f"cannot get the ImageNet weights ({err}); put {checkpoint.name} in "
                     f"{checkpoint.parent} or run with --weights none")
        # The file name holds the start of the published file's SHA-256: check it.
        expected = re.search(r"-([0-9a-f]+)\.pth$", checkpoint.name).group(1)
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        if digest.startswith(expected):
            return model, "imagenet", "ImageNet weights (ResNet18_Weights.DEFAULT, verified)"
        return model, "other-checkpoint", (
            f"the cached {checkpoint.name} is not the published file (its SHA-256 "
            "differs): these are NOT ImageNet weights")
    why = "as asked" if choice == "none" else (
        "no ImageNet checkpoint in the torch hub cache, and the demo never downloads")
    return resnet18(weights=None), "none", f"random weights (weights=None), {why}"
# --8<-- [end:weights]


# --8<-- [start:data]
def image_folders(root, image_size):
    """(train set, valid set, class names) from an ImageFolder layout."""
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
    valid_dir = next((root / n for n in ("valid", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and valid_dir is not None:
        train_set = datasets.ImageFolder(root / "train", train_tf)
        return train_set, datasets.ImageFolder(valid_dir, valid_tf), train_set.classes
    # One folder of class folders: hold out VALID_FRACTION of it, the same split every run.
    train_all = datasets.ImageFolder(root, train_tf)
    valid_all = datasets.ImageFolder(root, valid_tf)  # the same files, without augmentation
    order = torch.randperm(len(train_all), generator=torch.Generator().manual_seed(SEED)).tolist()
    n_valid = max(1, round(len(order) * VALID_FRACTION))
    return Subset(train_all, order[n_valid:]), Subset(valid_all, order[:n_valid]), train_all.classes


def make_demo_folder(root):
    """A small ImageFolder from scikit-image's bundled texture photos: brick, grass, gravel.

    96x96 crops; training crops come from the top 60 % of each photo, validation crops from
    the bottom 40 %, so no validation pixel was seen in training.
    """
    from skimage import data

    rng = np.random.default_rng(SEED)
    for name in ("brick", "grass", "gravel"):
        photo = getattr(data, name)()                       # 512x512 grayscale
        split_row = int(photo.shape[0] * 0.6)
        for subset, count, (low, high) in (("train", DEMO_TRAIN, (0, split_row - 96)),
                                           ("valid", DEMO_VALID, (split_row, 512 - 96))):
            folder = Path(root) / subset / name
            folder.mkdir(parents=True)
            for i in range(count):
                top, left = rng.integers(low, high + 1), rng.integers(0, 512 - 96 + 1)
                crop = photo[top:top + 96, left:left + 96]
                Image.fromarray(crop).convert("RGB").save(folder / f"{name}_{i:03d}.png")
    return root
# --8<-- [end:data]


# --8<-- [start:fit]
def fit(model, optimizer, train_loader, valid_loader, epochs, stage, history):
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        total, seen = 0.0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, seen = total + loss.item() * len(y), seen + len(y)
        model.eval()
        valid_loss, correct, count = 0.0, 0, 0
        with torch.no_grad():
            for x, y in valid_loader:
                x, y = x.to(device), y.to(device)
                logits = model(x)
                valid_loss += loss_fn(logits, y).item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                count += len(y)
        history.append({"epoch": len(history) + 1, "stage": stage,
                        "train_loss": total / seen, "valid_loss": valid_loss / count,
                        "accuracy": correct / count})
        print(f"epoch {len(history)} ({stage}): train_loss {total / seen:.4f}  "
              f"valid_loss {valid_loss / count:.4f}  accuracy {correct / count:.3f}")


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
# --8<-- [end:fit]


# --8<-- [start:recipe]
def fine_tune(model, n_classes, train_loader, valid_loader, head_epochs, unfrozen_epochs):
    """New head for n_classes; train it on the frozen body, then all of it, body slower."""
    model.fc = nn.Linear(model.fc.in_features, n_classes)   # the new head
    model = model.to(device)
    history = []

    # Stage 1: freeze the pretrained body, train only the new head.
    model.requires_grad_(False)
    model.fc.requires_grad_(True)
    head_stage_trainable = trainable(model)
    optimizer = torch.optim.AdamW(model.fc.parameters(), lr=HEAD_LR)
    fit(model, optimizer, train_loader, valid_loader, head_epochs, "head only", history)

    # Stage 2: unfreeze everything; the body learns with a 10x lower learning rate.
    model.requires_grad_(True)
    body = [p for name, p in model.named_parameters() if not name.startswith("fc.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": BODY_LR},
                                   {"params": model.fc.parameters(), "lr": HEAD_LR / 2}])
    fit(model, optimizer, train_loader, valid_loader, unfrozen_epochs, "unfrozen", history)
    return model, history, head_stage_trainable
# --8<-- [end:recipe]


# --8<-- [start:main]
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=os.environ.get("FINETUNE_DATA"),
                        help="an ImageFolder; without one, a small demo folder is made")
    parser.add_argument("--weights", choices=["imagenet", "cached", "none"],
                        default=os.environ.get("FINETUNE_WEIGHTS"),
                        help="default: imagenet with your folder, cached for the demo")
    # In a notebook, sys.argv holds the kernel's own arguments: use the environment variables.
    args = parser.parse_args([] if "ipykernel" in sys.modules else None)
    try:
        OUT.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        sys.exit(f"finetune_torchvision.py: cannot write outputs to {OUT}: {err.strerror}")
    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)

    with tempfile.TemporaryDirectory() as scratch:
        if args.data:      # your images: full size, real epochs, ImageNet weights
            root, image_size, batch_size = args.data, IMAGE_SIZE, BATCH_SIZE
            epochs = HEAD_EPOCHS, UNFROZEN_EPOCHS
            choice = args.weights or "imagenet"
        else:              # the demo: a small folder made here, nothing downloaded
            root = make_demo_folder(scratch)
            image_size, batch_size = DEMO_IMAGE_SIZE, DEMO_BATCH_SIZE
            epochs = DEMO_HEAD_EPOCHS, DEMO_UNFROZEN_EPOCHS
            choice = args.weights or "cached"
        train_set, valid_set, classes = image_folders(root, image_size)
        train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                                  generator=torch.Generator().manual_seed(SEED))
        valid_loader = DataLoader(valid_set, batch_size=2 * batch_size)
        print(f"{len(train_set)} training, {len(valid_set)} validation images: {classes}")

        model, weights, weights_note = load_resnet18(choice)
        print(f"weights: {weights_note}")
        model, history, head_stage_trainable = fine_tune(
            model, len(classes), train_loader, valid_loader, *epochs)
        if args.data:  # for inference later: model.load_state_dict(torch.load(path))
            torch.save(model.state_dict(), OUT / "resnet18_finetuned.pt")
        report(model, valid_set, classes, history, weights, weights_note,
               head_stage_trainable, len(train_set), image_size)
# --8<-- [end:main]


# --8<-- [start:report]
def report(model, valid_set, classes, history, weights, weights_note, head_stage_trainable,
           n_train, image_size):
    table = pd.DataFrame(history)
    table.to_csv(OUT / "history.csv", index=False)
    (OUT / "history.md").write_text(table.to_markdown(index=False, floatfmt=".4f") + "\n")

    picks = np.linspace(0, len(valid_set) - 1, 12).round().astype(int)
    model.eval()
    fig, axes = plt.subplots(2, 6, figsize=(10, 4.8))
    for ax, i in zip(axes.flat, picks, strict=True):
        x, y = valid_set[int(i)]
        with torch.no_grad():
            probs = model(x.unsqueeze(0).to(device)).softmax(1)[0]
        shown = x.permute(1, 2, 0).numpy() * IMAGENET_STD + IMAGENET_MEAN
        ax.imshow(shown.clip(0, 1))
        guess = int(probs.argmax())
        ax.set_title(f"{classes[guess]} / {classes[y]}\np = {probs[guess]:.2f}", fontsize=9,
                     color="black" if guess == y else "tab:red")
        ax.axis("off")
    fig.suptitle("Validation images: prediction / actual, and the probability of the prediction")
    fig.tight_layout()
    fig.savefig(OUT / "predictions.png", dpi=110)
    plt.close(fig)

    head_stage = table[table.stage == "head only"].iloc[-1]
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
        "head_stage_trainable_params": head_stage_trainable,
        "epochs": len(history),
        "head_stage_accuracy": round(float(head_stage.accuracy), 4),
        "valid_accuracy": round(float(table.accuracy.iloc[-1]), 4),
        "final_valid_loss": round(float(table.valid_loss.iloc[-1]), 4),
        "train_loss_drop": round(float(table.train_loss.iloc[0] - table.train_loss.iloc[-1]), 4),
    }
    (OUT / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
# --8<-- [end:report]


if __name__ == "__main__":
    main()
