"""A write that fails (disk full, read-only folder) stops with one line naming the file, and leaves the previous
checkpoint, cache and predictions as they were (issue 20).

The failures are injected: the writer (torch.save, numpy.save, SimpleITK's WriteImage, the temporary file of a
JSON artifact) writes part of its file and then fails as the operating system or ITK does on a full disk, so
the test needs no small filesystem and runs anywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from autoseg import cli
from autoseg.utils.owned import MARKER
from tests.tiny_work import make_tiny_work

pytestmark = pytest.mark.slow  # every test fills the disk under a trained tiny WORK


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    return make_tiny_work(tmp_path_factory.mktemp("disk"), "Disk", seed=13, fast=True)


def full_disk(write_target_index: int = 1):
    """A writer that puts a few bytes into its target file, then fails with ENOSPC, as a full disk does."""

    def fail(*args, **kwargs):
        target = args[write_target_index]
        with open(target, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    return fail


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line_error(capsys, *argv) -> str:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip() and "%|" not in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, (code, out, err)
    assert "Fix: " in lines[0] and "free disk space" in lines[0]
    return lines[0]


def test_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(trained, tmp_path, monkeypatch, capsys):
    work = shutil.copytree(trained.work, tmp_path / "work")
    fold = work / "models" / "3d_fullres" / "fold_0"
    before = {name: (fold / name).read_bytes() for name in ("checkpoint_final.pt", "checkpoint_latest.pt")}
    monkeypatch.setattr(torch, "save", full_disk())
    line = one_line_error(
        capsys,
        "train",
        work,
        "-c",
        "3d_fullres",
        "-f",
        "0",
        "--extend",
        "--epochs",
        "1",
        "--workers",
        "0",
        "--no-validation",
    )
    assert str(fold / "checkpoint_latest.pt") in line and "No space left on device" in line
    assert {name: (fold / name).read_bytes() for name in before} == before
    assert [p.name for p in fold.iterdir() if p.name.startswith(".") and p.name != MARKER] == [], (
        "no partial file is left"
    )


def test_full_disk_while_preprocessing_keeps_the_cache(trained, tmp_path, monkeypatch, capsys):
    work = shutil.copytree(trained.work, tmp_path / "work", ignore=shutil.ignore_patterns("models"))
    cache = work / "preprocessed" / "3d_fullres"
    changed = trained.dataset / "imagesTr" / "case_001_0000.nii.gz"
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # case_001 is to be preprocessed again
    try:
        before = snapshot(cache)
        monkeypatch.setattr(np, "save", full_disk(0))
        line = one_line_error(capsys, "preprocess", work, "-c", "3d_fullres", "--processes", "1")
    finally:
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert str(cache / "case_001.npy") in line
    assert snapshot(cache) == before, "the previous cache is intact"


def test_full_disk_while_writing_predictions_keeps_the_previous_ones(trained, tmp_path, monkeypatch, capsys):
    out = tmp_path / "predictions"
    argv = ["predict", trained.work, "-i", trained.images, "-o", out, "--no-tta", "--device", "cpu"]
    assert cli.main([str(a) for a in argv]) == 0
    capsys.readouterr()
    labels = {p.name: p.read_bytes() for p in out.glob("*.nii.gz")}

    def itk_full_disk(image, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise RuntimeError(
            "Exception thrown in SimpleITK ImageFileWriter_Execute: itkNiftiImageIO.cxx:1981:\n"
            f"ITK ERROR: NiftiImageIO: Could not write {path}: No space left on device"
        )

    monkeypatch.setattr(sitk, "WriteImage", itk_full_disk)
    line = one_line_error(capsys, *argv, "--overwrite")
    assert str(out / "case_004.nii.gz") in line or str(out / "case_005.nii.gz") in line
    assert {p.name: p.read_bytes() for p in out.glob("*.nii.gz")} == labels
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_read_only_folder_for_a_json_artifact(trained, tmp_path, monkeypatch, capsys):
    references = trained.dataset / "labelsTr"
    summary = tmp_path / "scores" / "summary.json"
    summary.parent.mkdir()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("autoseg.utils.files.tempfile.mkstemp", read_only)
    line = one_line_error(capsys, "evaluate", references, references, "-o", summary)
    assert str(summary) in line and "Read-only file system" in line
    assert list(summary.parent.iterdir()) == []
