"""Match each reference file to the prediction file of the same case."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autoseg.data.naming import is_visible_image_file, split_ending
from autoseg.errors import AutosegError


@dataclass(frozen=True)
class CasePair:
    case: str
    prediction: Path
    reference: Path


def _existing_folder(folder: str | Path, what: str) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise AutosegError(f"{what} folder not found", folder, "check the path")
    return folder


def _has_ending(path: Path, ending: str) -> bool:
    """A visible file named <case><ending> (any ending, also ones SimpleITK reads that we never listed)."""
    name = path.name
    return (
        not name.startswith(".")
        and len(name) > len(ending)
        and name.lower().endswith(ending.lower())
        and path.is_file()
    )


def infer_file_ending(ref_dir: Path) -> str:
    """The one ending shared by all image files in the reference folder."""
    endings = {split_ending(p.name)[1].lower() for p in ref_dir.iterdir() if is_visible_image_file(p)}
    if not endings:
        raise AutosegError(
            "reference folder holds no image files",
            ref_dir,
            "point it at the folder of reference label maps (e.g. labelsTr)",
        )
    if len(endings) > 1:
        raise AutosegError(
            f"reference folder mixes file endings {sorted(endings)}",
            ref_dir,
            "pass the ending of the label maps to evaluate (--file-ending)",
        )
    return endings.pop()


def pair_cases(
    pred_dir: str | Path, ref_dir: str | Path, file_ending: str | None = None
) -> tuple[list[CasePair], str, list[str]]:
    """(pairs sorted by case, the file ending used, prediction files that have no reference).

    Every reference needs a prediction: a missing one raises an AutosegError naming the cases.
    """
    pred_dir, ref_dir = _existing_folder(pred_dir, "prediction"), _existing_folder(ref_dir, "reference")
    ending = file_ending or infer_file_ending(ref_dir)
    references = sorted(p for p in ref_dir.iterdir() if _has_ending(p, ending))
    if not references:
        raise AutosegError(
            f"reference folder holds no '{ending}' files",
            ref_dir,
            "check the folder, or pass the ending its label maps use (--file-ending)",
        )
    pairs = [CasePair(r.name[: -len(ending)], pred_dir / r.name, r) for r in references]
    missing = [pair.case for pair in pairs if not pair.prediction.is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise AutosegError(
            f"no prediction for {len(missing)} of {len(pairs)} reference cases: {shown}",
            pred_dir,
            f"predict those cases into this folder (as <case>{ending}), "
            "or evaluate against a reference folder holding only the predicted cases",
        )
    referenced = {r.name for r in references}
    unmatched = sorted(p.name for p in pred_dir.iterdir() if _has_ending(p, ending) and p.name not in referenced)
    return pairs, ending, unmatched
