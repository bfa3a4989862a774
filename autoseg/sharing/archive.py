"""Model zips, checked before anything is written: a zip from elsewhere must not write outside its folder
(absolute paths, '..', symlinks), fill the disk (sizes, file count, compression ratio) or drop unexpected files
(only an exported model's own names, layout.py). Extraction then streams each member, stopping at its declared
size, so a header that lies about sizes cannot write more."""
from __future__ import annotations

import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autoseg.errors import AutosegError
from autoseg.sharing.layout import is_model_file
from autoseg.utils.files import atomic_write

MAX_FILES = 1000
MAX_TOTAL_BYTES = 16 * 2 ** 30
MAX_RATIO = 200          # uncompressed / compressed for members over 1 MiB (weights compress ~1.1x, JSON ~10x)
_CHUNK = 2 ** 20


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
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    fix = "use a model zip written by 'autoseg export', unmodified"
    if len(members) > limits.files:
        raise AutosegError(f"the zip holds {len(members)} entries, more than the {limits.files} allowed", path, fix)
    files, seen, total = [], set(), 0
    for member in members:
        problem = _member_problem(member, limits)
        if problem:
            raise AutosegError(f"unsafe or unexpected zip entry '{member.filename}': {problem}", path, fix)
        if member.is_dir():
            continue
        if member.filename in seen:
            raise AutosegError(f"the zip holds '{member.filename}' twice", path, fix)
        seen.add(member.filename)
        total += member.file_size
        files.append(member)
    if total > limits.total_bytes:
        raise AutosegError(f"the zip unpacks to {total / 2 ** 30:.1f} GiB, more than the "
                           f"{limits.total_bytes / 2 ** 30:.0f} GiB allowed", path, fix)
    return files


def _member_problem(member: zipfile.ZipInfo, limits: Limits) -> str | None:
    name = member.filename
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
        return "not a file an exported model holds (model.json, README.md, plans.json, inference.json, " \
               "models/<configuration>/fold_<k>/checkpoint_final.pt)"
    if member.file_size > 2 ** 20 and member.file_size > limits.ratio * max(1, member.compress_size):
        return f"compression ratio over {limits.ratio:.0f} (a zip bomb?)"
    return None


def read_member(path: str | Path, member: zipfile.ZipInfo) -> bytes:
    """One checked member's bytes, never more than its declared size."""
    with zipfile.ZipFile(path) as archive, archive.open(member) as source:
        data = source.read(member.file_size + 1)
    if len(data) != member.file_size:
        raise AutosegError(f"'{member.filename}' does not match its declared size", path, "the zip is damaged")
    return data


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
        with zipfile.ZipFile(path) as archive:
            for member in members:
                target = staging / member.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy_member(archive, member, target, path)
        staging.rename(destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def _copy_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, path: Path) -> None:
    written = 0
    with archive.open(member) as source, open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > member.file_size:
                raise AutosegError(f"'{member.filename}' holds more than its declared size", path,
                                   "the zip is damaged or crafted; do not use it")
            out.write(chunk)


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
