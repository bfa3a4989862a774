"""Is a TIFF whole? A multi-page TIFF (a 3D stack) cut short reads without error in SimpleITK: libtiff warns that
it cannot read the next page's directory and the image comes back with fewer slices. So the chain of image file
directories (IFDs) is walked first: each must lie inside the file and each strip or tile of voxel data must end
inside it, otherwise the file is refused in one line as cut short. And every page must be a plain image of one
size and voxel type: SimpleITK counts and sizes a stack by its first page, so a page marked otherwise (a reduced
resolution, a mask: NewSubfileType) or of another size makes it drop slices silently or overrun its buffer
(seen as a crash on fuzzed files)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from autoseg.errors import AutosegError

MAX_PAGES = 1 << 16
_FIX = "the file is incomplete or damaged (an interrupted download or copy?): copy or export it again"
_OFFSETS_TAGS = {273: 279, 324: 325}  # StripOffsets -> StripByteCounts, TileOffsets -> TileByteCounts
_TYPE_SIZES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}
# NewSubfileType, then what every page of a stack must share: width, length, bits, samples, sample format
_KIND_TAGS = (254, 256, 257, 258, 277, 339)
_KIND_NAMES = ("width", "length", "bits per sample", "samples per pixel", "sample format", "page type")
_STACK_FIX = "save the image again as a plain TIFF stack (every page one slice of the same size and type)"


def check_tiff_pages(path: Path) -> None:
    """Raise AutosegError when a directory or the voxel data of a page lies beyond the end of the file."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
            return  # BigTIFF or not a TIFF: left to the reader
        endian = "<" if head[:2] == b"II" else ">"
        offset: int = struct.unpack(endian + "I", head[4:8])[0]
        seen: set[int] = set()
        first: tuple | None = None
        while offset:
            if offset in seen or len(seen) >= MAX_PAGES:
                raise AutosegError("the TIFF's page directories form a loop", path, _FIX)
            seen.add(offset)
            if offset + 2 > size:
                raise AutosegError(
                    f"file is cut short: page {len(seen)} lies beyond its end ({size} bytes)", path, _FIX
                )
            offset, kind = _check_page(f, endian, offset, size, path, len(seen))
            first = first or kind
            if kind != first:
                raise AutosegError(
                    f"page {len(seen)} of the TIFF differs from page 1 ({_differences(kind, first)})", path, _STACK_FIX
                )


def _check_page(f: BinaryIO, endian: str, offset: int, size: int, path: Path, page: int) -> tuple[int, tuple]:
    """Check one IFD's data extents; return the offset of the next IFD (0 at the end) and the page's kind."""
    f.seek(offset)
    count = struct.unpack(endian + "H", f.read(2))[0]
    entries = f.read(12 * count)
    tail = f.read(4)
    if len(entries) < 12 * count or len(tail) < 4:
        raise AutosegError(f"file is cut short inside the directory of page {page}", path, _FIX)
    tags = {}
    for i in range(count):
        tag, kind, number, value = struct.unpack(endian + "HHI4s", entries[12 * i : 12 * i + 12])
        tags[tag] = (kind, number, value)
    for offsets_tag, counts_tag in _OFFSETS_TAGS.items():
        if offsets_tag in tags and counts_tag in tags:
            starts = _values(f, endian, *tags[offsets_tag], size)
            lengths = _values(f, endian, *tags[counts_tag], size)
            if any(s + n > size for s, n in zip(starts, lengths)):
                raise AutosegError(
                    f"file is cut short: the voxel data of page {page} runs past its end ({size} bytes)", path, _FIX
                )
    kind = tuple(tuple(_values(f, endian, *tags[tag], size)) if tag in tags else () for tag in _KIND_TAGS)
    subfile = kind[0][0] if kind[0] else 0
    if subfile not in (0, 2) or (tags.get(255) and _values(f, endian, *tags[255], size) not in ([1], [3])):
        raise AutosegError(
            f"page {page} of the TIFF is not a plain image (NewSubfileType {subfile}: a reduced "
            "resolution, a mask or another kind of page)",
            path,
            _STACK_FIX,
        )
    return struct.unpack(endian + "I", tail)[0], kind[1:] + ((subfile,),)


def _differences(kind: tuple, first: tuple) -> str:
    return ", ".join(f"{name} {list(a)} vs {list(b)}" for name, a, b in zip(_KIND_NAMES, kind, first) if a != b)


def _values(f: BinaryIO, endian: str, kind: int, number: int, value: bytes, size: int) -> list[int]:
    """The integers of one IFD entry, stored in the entry itself or at the offset it gives."""
    if kind not in _TYPE_SIZES or number > MAX_PAGES * 64:
        return []
    code, width = _TYPE_SIZES[kind]
    if number * width <= 4:
        raw = value[: number * width]
    else:
        where = struct.unpack(endian + "I", value)[0]
        if where + number * width > size:
            return [size + 1]  # the list itself lies beyond the end: reported as data past the end
        position = f.tell()
        f.seek(where)
        raw = f.read(number * width)
        f.seek(position)
    return list(struct.unpack(endian + code * number, raw))
