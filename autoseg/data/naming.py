"""File names of image files: multi-part endings (.nii.gz) and nnU-Net's <case>_<channel:04d><ending> scheme."""

from __future__ import annotations

import re
from pathlib import Path

# Endings we know and test; SimpleITK reads more, and any ending it can read works.
SUPPORTED_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".png", ".tif", ".tiff", ".bmp")

# Formats that hold only a 2D grid of 8/16-bit pixels (no origin, no direction).
PLAIN_2D_ENDINGS = (".png", ".bmp", ".jpg", ".jpeg")

# Formats in which one file can hold several channels as colour components (RGB pictures).
COLOUR_ENDINGS = PLAIN_2D_ENDINGS + (".tif", ".tiff")

_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def split_ending(name: str | Path) -> tuple[str, str]:
    """('case_001', '.nii.gz') from 'case_001.nii.gz'; unknown endings split at the last dot."""
    name = Path(name).name
    lowered = name.lower()
    for ending in sorted(SUPPORTED_ENDINGS, key=len, reverse=True):
        if lowered.endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)], name[-len(ending) :]
    suffix = Path(name).suffix
    return (name[: -len(suffix)], suffix) if suffix else (name, "")


def parse_channel_file(name: str | Path) -> tuple[str, int] | None:
    """(case_id, channel) for 'case_001_0002.nii.gz', None when the name has no _XXXX channel suffix."""
    stem, _ = split_ending(name)
    match = _CHANNEL_SUFFIX.match(stem)
    return (match["case"], int(match["channel"])) if match else None


def channel_file_name(case_id: str, channel: int, ending: str) -> str:
    return f"{case_id}_{channel:04d}{ending}"


def is_visible_image_file(path: Path, endings: tuple[str, ...] | None = None) -> bool:
    """A regular, non-hidden file (macOS '._x.nii.gz' droppings are hidden) with one of `endings`."""
    if path.name.startswith(".") or not path.is_file():
        return False
    ending = split_ending(path.name)[1].lower()
    return ending in (endings or SUPPORTED_ENDINGS)


def group_channel_files(files: list[Path]) -> tuple[dict[str, list[Path]], list[Path]]:
    """Files with a _XXXX suffix grouped per case (sorted by channel), and the files without such a suffix."""
    grouped: dict[str, list[tuple[int, Path]]] = {}
    unmatched: list[Path] = []
    for path in files:
        parsed = parse_channel_file(path.name)
        if parsed is None:
            unmatched.append(path)
        else:
            grouped.setdefault(parsed[0], []).append((parsed[1], path))
    cases = {case: [p for _, p in sorted(entries)] for case, entries in sorted(grouped.items())}
    return cases, unmatched
