"""Safe loading and safe unpacking: a checkpoint carrying a pickled callable is refused and never executed; a
checkpoint of the old format needs the explicit, trusted conversion; a model zip that could write outside its
folder, fill the disk or drop unexpected files is refused before anything is written."""

from __future__ import annotations

import json
import os
import pathlib
import random
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from autoseg import cli
from autoseg.errors import AutosegError
from autoseg.inference.models import load_model
from autoseg.layout.archive import Limits, check_zip, extract_zip
from autoseg.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from autoseg.training.checkpoint_convert import convert_checkpoint
from autoseg.training.init_from import source_weights


class CreatesMarker:
    """Unpickling this calls Path.touch(marker): what a malicious checkpoint would do with os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def _malicious_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weights": {"w": torch.zeros(2)}, "network_spec": {}, "payload": CreatesMarker(marker)}, path)
    return path


def test_a_checkpoint_with_a_pickled_callable_is_refused_and_not_executed(tmp_path, capsys):
    marker = tmp_path / "marker"
    work = tmp_path / "work"
    path = _malicious_checkpoint(work / "models/3d_fullres/fold_0/checkpoint_final.pt", marker)
    with pytest.raises(AutosegError, match="refused to load") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "convert-checkpoint" in str(error.value)
    with pytest.raises(AutosegError, match="refused to load"):
        load_model(work, "3d_fullres", 0, torch.device("cpu"))
    with pytest.raises(AutosegError, match="refused to load"):
        source_weights(path, "3d_fullres")
    # and through the command line: one line naming the file, exit 2
    assert cli.main(["convert-checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and "--trust" in err
    assert not marker.exists()


def test_checkpoints_load_weights_only_and_restore_every_rng_exactly(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    np.random.normal()  # numpy keeps a cached Gaussian: it must survive too
    state = {"weights": {"w": torch.ones(3)}, "rng": rng_state(), "history": [{"pseudo_dice": np.float64(0.5)}]}
    expected = (torch.rand(3), np.random.normal(size=3), random.random())
    path = tmp_path / "checkpoint_latest.pt"
    save_checkpoint(path, state)
    torch.load(path, weights_only=True)  # plain tensors and values only
    loaded = load_checkpoint(path)
    assert loaded["history"][0]["pseudo_dice"] == 0.5 and type(loaded["history"][0]["pseudo_dice"]) is float
    set_rng_state(loaded["rng"])
    again = (torch.rand(3), np.random.normal(size=3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_an_old_format_checkpoint_is_refused_until_the_user_converts_it(tmp_path):
    path = tmp_path / "checkpoint_final.pt"
    np.random.seed(5)
    old_rng = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    torch.save({"weights": {"w": torch.ones(2)}, "rng": old_rng, "epoch": 3}, path)
    with pytest.raises(AutosegError, match="refused to load"):
        load_checkpoint(path)
    with pytest.raises(AutosegError, match="--trust"):
        convert_checkpoint(path)
    backup = convert_checkpoint(path, trust=True)
    assert backup.name == "checkpoint_final.pt.unsafe" and backup.is_file()
    converted = load_checkpoint(path)
    assert converted["epoch"] == 3 and torch.equal(converted["weights"]["w"], torch.ones(2))
    set_rng_state(converted["rng"])
    first = np.random.rand()
    np.random.seed(5)
    assert first == np.random.rand()


def _zip(path: Path, entries: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


GOOD = {"model.json": b"{}", "plans.json": b"{}"}


@pytest.mark.parametrize(
    "entries, symlink, problem",
    [
        ({**GOOD, "/tmp/evil.json": b"x"}, None, "absolute"),
        ({**GOOD, "models/../../evil.json": b"x"}, None, "'..'"),
        ({**GOOD, "..\\evil.json": b"x"}, None, "Windows"),
        (GOOD, "models/3d_fullres/fold_0/checkpoint_final.pt", "symbolic link"),
        ({**GOOD, "run_me.py": b"import os"}, None, "not a file an exported model holds"),
        ({**GOOD, "models/3d_fullres/fold_0/evil.so": b"x"}, None, "not a file an exported model holds"),
        ({**GOOD, "inference.json": b"0" * (8 * 2**20)}, None, "compression ratio"),
    ],
)
def test_unsafe_zips_are_refused_before_anything_is_written(tmp_path, entries, symlink, problem):
    archive = _zip(tmp_path / "model.zip", entries, symlink)
    destination = tmp_path / "unpacked" / "model"
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(AutosegError, match="unsafe or unexpected zip entry") as error:
        extract_zip(archive, destination)
    assert problem in str(error.value) and str(archive) in str(error.value)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not Path("/tmp/evil.json").exists()


def test_zip_size_and_count_limits(tmp_path):
    archive = _zip(tmp_path / "model.zip", {**GOOD, "README.md": b"x" * 100, "inference.json": b"{}"})
    assert len(check_zip(archive)) == 4
    with pytest.raises(AutosegError, match="entries, more than the 3 allowed"):
        check_zip(archive, Limits(files=3))
    with pytest.raises(AutosegError, match="GiB allowed"):
        check_zip(archive, Limits(total_bytes=50))
    duplicate = tmp_path / "twice.zip"
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate name when writing
        _twice(duplicate)
    with pytest.raises(AutosegError, match="twice"):
        check_zip(duplicate)


def _twice(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("plans.json", b"{}")
        archive.writestr("plans.json", b"{}")


def test_import_of_a_bad_zip_prints_one_line(tmp_path, capsys):
    archive = _zip(tmp_path / "model.zip", {**GOOD, "../outside.json": b"x"})
    assert cli.main(["import", str(archive), "-o", str(tmp_path / "models")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "'..'" in err and "Fix:" in err
    assert not (tmp_path / "models").exists()
    assert not (tmp_path / "outside.json").exists()
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text(json.dumps({}))
    assert cli.main(["predict", "--model", str(not_zip), "-i", str(tmp_path), "-o", str(tmp_path / "o")]) == 2
    assert "not a zip file" in capsys.readouterr().err
    assert os.path.exists(not_zip)
