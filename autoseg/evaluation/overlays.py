"""PNG pictures of a few cases for a person to look at: image, reference overlay, prediction overlay.

Each picture shows the slice along axis 0 (z) with the most reference foreground (the prediction's when the
reference is empty; the middle slice when both are), or the only slice of a 2D image. Rendering uses
matplotlib's Agg canvas directly, so no display and no global backend switch are needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from skimage.segmentation import find_boundaries

from autoseg.data.image_io import read_image, read_label
from autoseg.data.naming import split_ending
from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import overlap_metrics
from autoseg.utils.files import atomic_write

PathLike = str | Path
ImageSource = np.ndarray | PathLike | Sequence[PathLike]  # array or the file(s) of its channels
LabelSource = np.ndarray | PathLike

FILL_OPACITY = 0.35
# Label value v is drawn in LABEL_COLOURS[(v - 1) % len]: tab10's colours, which stay apart on grey images.
LABEL_COLOURS = (
    np.array(
        [
            (31, 119, 180),
            (255, 127, 14),
            (44, 160, 44),
            (214, 39, 40),
            (148, 103, 189),
            (140, 86, 75),
            (227, 119, 194),
            (188, 189, 34),
            (23, 190, 207),
            (127, 127, 127),
        ]
    )
    / 255
)


def _as_volume(array: np.ndarray) -> np.ndarray:
    """(Z, Y, X) from (Y, X), (Z, Y, X) or (C, Z, Y, X) (first channel)."""
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    return array[0] if array.ndim == 4 else array


def _load_image(source: ImageSource) -> tuple[np.ndarray, float]:
    """(Z, Y, X) first channel and the y/x pixel aspect (1 for arrays, which carry no spacing)."""
    if isinstance(source, np.ndarray):
        return _as_volume(source).astype(np.float32), 1.0
    paths = [source] if isinstance(source, (str, Path)) else list(source)
    image, geometry = read_image(paths)
    return _as_volume(image), geometry.spacing[1] / geometry.spacing[2]


def _load_label(source: LabelSource) -> np.ndarray:
    return _as_volume(source) if isinstance(source, np.ndarray) else read_label(source)[0]


def most_foreground_slice(ref: np.ndarray, pred: np.ndarray) -> int:
    """Index along axis 0 of the slice with most reference (else prediction) foreground, else the middle one."""
    for label_map in (ref, pred):
        per_slice = np.count_nonzero(label_map.reshape(label_map.shape[0], -1), axis=1)
        if per_slice.any():
            return int(np.argmax(per_slice))
    return ref.shape[0] // 2


def _grey(image_slice: np.ndarray) -> np.ndarray:
    """The slice scaled to [0, 1] between its 0.5th and 99.5th percentiles, as RGB."""
    low, high = np.percentile(image_slice, (0.5, 99.5))
    scaled = np.clip((image_slice - low) / max(high - low, 1e-8), 0.0, 1.0)
    return np.repeat(scaled[..., None], 3, axis=-1)


def label_overlay(rgb: np.ndarray, label_slice: np.ndarray) -> np.ndarray:
    """Each label filled translucently in its colour, its outline drawn opaque."""
    out = rgb.copy()
    for value in np.unique(label_slice):
        if value == 0:
            continue
        mask = label_slice == value
        colour = LABEL_COLOURS[(int(value) - 1) % len(LABEL_COLOURS)]
        out[mask] = (1 - FILL_OPACITY) * out[mask] + FILL_OPACITY * colour
        out[find_boundaries(mask, mode="inner")] = colour
    return out


def _foreground_dice(ref: np.ndarray, pred: np.ndarray) -> float:
    values = sorted((set(np.unique(ref)) | set(np.unique(pred))) - {0})
    if not values:
        return 1.0
    return float(np.mean([overlap_metrics(pred == v, ref == v)["Dice"] for v in values]))


def save_overlay(
    image: np.ndarray, ref: np.ndarray, pred: np.ndarray, path: PathLike, title: str = "", aspect: float = 1.0
) -> Path:
    """One PNG with three panels for (Z, Y, X) image, reference and prediction of the same shape."""
    z = most_foreground_slice(ref, pred)
    grey = _grey(image[z])
    panels = [
        ("image", grey),
        ("reference", label_overlay(grey, ref[z])),
        (f"prediction (Dice {_foreground_dice(ref, pred):.3f})", label_overlay(grey, pred[z])),
    ]
    figure = Figure(figsize=(12, 4.4), layout="constrained")
    figure.suptitle(f"{title}  slice z={z}" if image.shape[0] > 1 else title)
    for axes, (name, picture) in zip(figure.subplots(1, 3), panels):
        axes.imshow(picture, aspect=aspect, interpolation="nearest")
        axes.set_title(name)
        axes.set_axis_off()
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100), suffix=".png")


def _case_name(ref: LabelSource, index: int) -> str:
    return f"case_{index:03d}" if isinstance(ref, np.ndarray) else split_ending(ref)[0]


def save_overlays(
    images: Sequence[ImageSource],
    refs: Sequence[LabelSource],
    preds: Sequence[LabelSource],
    out_dir: PathLike,
    n: int = 4,
    names: Sequence[str] | None = None,
) -> list[Path]:
    """PNGs <out_dir>/<case>.png for the first n cases; returns their paths.

    Each image is an array ((Y, X), (Z, Y, X) or (C, Z, Y, X); the first channel is shown) or the file(s) of its
    channels; each reference/prediction is an integer array or a label file. Names default to the reference
    file names (case_000, ... for arrays).
    """
    if not len(images) == len(refs) == len(preds):
        raise ValueError(f"{len(images)} images, {len(refs)} references and {len(preds)} predictions differ in number")
    out_dir = Path(out_dir)
    written = []
    for index in range(min(n, len(refs))):
        name = names[index] if names is not None else _case_name(refs[index], index)
        image, aspect = _load_image(images[index])
        ref, pred = _load_label(refs[index]), _load_label(preds[index])
        if not image.shape == ref.shape == pred.shape:
            raise AutosegError(
                f"case {name}: image {image.shape}, reference {ref.shape} and prediction {pred.shape} differ in shape",
                fix="pass the image, reference and prediction of the same case, on the same voxel grid",
            )
        written.append(save_overlay(image, ref, pred, out_dir / f"{name}.png", title=name, aspect=aspect))
    return written


def worst_cases(summary: dict, n: int) -> list[tuple[dict, float]]:
    """The n case records of an evaluation summary with the lowest mean foreground Dice (worst first), each with
    that Dice: the cases a person most needs to look at."""
    scored = [(case, float(np.mean([m["Dice"] for m in case["metrics"].values()]))) for case in summary["cases"]]
    return sorted(scored, key=lambda pair: (pair[1], pair[0]["case"]))[: max(n, 0)]


def save_summary_overlays(
    summary: dict, images: dict[str, Sequence[PathLike]], out_dir: PathLike, n: int, dataset: PathLike | None = None
) -> list[tuple[Path, float]]:
    """PNGs of the n worst cases of an evaluation summary, from the image files of each case (`images`: case id
    -> its channel files, e.g. from the dataset); returns (path, mean foreground Dice) worst first."""
    chosen = worst_cases(summary, n)
    missing = [case["case"] for case, _ in chosen if case["case"] not in images]
    if missing:
        raise AutosegError(
            f"the dataset has no image for case(s) {', '.join(missing[:5])}, which the overlays need",
            dataset,
            "pass as --dataset the dataset the predicted images come from",
        )
    cases = [case for case, _ in chosen]
    paths = save_overlays(
        [images[c["case"]] for c in cases],
        [c["reference"] for c in cases],
        [c["prediction"] for c in cases],
        out_dir,
        n=len(cases),
        names=[c["case"] for c in cases],
    )
    return [(path, dice) for path, (_, dice) in zip(paths, chosen)]
