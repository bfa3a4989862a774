"""evaluate --ignore-label N, and --overlays cases checked before summary.json is written (issue 20)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoseg import cli
from autoseg.data.image_io import read_label, write_label
from autoseg.data.synthetic import make_synthetic_dataset


def test_ignore_label_leaves_its_voxels_out(tmp_path, capsys):
    root = make_synthetic_dataset(tmp_path / "ds", num_cases=1, shape=(4, 16, 16), seed=2)
    _, geometry = read_label(root / "labelsTr" / "case_000.nii.gz")
    ref = np.zeros((4, 16, 16), np.uint8)
    ref[1:3, 2:6, 2:6] = 1
    ref[1:3, 10:14, 10:14] = 3
    pred = np.where(ref > 0, 1, 0).astype(np.uint8)
    (tmp_path / "ref").mkdir()
    (tmp_path / "pred").mkdir()
    write_label(ref, geometry, tmp_path / "ref" / "case_000.nii.gz")
    write_label(pred, geometry, tmp_path / "pred" / "case_000.nii.gz")
    plain, ignored = tmp_path / "plain.json", tmp_path / "ignored.json"
    assert cli.main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "-o", str(plain)]) == 0
    assert (
        cli.main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "ref"), "-o", str(ignored), "--ignore-label", "3"])
        == 0
    )
    capsys.readouterr()
    plain, ignored = json.loads(plain.read_text()), json.loads(ignored.read_text())
    assert plain["per_class"]["1"]["mean"]["Dice"] < 0.9 and "3" in plain["per_class"]
    assert ignored["per_class"]["1"]["mean"]["Dice"] == pytest.approx(1.0) and "3" not in ignored["per_class"]
    assert (
        cli.main(
            [
                "evaluate",
                str(tmp_path / "pred"),
                str(tmp_path / "ref"),
                "-o",
                str(tmp_path / "x.json"),
                "--ignore-label",
                "-1",
            ]
        )
        == 2
    )


def test_overlays_of_cases_missing_from_the_dataset_leave_no_summary(tmp_path, capsys):
    dataset = make_synthetic_dataset(tmp_path / "ds", num_cases=2, shape=(4, 16, 16), seed=2)
    other = make_synthetic_dataset(tmp_path / "other", num_cases=4, shape=(4, 16, 16), seed=3)
    labels = other / "labelsTr"  # case_002 and case_003 are not in `dataset`
    summary = tmp_path / "summary.json"
    code = cli.main(
        ["evaluate", str(labels), str(labels), "-o", str(summary), "--dataset", str(dataset), "--overlays", "4"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "case_002" in err and "Fix: " in err
    assert not summary.exists() and not (tmp_path / "summary_overlays").exists()
