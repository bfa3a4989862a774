"""How large an image autoseg agrees to read, checked from the header before any reader allocates.

A header is a claim, not a fact: a few hundred bytes can announce terabytes of voxels, and a reader allocates what
the header says before it notices that the data is not there. So every image's header is parsed first
(image_header.py) and its voxel count and byte size are compared with these limits, and with the file's size
where the format allows (raw data must be in the file; deflate cannot expand more than MAX_DEFLATE_RATIO-fold).

Defaults: 2^31 voxels and the smaller of 8 GiB and half the machine's RAM per image (a prediction holds several
float copies of it). Genuinely larger images: set AUTOSEG_MAX_IMAGE_VOXELS and/or AUTOSEG_MAX_IMAGE_BYTES.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from autoseg.errors import AutosegError

VOXELS_VARIABLE = "AUTOSEG_MAX_IMAGE_VOXELS"
BYTES_VARIABLE = "AUTOSEG_MAX_IMAGE_BYTES"
DEFAULT_MAX_VOXELS = 2**31
DEFAULT_MAX_BYTES = 8 * 2**30
# deflate (gzip, zlib) encodes at most 258 bytes in 2 bits of a block: no stream expands more than ~1032-fold
MAX_DEFLATE_RATIO = 1032


@dataclass(frozen=True)
class ImageLimits:
    voxels: int
    bytes: int


def machine_ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def image_limits() -> ImageLimits:
    """The limits in force: the environment's, else the defaults (bytes capped at half the RAM)."""
    ram = machine_ram_bytes()
    default_bytes = DEFAULT_MAX_BYTES if ram is None else min(DEFAULT_MAX_BYTES, ram // 2)
    return ImageLimits(
        voxels=_from_environment(VOXELS_VARIABLE, DEFAULT_MAX_VOXELS),
        bytes=_from_environment(BYTES_VARIABLE, default_bytes),
    )


def _from_environment(name: str, default: int) -> int:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        value = int(float(text))
    except ValueError:
        raise AutosegError(
            f"{name}={text!r} is not a number", None, f"set {name} to a whole number, e.g. {default}"
        ) from None
    if value <= 0:
        raise AutosegError(f"{name}={text!r} must be positive", None, f"set {name} to e.g. {default}")
    return value


def check_size(path: Path, voxels: int, bytes_per_voxel: int, limits: ImageLimits | None = None) -> None:
    """Refuse an image whose header announces more voxels or bytes than the limits allow."""
    limits = limits or image_limits()
    size = voxels * bytes_per_voxel
    if voxels > limits.voxels or size > limits.bytes:
        raise AutosegError(
            f"the image header announces {voxels} voxels x {bytes_per_voxel} bytes = "
            f"{size / 2**30:.3g} GiB, more than the limit of {limits.voxels} voxels and "
            f"{limits.bytes / 2**30:.3g} GiB per image (refused before reading)",
            path,
            f"if the header is damaged, export the image again; if the image is genuinely that "
            f"large, raise the limits with {VOXELS_VARIABLE}=<voxels> and {BYTES_VARIABLE}=<bytes>",
        )


def check_data_room(path: Path, needed: int, available: int, compressed: bool) -> None:
    """The data a header announces must fit in the bytes the file has for it (raw), or could expand from them
    (deflate): otherwise a reader would allocate for data that is not there."""
    most = available * MAX_DEFLATE_RATIO + 64 if compressed else available
    if needed > most:
        how = (
            f"{available} compressed bytes can expand to at most {most}"
            if compressed
            else f"the file holds only {available} bytes of voxel data"
        )
        raise AutosegError(
            f"the image header announces {needed} bytes of voxel data but {how}",
            path,
            "the file is damaged, cut short or crafted: copy or export it again",
        )
