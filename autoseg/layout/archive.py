"""Model zips, checked before anything is written: a zip from elsewhere must not write outside its folder
(absolute paths, '..', symlinks), fill the disk (sizes, file count, compression ratio) or drop unexpected files
(only an exported model's own names, work.py). Extraction then streams each member through zip_stream.py,
which never holds more than a chunk in memory, stops at the declared size whatever the compression method, and
checks the CRC-32 and the local header's name, so a header that lies cannot write or allocate more.

AUTOSEG_MAX_ZIP_BYTES (bytes) raises the total-size limit for a genuinely huge model."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autoseg.errors import AutosegError
from autoseg.layout.work import is_model_file
from autoseg.layout.zip_stream import member_chunks
from autoseg.utils.files import atomic_write
from autoseg.utils.safe_names import inside

MAX_FILES = 1000
MAX_TOTAL_BYTES = int(os.environ.get("AUTOSEG_MAX_ZIP_BYTES") or 16 * 2**30)
MAX_RATIO = 200  # uncompressed / compressed for members over 1 MiB (weights compress ~1.1x, JSON ~10x)
_CHUNK = 2**20


@dataclass(frozen=True)
class Limits:
    files: int = MAX_FILES
    total_bytes: int = MAX_TOTAL_BYTES
    ratio: float = MAX_RATIO


def check_zip(path: str | Path, limits: Limits = Limits()) -> list[zipfile.ZipInfo]:
    """The zip's file members, after every check passed; raises AutosegError naming the first problem."""
    path = Path(path)
    if not path.is_file():
        raise AutosegError("model zip not found", path, "check the path")
    if not zipfile.is_zipfile(path):
        raise AutosegError("not a zip file", path, "pass a model zip written by 'autoseg export' or its folder")
    fix = "use a model zip written by 'autoseg export', unmodified"
    declared = _declared_entries(path)
    if declared is not None and declared > limits.files:  # before zipfile builds an object per entry
        raise AutosegError(f"the zip declares {declared} entries, more than the {limits.files} allowed", path, fix)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError, EOFError) as error:
        raise AutosegError(f"the zip's directory is damaged ({error})", path, fix) from None
    if len(members) > limits.files:
        raise AutosegError(f"the zip holds {len(members)} entries, more than the {limits.files} allowed", path, fix)
    files, seen, total = [], set(), 0
    for member in members:
        problem = _member_problem(member, limits)
        if problem:
            raise AutosegError(f"unsafe or unexpected zip entry {member.filename!r}: {problem}", path, fix)
        if member.is_dir():
            continue
        if member.filename in seen:
            raise AutosegError(f"the zip holds {member.filename!r} twice", path, fix)
        seen.add(member.filename)
        total += member.file_size
        files.append(member)
    if total > limits.total_bytes:
        raise AutosegError(
            f"the zip unpacks to {total / 2**30:.1f} GiB, more than the {limits.total_bytes / 2**30:.0f} GiB allowed",
            path,
            f"{fix}; for a genuinely larger model set AUTOSEG_MAX_ZIP_BYTES to its size in bytes",
        )
    return files


def _declared_entries(path: Path) -> int | None:
    """The entry count of the end-of-central-directory record (None when it is not found or is a zip64 one)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - (22 + 0xFFFF)))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return None
    entries = struct.unpack("<H", tail[at + 10 : at + 12])[0]
    return None if entries == 0xFFFF else entries


def _member_problem(member: zipfile.ZipInfo, limits: Limits) -> str | None:
    name = member.filename
    if not name:
        return "empty name"
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute or Windows path"
    parts = PurePosixPath(name).parts
    if any(part in ("..", ".", "") for part in parts) or "//" in name:
        return "path with '..' or empty parts"
    if stat.S_ISLNK(member.external_attr >> 16):
        return "symbolic link"
    if member.flag_bits & 0x1:
        return "encrypted"
    if member.is_dir():
        return None
    if not is_model_file(name):
        return (
            "not a file an exported model holds (model.json, README.md, plans.json, inference.json, "
            "models/<configuration>/fold_<k>/checkpoint_final.pt)"
        )
    if member.file_size > 2**20 and member.file_size > limits.ratio * max(1, member.compress_size):
        return f"compression ratio over {limits.ratio:.0f} (a zip bomb?)"
    return None


def read_member(path: str | Path, member: zipfile.ZipInfo) -> bytes:
    """One checked member's bytes (its declared size was checked by check_zip; never more is decompressed)."""
    return b"".join(member_chunks(path, member))


def extract_zip(path: str | Path, destination: str | Path, limits: Limits = Limits()) -> Path:
    """Check the whole zip, then unpack it into `destination` (a new folder, filled under a temporary name and
    renamed when complete, so an interrupted unpack leaves nothing that looks like a model)."""
    path, destination = Path(path), Path(destination)
    members = check_zip(path, limits)
    if destination.exists():
        raise AutosegError("the destination already exists", destination, "choose another folder, or delete it")
    staging = destination.with_name(f".{destination.name}.unpacking")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
        for member in members:
            target = inside(staging, staging / member.filename, "zip entry", path)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                for chunk in member_chunks(path, member):
                    out.write(chunk)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def write_zip(folder: str | Path, path: str | Path) -> Path:
    """Zip an exported model folder (weights stored, text deflated), written atomically; fixed timestamps so the
    same model gives the same bytes."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as archive:
            for file in files:
                name = file.relative_to(folder).as_posix()
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED if name.endswith(".pt") else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(file, "rb") as source, archive.open(info, "w", force_zip64=True) as out:
                    shutil.copyfileobj(source, out, _CHUNK)

    return atomic_write(path, write, suffix=".zip")
