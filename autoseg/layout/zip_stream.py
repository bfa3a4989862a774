"""Reading one zip member with bounded memory, whatever its header claims.

Python's zipfile decompresses a bzip2 or LZMA member without an output limit (a few hundred bytes can expand to
gigabytes in memory before any size check), and reports a bad CRC or a local name that differs from the central
directory's as a traceback. Here each member's raw bytes are read from the file in chunks and decompressed with
an output limit per call (stored, deflate, bzip2, LZMA), so at most CHUNK bytes are in memory at a time; the
output is counted against the member's declared size as it is produced (never more), and its CRC-32 and length
are checked at the end. The local header's name must equal the central directory's.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

from autoseg.errors import AutosegError

CHUNK = 1 << 20
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # local file header, 30 bytes
_FIX = "the zip is damaged or was crafted; export the model again or ask its author for an intact copy"


def member_chunks(path: str | Path, member: zipfile.ZipInfo, limit: int | None = None) -> Iterator[bytes]:
    """The member's uncompressed bytes in chunks of at most CHUNK; AutosegError when it holds more than its
    declared size (or `limit`), less, a different CRC-32, or a local name that differs from the central one."""
    path = Path(path)
    limit = member.file_size if limit is None else min(limit, member.file_size)
    with open(path, "rb") as file:
        start = _data_start(file, member, path)
        produced, crc = 0, 0
        for chunk in _decompressed(_raw(file, start, member.compress_size, path, member), member, path):
            produced += len(chunk)
            if produced > limit:
                raise AutosegError(
                    f"{member.filename!r} unpacks to more than its declared {member.file_size} bytes "
                    f"(stopped at {limit})",
                    path,
                    _FIX,
                )
            crc = zlib.crc32(chunk, crc)
            yield chunk
    if produced != member.file_size:
        raise AutosegError(
            f"{member.filename!r} unpacks to {produced} bytes, its header declares {member.file_size}", path, _FIX
        )
    if crc != member.CRC:
        raise AutosegError(f"{member.filename!r} fails its CRC-32 check (corrupted)", path, _FIX)


def _data_start(file: BinaryIO, member: zipfile.ZipInfo, path: Path) -> int:
    """Offset of the member's data, after checking its local header against the central directory."""
    if not 0 <= member.header_offset < path.stat().st_size:
        raise AutosegError(f"{member.filename!r} starts at offset {member.header_offset}, outside the file", path, _FIX)
    file.seek(member.header_offset)
    header = file.read(_LOCAL.size)
    if len(header) != _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise AutosegError(f"{member.filename!r} has no valid local header", path, _FIX)
    fields = _LOCAL.unpack(header)
    name_length, extra_length = fields[9], fields[10]
    local_name = file.read(name_length)
    encoding = "utf-8" if fields[2] & 0x800 else "cp437"
    shown = local_name.decode(encoding, errors="replace")
    if shown != member.orig_filename:
        raise AutosegError(
            f"the local header names {shown[:100]!r} but the directory names {member.filename[:100]!r}", path, _FIX
        )
    return member.header_offset + _LOCAL.size + name_length + extra_length


def _raw(file: BinaryIO, start: int, size: int, path: Path, member: zipfile.ZipInfo) -> Iterator[bytes]:
    file.seek(start)
    left = size
    while left > 0:
        block = file.read(min(CHUNK, left))
        if not block:
            raise AutosegError(f"{member.filename!r} is cut short (the file ends inside it)", path, _FIX)
        left -= len(block)
        yield block


def _decompressed(raw: Iterator[bytes], member: zipfile.ZipInfo, path: Path) -> Iterator[bytes]:
    method = member.compress_type
    if method == zipfile.ZIP_STORED:
        yield from raw
        return
    try:
        if method == zipfile.ZIP_DEFLATED:
            yield from _bounded(raw, zlib.decompressobj(-15))
        elif method == zipfile.ZIP_BZIP2:
            yield from _bounded(raw, bz2.BZ2Decompressor())
        elif method == zipfile.ZIP_LZMA:
            yield from _bounded(raw, _LzmaMember())
        else:
            raise AutosegError(
                f"{member.filename!r} uses compression method {method}, which autoseg does not read",
                path,
                "write the zip with 'autoseg export'",
            )
    except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as error:
        raise AutosegError(f"{member.filename!r} holds damaged compressed data ({error})", path, _FIX) from None


def _bounded(raw: Iterator[bytes], decoder) -> Iterator[bytes]:
    """Feed `raw` to `decoder`, taking at most CHUNK bytes of output per call so nothing large is ever held."""
    for block in raw:
        output = decoder.decompress(block, CHUNK)
        while True:
            if output:
                yield output
            if not _has_more(decoder):
                break
            output = decoder.decompress(getattr(decoder, "unconsumed_tail", b""), CHUNK)
    if not decoder.eof:
        raise EOFError("the compressed stream ends before its end marker")


def _has_more(decoder) -> bool:
    if hasattr(decoder, "unconsumed_tail"):  # zlib: input it has not yet decompressed
        return bool(decoder.unconsumed_tail)
    return not decoder.needs_input and not decoder.eof  # bz2 / lzma: output it holds back


class _LzmaMember:
    """Zip's LZMA: a 4-byte version/size prefix, the LZMA1 properties, then a raw stream."""

    def __init__(self) -> None:
        self._header = b""
        self._decoder: lzma.LZMADecompressor | None = None

    @property
    def needs_input(self) -> bool:
        return self._decoder is None or self._decoder.needs_input

    @property
    def eof(self) -> bool:
        return self._decoder is not None and self._decoder.eof

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._decoder is None:
            self._header += data
            if len(self._header) < 4:
                return b""
            size = struct.unpack("<H", self._header[2:4])[0]
            if len(self._header) < 4 + size:
                return b""
            properties = self._header[4 : 4 + size]
            filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, properties)]  # type: ignore[attr-defined]
            self._decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            data, self._header = self._header[4 + size :], b""
        return self._decoder.decompress(data, max_length)
