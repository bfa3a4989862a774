"""The issue's yardstick: a short hand-written U-Net trainer, with no planning, to run on the same machine.

Issue #4 compares autoseg with "a 100-line hand-written 3D U-Net (16-128 features, bf16 autocast, flips only,
Dice+CE, poly SGD, patch 40x56x40, batch 4)". Its 0.877 was measured on another machine, so this script rebuilds
that recipe from the issue's words and runs it here, on autoseg's own split, for a same-machine comparison.
It deliberately uses nothing from autoseg except the split file and writes predictions that `autoseg evaluate`
scores. Choices the issue leaves open are the plain ones: z-score per image, instance norm + leaky ReLU, two
convolutions per stage, random crops with zero padding, every axis flipped, the default memory layout, no
torch.compile, whole-image prediction without TTA.

    python benchmarks/baseline/handwritten_unet.py DATASET SPLITS.json FOLD OUT --minutes 15 [--dims 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch
import torch.nn.functional as F
from torch import nn


def cases(dataset: Path) -> dict[str, tuple[Path, Path]]:
    """case -> (image, label) for the MSD layout (a `training` list) and the nnU-Net v2 layout (_0000 files)."""
    description = json.loads((dataset / "dataset.json").read_text())
    if "training" in description:
        return {
            Path(e["image"]).name.split(".")[0]: (dataset / e["image"], dataset / e["label"])
            for e in description["training"]
        }
    ending = description["file_ending"]
    return {
        p.name[: -len("_0000" + ending)]: (p, dataset / "labelsTr" / p.name.replace("_0000", ""))
        for p in sorted((dataset / "imagesTr").glob("*_0000" + ending))
    }


def load(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float32)


def zscore(image: np.ndarray) -> np.ndarray:
    return (image - image.mean()) / max(float(image.std()), 1e-8)


def block(conv, norm, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        conv(c_in, c_out, 3, stride, 1),
        norm(c_out, affine=True),
        nn.LeakyReLU(0.01, True),
        conv(c_out, c_out, 3, 1, 1),
        norm(c_out, affine=True),
        nn.LeakyReLU(0.01, True),
    )


class UNet(nn.Module):
    def __init__(self, dims: int, features: list[int], classes: int):
        super().__init__()
        conv, up = (nn.Conv3d, nn.ConvTranspose3d) if dims == 3 else (nn.Conv2d, nn.ConvTranspose2d)
        norm = nn.InstanceNorm3d if dims == 3 else nn.InstanceNorm2d
        self.down = nn.ModuleList(
            block(conv, norm, c_in, c_out, 1 if i == 0 else 2)
            for i, (c_in, c_out) in enumerate(zip([1] + features, features))
        )
        self.up = nn.ModuleList(up(c_deep, c, 2, 2) for c_deep, c in zip(features[:0:-1], features[-2::-1]))
        self.merge = nn.ModuleList(block(conv, norm, 2 * c, c, 1) for c in features[-2::-1])
        self.head = conv(features[0], classes, 1)

    def forward(self, x):
        skips = []
        for stage in self.down:
            x = stage(x)
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, skips[-2::-1]):
            x = merge(torch.cat([up(x), skip], 1))
        return self.head(x)


def dice_ce(logits, target, classes: int):
    probabilities = logits.float().softmax(1)
    one_hot = F.one_hot(target, classes).movedim(-1, 1).float()
    axes = [0] + list(range(2, logits.ndim))  # batch Dice
    dice = (2 * (probabilities * one_hot).sum(axes) + 1e-5) / (probabilities.sum(axes) + one_hot.sum(axes) + 1e-5)
    return F.cross_entropy(logits.float(), target) + 1 - dice[1:].mean()


def random_patch(image, label, patch, rng):
    """A random crop of `patch`, zero-padded where the image is smaller, every axis flipped at random."""
    pad = [(0, max(0, p - s)) for p, s in zip(patch, image.shape)]
    image, label = np.pad(image, pad), np.pad(label, pad)
    start = [rng.integers(0, s - p + 1) for s, p in zip(image.shape, patch)]
    window = tuple(slice(a, a + p) for a, p in zip(start, patch))
    image, label = image[window], label[window]
    for axis in range(image.ndim):
        if rng.random() < 0.5:
            image, label = np.flip(image, axis), np.flip(label, axis)
    return image.copy(), label.copy()


def padded_predict(model, image, multiple: int) -> np.ndarray:
    pad = [(0, -s % multiple) for s in image.shape]
    x = torch.from_numpy(np.pad(image, pad))[None, None]
    with torch.no_grad(), autocast():
        labels = model(x).argmax(1)[0].numpy()
    return labels[tuple(slice(0, s) for s in image.shape)].astype(np.uint8)


# bf16 only where the CPU has bf16 matrix units (AMX); elsewhere emulated bf16 is far slower than fp32.
BF16 = "amx_bf16" in Path("/proc/cpuinfo").read_text()


def autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16)


def train_within(model, train, patch, batch_size: int, classes: int, seconds: float) -> int:
    """Poly-SGD steps until the time is up; returns the number of steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.99, nesterov=True, weight_decay=3e-5)
    rng, start, iterations = np.random.default_rng(0), time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        for group in optimizer.param_groups:  # poly decay over the time budget
            group["lr"] = 1e-2 * (1 - elapsed / seconds) ** 0.9
        batch = [random_patch(*train[rng.integers(len(train))], patch, rng) for _ in range(batch_size)]
        x = torch.from_numpy(np.stack([b[0] for b in batch]))[:, None]
        y = torch.from_numpy(np.stack([b[1] for b in batch]))
        with autocast():
            loss = dice_ce(model(x), y, classes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 12)
        optimizer.step()
        iterations += 1
        if iterations % 100 == 0:
            print(f"{iterations} iterations, {elapsed:.0f} s, loss {loss.item():.3f}", flush=True)
    return iterations


