"""Is an image file whole? Checks that readers skip: SimpleITK reads a NIfTI cut short by an interrupted download
or copy and fills the missing voxels with zeros, so a damaged case would train as if it were fine.

- NIfTI (.nii, .nii.gz): the voxel data the header announces (vox_offset + voxels * bytes per voxel) must all be
  in the file (for .nii.gz: in the decompressed stream).
- gzip files: with `full=True` the whole stream is decompressed, which checks its CRC-32 and length trailer
  (verify does this); without it only the header and the gzip length trailer are read (every read does this:
  a few bytes), and a mismatch is confirmed by the full check before anything is refused.
Other formats (.nrrd, .mha, .tif, .png ...) already fail to read when cut short.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError

CHUNK = 1 << 20
_FIX = "the file is incomplete or damaged (an interrupted download or copy?): copy or export it again"


def check_file(path: Path, full: bool = False) -> None:
    """Raise AutosegError naming `path` when it is cut short or its compression is damaged."""
    name = path.name.lower()
    if name.endswith(".nii.gz") and not _is_gzip(path):
        _check_nifti(path)  # an uncompressed NIfTI named .nii.gz: the reader takes it as it is
    elif name.endswith(".nii.gz"):
        _check_nifti_gz(path, full)
    elif name.endswith(".nii"):
        _check_nifti(path)
    elif name.endswith(".gz") and full:
        decompressed_length(path)


def decompressed_length(path: Path) -> int:
    """Decompress the whole gzip stream (all members): its CRC-32 and length are checked on the way."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while block := stream.read(CHUNK):
                total += len(block)
    except EOFError:
        raise AutosegError(
            "compressed file is cut short (the gzip stream ends before its end marker)", path, _FIX
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        raise AutosegError(f"compressed data is damaged ({error})", path, _FIX) from None
    return total


def nifti_expected_bytes(header: bytes) -> int | None:
    """vox_offset + voxel data size announced by a NIfTI-1/2 header, or None when it is not one we know."""
    if len(header) < 4:
        return None
    for endian in "<>":
        size = struct.unpack(endian + "i", header[:4])[0]
        if size == 348 and len(header) >= 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            bitpix = struct.unpack(endian + "h", header[72:74])[0]
            offset = int(struct.unpack(endian + "f", header[108:112])[0])
            return _expected(dims, bitpix, max(offset, 352))
        if size == 540 and len(header) >= 540:
            bitpix = struct.unpack(endian + "h", header[14:16])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            offset = struct.unpack(endian + "q", header[168:176])[0]
            return _expected(dims, bitpix, max(offset, 544))
    return None


def _expected(dims, bitpix: int, offset: int) -> int | None:
    ndim = dims[0]
    if not 1 <= ndim <= 7 or bitpix <= 0 or any(d < 1 for d in dims[1 : ndim + 1]):
        return None  # a header we cannot vouch for: leave it to the reader
    voxels = int(np.prod([int(d) for d in dims[1 : ndim + 1]], dtype=np.int64))
    return offset + voxels * bitpix // 8


def _short_message(actual: int, expected: int, what: str) -> str:
    return (
        f"file is cut short: {what} {actual} bytes, its header announces {expected} "
        f"({100 * actual / expected:.0f}% present)"
    )


def _check_nifti(path: Path) -> None:
    with open(path, "rb") as f:
        expected = nifti_expected_bytes(f.read(544))
    actual = path.stat().st_size
    if expected is not None and actual < expected:
        raise AutosegError(_short_message(actual, expected, "it holds"), path, _FIX)


def _check_nifti_gz(path: Path, full: bool) -> None:
    try:
        with gzip.open(path, "rb") as stream:
            expected = nifti_expected_bytes(stream.read(544))
    except EOFError:
        raise AutosegError(
            "compressed file is cut short (the gzip stream ends inside the header)", path, _FIX
        ) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        raise AutosegError(f"compressed data is damaged ({error})", path, _FIX) from None
    # ISIZE holds the length modulo 2**32: it vouches for nothing once the header announces 4 GiB or more (a
    # crafted file makes it match), so such a file is decompressed (streamed) and measured instead.
    if not full and expected is not None and expected < 2**32 and _trailer_length(path) == expected:
        return  # the gzip trailer records the length the header announces: whole, as far as a cheap look can tell
    if not full and expected is None:
        return
    actual = decompressed_length(path)
    if expected is not None and actual < expected:
        raise AutosegError(_short_message(actual, expected, "it decompresses to"), path, _FIX)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _trailer_length(path: Path) -> int:
    """ISIZE, the last 4 bytes of a gzip file: the uncompressed length modulo 2**32 (of its last member)."""
    with open(path, "rb") as f:
        f.seek(-4, 2)
        return struct.unpack("<I", f.read(4))[0]
