"""Re-planning and the preprocessed cache never reuse stale work: a fingerprint is reused only for the same data,
each cache folder records what its arrays depend on and is rebuilt (or refused by training) when the plan differs,
and `autoseg preprocess` rebuilds what is missing or stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autoseg import cli
from autoseg.data.image_io import read_label, write_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.plan_command import plan
from autoseg.preprocessing.run import preprocess
from autoseg.training.dataset import load_cases
from autoseg.training.folds import fold_cases

PLAN = dict(
    preset="cpu-fast",
    cpu_gflops=40,
    time_budget="1m",
    folds=2,
    progress=False,
    workers=1,
    configurations=["3d_fullres"],
)


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_synthetic_dataset(tmp_path / "ds", num_cases=4, shape=(8, 24, 24), spacing=(2.0, 1.0, 1.0), seed=2)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_replan_measures_again_when_labels_or_files_changed(dataset, tmp_path):
    work = tmp_path / "work"
    plan(dataset, work, **PLAN)
    edit_json(dataset / "dataset.json", lambda d: d.update(labels={"background": 0, "liver": 1, "tumour": 2}))
    plan(dataset, work, overwrite=True, **PLAN)
    assert json.loads((work / "fingerprint.json").read_text())["labels"] == {"background": 0, "liver": 1, "tumour": 2}
    cached = work / "preprocessed" / "3d_fullres" / "case_001_seg.npy"
    before = cached.stat().st_mtime_ns
    label_file = dataset / "labelsTr" / "case_001.nii.gz"
    label, geometry = read_label(label_file)
    label[:] = 0
    write_label(label, geometry, label_file)
    os.utime(label_file, ns=(before + 10**9, before + 10**9))
    plan(dataset, work, overwrite=True, **PLAN)
    case = json.loads((work / "fingerprint.json").read_text())["cases"][1]
    assert case["case_id"] == "case_001" and case["class_voxels"][1:] == [0, 0]
    assert cached.stat().st_mtime_ns != before, "the case whose label changed must be preprocessed again"


def test_edited_plan_is_refused_by_training_until_preprocess_rebuilds_it(dataset, tmp_path):
    work = tmp_path / "work"
    plan(dataset, work, **PLAN)
    folder = work / "preprocessed" / "3d_fullres"
    assert load_cases(folder, ["case_000"])
    edit_json(
        work / "plans.json",
        lambda d: d["configurations"]["3d_fullres"]["normalization"][0].update(scheme="none", use_mask=False),
    )
    with pytest.raises(AutosegError, match="normalization") as error:
        load_cases(folder, ["case_000"])
    assert str(folder) in str(error.value) and "autoseg preprocess" in str(error.value)
    assert cli.main(["preprocess", str(work), "-c", "3d_fullres", "--processes", "1"]) == 0
    assert load_cases(folder, ["case_000"])
    stamp = (folder / "case_000.npy").stat().st_mtime_ns
    preprocess(work, ["3d_fullres"], workers=1, progress=False)
    assert (folder / "case_000.npy").stat().st_mtime_ns == stamp, "an up-to-date folder is left alone"


def test_preprocess_builds_the_cache_of_a_plan_made_without_it(dataset, tmp_path):
    work = tmp_path / "work"
    plan(dataset, work, preprocess=False, **PLAN)
    assert not (work / "preprocessed").exists()
    folders = preprocess(work, workers=1, progress=False)
    assert sorted(folders) == ["2d", "3d_fullres"]
    assert len(load_cases(folders["2d"], ["case_000", "case_003"])) == 2


def test_cuda_without_a_gpu_plans_for_the_given_memory_or_explains(dataset, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)

    def no_verify(*args, **kwargs):
        raise AssertionError("the device must be checked before verify")

    monkeypatch.setattr("autoseg.planning.run.verify_dataset", no_verify)
    with pytest.raises(AutosegError, match="--gpu-memory"):
        plan(dataset, tmp_path / "w1", device="cuda", **PLAN)
    monkeypatch.undo()
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    plans = plan(dataset, tmp_path / "w2", device="cuda", gpu_memory_gb=2, preprocess=False, **PLAN)
    assert plans.device["kind"] == "cuda" and plans.device["name"] == "planned without a GPU"
    assert plans.device["memory_bytes"] == 2 * 1024**3


@pytest.mark.parametrize(
    "argv, message", [(["--cv-folds", "1"], "-f all"), (["--split-mode", "random", "--groups", "GROUPS"], "--groups")]
)
def test_plan_refuses_split_options_that_cannot_work(dataset, tmp_path, capsys, argv, message):
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({f"case_{i:03d}": f"p{i % 2}" for i in range(4)}))
    argv = [str(groups) if a == "GROUPS" else a for a in argv]
    code = cli.main(["plan", str(dataset), "-o", str(tmp_path / "work"), "--cpu-gflops", "40", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "Fix: " in err[0]


@pytest.mark.slow
def test_train_all_uses_every_case_even_with_a_partial_user_splits_file(tmp_path):
    ids = [f"case_{i:03d}" for i in range(6)]
    (tmp_path / "splits.json").write_text(
        json.dumps([{"train": ids[:2], "val": ids[2:3]}, {"train": ids[3:5], "val": ids[:1]}])
    )
    (tmp_path / "fingerprint.json").write_text(json.dumps({"cases": [{"case_id": c} for c in ids]}))
    assert fold_cases(tmp_path, "all") == (ids, [])
