"""Parse an image file's header ourselves and check it before SimpleITK allocates anything (image_limits.py).

NIfTI-1/2 (.nii, .nii.gz, .hdr), NRRD (.nrrd, .nhdr) and MetaImage (.mha, .mhd) headers are parsed here and in
text_headers.py: dimensions, voxel type, geometry fields (which must be finite numbers: a NaN spacing or origin
makes every later step silently wrong) and where the data lies; PNG and BMP from their fixed-layout headers; TIFF
pages walked to their end (tiff_pages.py); any other format through SimpleITK's header-only
ReadImageInformation. Each problem is one line naming the file.
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import SimpleITK as sitk

from autoseg.data.image_limits import check_data_room, check_size
from autoseg.data.text_headers import check_metaimage, check_nrrd
from autoseg.data.tiff_pages import check_tiff_pages
from autoseg.errors import AutosegError

_FIX = "the image header is damaged or was crafted: export the image again from the original data"
# NIfTI datatype code -> bytes per voxel (all components)
_NIFTI_BYTES = {
    2: 1,
    4: 2,
    8: 4,
    16: 4,
    32: 8,
    64: 8,
    128: 3,
    256: 1,
    512: 2,
    768: 4,
    1024: 8,
    1280: 8,
    1536: 16,
    1792: 16,
    2048: 32,
    2304: 4,
}


def check_image_header(path: Path) -> None:
    """Raise AutosegError ("cannot read image: why") when the header of `path` is invalid or announces more than
    the limits allow."""
    try:
        _check_by_format(path)
    except AutosegError as error:
        raise AutosegError(f"cannot read image: {error.problem}", error.path, error.fix) from None


def _check_by_format(path: Path) -> None:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz", ".hdr")):
        check_nifti(path)
    elif name.endswith((".nrrd", ".nhdr")):
        check_nrrd(path)
    elif name.endswith((".mha", ".mhd")):
        check_metaimage(path)
    elif name.endswith(".png"):
        _check_png(path)
    elif name.endswith(".bmp"):
        _check_bmp(path)
    elif name.endswith((".tif", ".tiff")):
        check_tiff_pages(path)  # a stack cut short would read as fewer slices
        _check_with_itk(path)
    else:
        _check_with_itk(path)


def _nifti_bytes(path: Path) -> tuple[bytes, bool]:
    """The first 544 bytes of a NIfTI file, decompressed when it is gzipped, and whether it was."""
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            return f.read(544), compressed
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        raise AutosegError(f"compressed data is damaged ({error})", path, _FIX) from None


def check_nifti(path: Path) -> None:
    header, compressed = _nifti_bytes(path)
    fields = _nifti_fields(header)
    if fields is None:
        raise AutosegError("not a NIfTI file (its header size field is neither 348 nor 540)", path, _FIX)
    dims, datatype, bitpix, offset, geometry = fields
    ndim = dims[0]
    if not 1 <= ndim <= 7 or any(d < 1 for d in dims[1 : ndim + 1]):
        raise AutosegError(
            f"NIfTI header has invalid dimensions {list(dims[: ndim + 1 if 0 < ndim < 8 else 8])}", path, _FIX
        )
    if bitpix <= 0 or bitpix % 8:
        raise AutosegError(
            f"NIfTI header has bitpix {bitpix} (bits per voxel must be a positive multiple of 8)", path, _FIX
        )
    for field, values in geometry.items():
        if not all(math.isfinite(v) for v in values):
            raise AutosegError(f"NIfTI header field {field} is not a finite number ({values})", path, _FIX)
    voxels = math.prod(int(d) for d in dims[1 : ndim + 1])
    bytes_per_voxel = max(_NIFTI_BYTES.get(datatype, 0), bitpix // 8)
    check_size(path, voxels, bytes_per_voxel)
    if path.name.lower().endswith(".hdr"):
        image = path.with_suffix(".img")
        if image.is_file():
            check_data_room(path, voxels * bytes_per_voxel, image.stat().st_size, compressed=False)
    elif compressed:
        check_data_room(path, offset + voxels * bytes_per_voxel, path.stat().st_size, compressed=True)
    else:
        check_data_room(path, voxels * bytes_per_voxel, path.stat().st_size - offset, compressed=False)


def _nifti_fields(header: bytes):
    """(dims, datatype, bitpix, vox_offset, geometry fields) of a NIfTI-1 or -2 header, or None."""
    for e in "<>":
        if len(header) >= 348 and struct.unpack(e + "i", header[:4])[0] == 348:
            dims = struct.unpack(e + "8h", header[40:56])
            datatype, bitpix = struct.unpack(e + "2h", header[70:74])
            pixdim = struct.unpack(e + "8f", header[76:108])
            offset = struct.unpack(e + "f", header[108:112])[0]
            # Analyze 7.5 (.hdr without NIfTI's magic) has other fields there: no qform/sform to check
            nifti = header[344:348] in (b"ni1\0", b"n+1\0")
            qform, sform = struct.unpack(e + "2h", header[252:256]) if nifti else (0, 0)
            quatern = struct.unpack(e + "6f", header[256:280])
            srow = struct.unpack(e + "12f", header[280:328])
            return (
                dims,
                datatype,
                bitpix,
                _offset(offset, 352),
                _geometry(dims, pixdim, offset, qform, sform, quatern, srow),
            )
        if len(header) >= 540 and struct.unpack(e + "i", header[:4])[0] == 540:
            datatype, bitpix = struct.unpack(e + "2h", header[12:16])
            dims = struct.unpack(e + "8q", header[16:80])
            pixdim = struct.unpack(e + "8d", header[104:168])
            offset = struct.unpack(e + "q", header[168:176])[0]
            qform, sform = struct.unpack(e + "2i", header[344:352])
            quatern = struct.unpack(e + "6d", header[352:400])
            srow = struct.unpack(e + "12d", header[400:496])
            return (
                dims,
                datatype,
                bitpix,
                _offset(offset, 544),
                _geometry(dims, pixdim, offset, qform, sform, quatern, srow),
            )
    return None


def _offset(value: float, least: int) -> int:
    return max(int(value), least) if math.isfinite(value) else least


def _geometry(dims, pixdim, offset, qform, sform, quatern, srow) -> dict[str, tuple[float, ...]]:
    """The fields a reader turns into spacing, origin and direction (those it uses: qform/sform by their codes)."""
    ndim = dims[0] if 1 <= dims[0] <= 7 else 0
    fields = {"pixdim": tuple(pixdim[1 : 1 + min(ndim, 3)]), "vox_offset": (float(offset),)}
    if qform > 0:
        fields["quatern/qoffset"] = tuple(quatern)
    if sform > 0:
        fields["srow"] = tuple(srow)
    return fields


def _check_png(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise AutosegError("not a PNG file (no PNG signature and IHDR header)", path, _FIX)
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    components = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour)
    if width < 1 or height < 1 or components is None or depth not in (1, 2, 4, 8, 16):
        raise AutosegError(
            f"PNG header is invalid ({width}x{height}, bit depth {depth}, colour type {colour})", path, _FIX
        )
    check_size(path, width * height, components * max(1, depth // 8))
    check_data_room(path, width * height * components * depth // 8, path.stat().st_size, compressed=True)


def _check_bmp(path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(34)
    if len(head) < 34 or head[:2] != b"BM":
        raise AutosegError("not a BMP file (no 'BM' signature)", path, _FIX)
    offset = struct.unpack("<I", head[10:14])[0]
    width, height, _, bits, compression = struct.unpack("<iiHHI", head[18:34])
    if width < 1 or height == 0 or bits not in (1, 4, 8, 16, 24, 32):
        raise AutosegError(f"BMP header is invalid ({width}x{height}, {bits} bits per pixel)", path, _FIX)
    height = abs(height)
    check_size(path, width * height, 4)  # palettes expand to RGB(A): count the widest
    if compression == 0:
        row = (width * bits + 31) // 32 * 4
        check_data_room(path, row * height, path.stat().st_size - offset, compressed=False)


def _check_with_itk(path: Path) -> None:
    """Formats we do not parse (TIFF ...): SimpleITK reads the header alone, without allocating the voxels."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise AutosegError(f"its header is unreadable ({itk_reason(error)})", path, _FIX) from None
    voxels = math.prod(int(s) for s in reader.GetSize())
    kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    bits = int(match[1]) if (match := re.search(r"(\d+)-bit", kind)) else 64
    per_component = bits // 8 * (2 if "complex" in kind else 1)
    check_size(path, voxels, per_component * max(1, reader.GetNumberOfComponents()))


def itk_reason(error: BaseException) -> str:
    """The reason in an ITK exception, without the source file and line ITK puts first."""
    text = str(error).split("sitk::ERROR:")[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    meaningful = [
        line
        for line in lines
        if not re.match(r"^(/|[A-Za-z]:\\).*:\d+:", line)
        and not line.startswith(("itk::", "Location:", "File:", "Line:"))
    ]
    reason = (meaningful or lines or ["unknown reason"])[0]
    return re.sub(r"^.*?\.(?:cxx|hxx|cpp|h):\d+:\s*", "", reason).strip() or "unknown reason"