def predict_and_score(model, files, val_cases, classes: int, multiple: int, out: Path) -> dict[int, list[float]]:
    """Per-class Dice of every held-out case; writes each prediction in the reference's geometry and links the
    reference beside it, so that `autoseg evaluate out/predictions out/references` scores the same files."""
    model.eval()
    dice = {k: [] for k in range(1, classes)}
    for folder in ("predictions", "references"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for case in val_cases:
        image_path, label_path = files[case]
        reference = sitk.ReadImage(str(label_path))
        truth = sitk.GetArrayFromImage(reference)
        predicted = padded_predict(model, zscore(load(image_path)), multiple)
        for k in dice:
            both = (predicted == k).sum() + (truth == k).sum()
            dice[k].append(2 * ((predicted == k) & (truth == k)).sum() / both if both else 1.0)
        written = sitk.GetImageFromArray(predicted)
        written.CopyInformation(reference)
        name = case + label_path.name[len(case) :]
        sitk.WriteImage(written, str(out / "predictions" / name))
        (out / "references" / name).unlink(missing_ok=True)
        (out / "references" / name).symlink_to(label_path.resolve())
    return dice


def append_record(path: Path, dataset: Path, result: dict) -> None:
    """The harness, unlike the yardstick, may use autoseg: the machine and load as every benchmark records them."""
    from autoseg.benchmark.machine import load_average, machine_info

    records = json.loads(path.read_text()) if path.exists() else []
    records.append(
        {
            "date": time.strftime("%Y-%m-%d"),
            "cpu": machine_info()["cpu"],
            "load_average": load_average(),
            "dataset": dataset.name,
            "command": "python " + " ".join(sys.argv),
            **result,
        }
    )
    path.write_text(json.dumps(records, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("splits", type=Path, help="an autoseg splits.json, so both tools hold out the same cases")
    parser.add_argument("fold", type=int)
    parser.add_argument("out", type=Path, help="folder for predictions, references (links) and result.json")
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--dims", type=int, default=3, choices=[2, 3])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--record", type=Path, help="append the result, with date, CPU and command, to this JSON list")
    args = parser.parse_args()
    patch, features = ([40, 56, 40], [16, 32, 64, 128]) if args.dims == 3 else ([256, 256], [16, 32, 64, 128, 256])
    torch.manual_seed(0)
    split, files = json.loads(args.splits.read_text())[args.fold], cases(args.dataset)
    train = [(zscore(load(files[c][0])), load(files[c][1]).astype(np.int64)) for c in split["train"]]
    classes = int(max(label.max() for _, label in train)) + 1
    model = UNet(args.dims, features, classes)
    start, budget = time.perf_counter(), args.minutes * 60
    iterations = train_within(model, train, patch, args.batch, classes, budget)
    dice = predict_and_score(model, files, split["val"], classes, 2 ** (len(features) - 1), args.out)
    result = {
        "iterations": iterations,
        "iterations_per_second": iterations / budget,
        "dice_per_class": {k: float(np.mean(v)) for k, v in dice.items()},
        "dice": float(np.mean([np.mean(v) for v in dice.values()])),
        "seconds_total": time.perf_counter() - start,
        "bf16": BF16,
        "patch": patch,
        "batch": args.batch,
        "features": features,
        "fold": args.fold,
        "validation_cases": len(split["val"]),
    }
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if args.record:
        append_record(args.record, args.dataset, result)


if __name__ == "__main__":
    main()
