"""The text headers of NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) files, checked before SimpleITK reads them:
sizes and voxel type within the limits, the data present in the file (raw) or able to expand from it (deflate),
geometry fields finite. The header is read in one bounded block, so a header that never ends costs nothing."""

from __future__ import annotations

import math
import re
from pathlib import Path

from autoseg.data.image_limits import check_data_room, check_size
from autoseg.errors import AutosegError

MAX_HEADER_BYTES = 1 << 16
_FIX = "the image header is damaged or was crafted: export the image again from the original data"
_NUMBER = re.compile(r"[-+]?(?:nan|inf(?:inity)?|(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)", re.IGNORECASE)


def _header_text(path: Path, end_marker: str | None) -> tuple[str, int]:
    """The header text and its length in bytes (where attached data begins)."""
    with open(path, "rb") as f:
        block = f.read(MAX_HEADER_BYTES)
    if end_marker is None:
        return block.decode("latin-1"), len(block)
    pattern = re.compile(end_marker.encode())
    match = pattern.search(block)
    if match is None:
        if len(block) < MAX_HEADER_BYTES:  # a detached header: all of it is text
            return block.decode("latin-1"), len(block)
        raise AutosegError(f"the image header does not end within {MAX_HEADER_BYTES} bytes", path, _FIX)
    return block[: match.end()].decode("latin-1"), match.end()


def _integers(path: Path, field: str, value: str | None) -> list[int]:
    try:
        numbers = [int(v) for v in (value or "").split()]
    except ValueError:
        numbers = []
    if not numbers or any(n < 1 for n in numbers):
        raise AutosegError(f"the image header's {field} is missing or invalid ({value!r})", path, _FIX)
    return numbers


def _finite(path: Path, field: str, value: str | None) -> None:
    text = (value or "").strip()
    for number in _NUMBER.findall(text):
        if not math.isfinite(float(number)):
            raise AutosegError(f"the image header's {field} is not finite ({text[:200]})", path, _FIX)


_NRRD_TYPES = [
    (("longlong", "long long", "int64", "uint64", "double"), 8),
    (("short", "int16"), 2),
    (("char", "int8"), 1),
    (("int", "float"), 4),
]


def check_nrrd(path: Path) -> None:
    text, data_start = _header_text(path, r"\r?\n\r?\n")
    if not text.startswith("NRRD"):
        raise AutosegError("not a NRRD file (it does not start with 'NRRD')", path, _FIX)
    fields = {}
    for line in text.splitlines()[1:]:
        if ":" in line and not line.startswith("#") and ":=" not in line:
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
    kind = fields.get("type", "").lower()
    size = next((n for names, n in _NRRD_TYPES if any(name in kind for name in names)), None)
    if size is None:
        raise AutosegError(f"the NRRD header's voxel type {kind!r} is missing or not one autoseg reads", path, _FIX)
    voxels = math.prod(_integers(path, "sizes", fields.get("sizes")))
    for field in ("space origin", "space directions"):
        _finite(path, field, fields.get(field))
    check_size(path, voxels, size)
    data_file = fields.get("data file") or fields.get("datafile")
    if data_file is not None:
        if data_file.startswith("LIST") or " " in data_file or "%" in data_file:
            return  # a list or pattern of slice files: each read on its own
        data_path = path.parent / data_file
        available = data_path.stat().st_size if data_path.is_file() else 0
    else:
        available = path.stat().st_size - data_start
    _check_encoded_room(path, fields.get("encoding", "raw").lower(), voxels, size, available)


def _check_encoded_room(path: Path, encoding: str, voxels: int, size: int, available: int) -> None:
    if encoding == "raw":
        check_data_room(path, voxels * size, available, compressed=False)
    elif encoding in ("gz", "gzip"):
        check_data_room(path, voxels * size, available, compressed=True)
    elif encoding in ("txt", "text", "ascii"):
        check_data_room(path, voxels, available, compressed=False)  # at least a character per value
    elif encoding == "hex":
        check_data_room(path, 2 * voxels * size, available, compressed=False)
    # bzip2 has no useful expansion bound: the reader's allocation is bounded by the size limit alone


_MET_TYPES = {
    "CHAR": 1,
    "UCHAR": 1,
    "SHORT": 2,
    "USHORT": 2,
    "INT": 4,
    "UINT": 4,
    "FLOAT": 4,
    "LONG": 8,
    "ULONG": 8,
    "LONG_LONG": 8,
    "ULONG_LONG": 8,
    "DOUBLE": 8,
}
_MET_GEOMETRY = ("elementspacing", "offset", "origin", "position", "transformmatrix", "rotation", "orientation")


def check_metaimage(path: Path) -> None:
    text, data_start = _header_text(path, r"ElementDataFile\s*=[^\n]*\n")
    fields = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            fields[key.strip().lower()] = value.strip()
    match = re.search(r"ElementDataFile\s*=\s*([^\r\n]*)", text)
    if "ndims" not in fields or match is None:
        raise AutosegError("not a MetaImage header (no NDims or ElementDataFile)", path, _FIX)
    element = fields.get("elementtype", "").upper().removeprefix("MET_").removesuffix("_ARRAY")
    if element not in _MET_TYPES:
        raise AutosegError(
            f"the MetaImage ElementType {fields.get('elementtype')!r} is missing or not one autoseg reads", path, _FIX
        )
    channels = _integers(path, "ElementNumberOfChannels", fields.get("elementnumberofchannels", "1"))[0]
    voxels = math.prod(_integers(path, "DimSize", fields.get("dimsize")))
    for field in _MET_GEOMETRY:
        _finite(path, field, fields.get(field))
    size = _MET_TYPES[element] * channels
    check_size(path, voxels, size)
    data_file = match[1].strip()
    compressed = fields.get("compresseddata", "false").lower() == "true"
    if data_file == "LOCAL":
        available = path.stat().st_size - data_start
    elif data_file.startswith("LIST") or "%" in data_file or " " in data_file:
        return
    else:
        data_path = path.parent / data_file
        available = data_path.stat().st_size if data_path.is_file() else 0
    check_data_room(path, voxels * size, available, compressed)
