"""Reusing a model: train --init-from copies every weight whose name and shape match (and says so), plan
--plans-from gives a new dataset the other plan's network so those weights fit, and an export of a region-based
cascade carries both stages and the regions."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from autoseg import cli
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.synthetic_regions import make_region_dataset
from autoseg.inference.run import predict
from autoseg.networks import build_network
from autoseg.plan_command import plan
from autoseg.schema.plans import load_plans
from autoseg.sharing.export import export_model
from autoseg.training.init_from import initialise_from
from autoseg.training.loop import train
from tests.sharing_fixtures import shorten

pytestmark = pytest.mark.slow  # every test trains from another plan's weights


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, Path]:
    """(WORK, model.zip): one fold of 3d_fullres, 4 iterations, on a 1-channel 3-class dataset."""
    root = tmp_path_factory.mktemp("transfer")
    dataset = make_synthetic_dataset(
        root / "A", num_cases=6, shape=(10, 32, 32), spacing=(3.0, 0.9, 0.9), seed=5, name="A"
    )
    work = root / "work_A"
    plan(
        dataset,
        work,
        preset="cpu-fast",
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=["3d_fullres"],
    )
    shorten(work)
    train(work, "3d_fullres", 0, epochs=1, workers=0, progress=False, validate=False)
    return work, export_model(work, root / "A.zip")


def test_init_from_the_same_plan_copies_every_weight(source, tmp_path):
    work, model = source
    config = load_plans(work).configuration("3d_fullres")
    network = build_network(config.network, seed=123)
    record = initialise_from(network, model, "3d_fullres", tmp_path)
    trained = torch.load(work / "models/3d_fullres/fold_0/checkpoint_final.pt", weights_only=True)["weights"]
    assert record["matched"] == record["total"] and record["reinitialised"] == []
    assert all(torch.equal(value, trained[name]) for name, value in network.state_dict().items())
    assert json.loads((tmp_path / "init_from.json").read_text())["matched"] == record["total"]
    assert record["source"].endswith("A.zip:models/3d_fullres/fold_0/checkpoint_final.pt")


def test_plans_from_and_init_from_across_channels_and_classes(source, tmp_path):
    work_a, model = source
    dataset = make_synthetic_dataset(
        tmp_path / "B",
        num_cases=6,
        shape=(8, 36, 28),
        spacing=(2.0, 1.0, 1.0),
        seed=9,
        num_channels=2,
        num_classes=4,
        name="B",
    )
    work_b = tmp_path / "work_B"
    assert (
        cli.main(
            [
                "plan",
                str(dataset),
                "-o",
                str(work_b),
                "--preset",
                "cpu-fast",
                "--cpu-gflops",
                "40",
                "--cv-folds",
                "2",
                "--processes",
                "1",
                "--plans-from",
                str(work_a / "plans.json"),
            ]
        )
        == 0
    )
    a, b = load_plans(work_a).configuration("3d_fullres"), load_plans(work_b).configuration("3d_fullres")
    assert list(load_plans(work_b).configurations) == list(load_plans(work_a).configurations)
    assert (b.spacing, b.patch_size, b.batch_size) == (a.spacing, a.patch_size, a.batch_size)
    assert (b.network.features, b.network.kernel_sizes, b.network.strides) == (
        a.network.features,
        a.network.kernel_sizes,
        a.network.strides,
    )
    assert (b.network.in_channels, b.network.num_classes, len(b.normalization)) == (2, 4, 2)
    assert "transferred from" in b.reasons[0]
    shorten(work_b)
    assert (
        cli.main(
            [
                "train",
                str(work_b),
                "-c",
                "3d_fullres",
                "-f",
                "0",
                "--epochs",
                "1",
                "--workers",
                "0",
                "--no-validation",
                "--init-from",
                str(model),
            ]
        )
        == 0
    )
    summary = json.loads((work_b / "models/3d_fullres/fold_0/training_summary.json").read_text())
    record = summary["init_from"]
    assert 0 < record["matched"] < record["total"]
    network = build_network(b.network)
    shapes = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    first_conv = next(k for k, s in shapes.items() if len(s) == 5 and s[1] == 2)  # takes the 2 input channels
    assert first_conv in record["reinitialised"]
    heads = [k for k, s in shapes.items() if len(s) == 5 and s[0] == 4]  # 4 output classes
    assert heads and set(heads) <= set(record["reinitialised"])
    assert len(record["reinitialised"]) + record["matched"] == record["total"]


def test_init_from_mistakes_are_one_line(source, tmp_path, capsys):
    work, model = source
    missing = tmp_path / "missing.zip"
    assert cli.main(["train", str(work), "-c", "3d_fullres", "-f", "1", "--init-from", str(missing)]) == 2
    assert cli.main(["train", str(work), "-c", "3d_fullres", "-f", "0", "--resume", "--init-from", str(model)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and str(missing) in lines[0] and "--resume" in lines[1]
    assert not (work / "models/3d_fullres/fold_1").exists()


def test_export_of_a_region_cascade_carries_both_stages_and_the_regions(tmp_path):
    root = make_region_dataset(tmp_path / "ds", num_cases=4, shape=(20, 20, 20), seed=4)
    preset = tmp_path / "always-cascade.json"
    preset.write_text(json.dumps({"name": "always-cascade", "extends": "cpu-fast", "lowres_trigger": 2.0}))
    work = tmp_path / "work"
    plan(
        root,
        work,
        preset=str(preset),
        cpu_gflops=40,
        time_budget="1m",
        folds=2,
        progress=False,
        workers=1,
        configurations=["3d_lowres", "3d_fullres"],
    )
    shorten(work, iterations=2)
    for fold in (0, 1):
        train(work, "3d_lowres", fold, epochs=1, progress=False, workers=0, validate=True, validation_tta=False)
    train(work, "3d_cascade_fullres", 0, epochs=1, progress=False, workers=0, validation_tta=False)
    expected, got = tmp_path / "from_work", tmp_path / "from_zip"
    predict(work, root / "imagesTr", expected, configurations=["3d_cascade_fullres"], tta=False, progress=False)
    model = export_model(work, tmp_path / "cascade.zip", configurations=["3d_cascade_fullres"])
    with zipfile.ZipFile(model) as archive:
        weights = sorted(n for n in archive.namelist() if n.endswith(".pt"))
        plans = json.loads(archive.read("plans.json"))
    assert weights == [
        "models/3d_cascade_fullres/fold_0/checkpoint_final.pt",
        "models/3d_lowres/fold_0/checkpoint_final.pt",
        "models/3d_lowres/fold_1/checkpoint_final.pt",
    ]
    assert (
        plans["regions"]
        and plans["regions_class_order"]
        and set(plans["configurations"]) == {"3d_lowres", "3d_cascade_fullres"}
    )
    shutil.rmtree(work)
    assert cli.main(["predict", "--model", str(model), "-i", str(root / "imagesTr"), "-o", str(got), "--no-tta"]) == 0
    names = sorted(p.name for p in expected.glob("*.nii.gz"))
    assert names and all((expected / n).read_bytes() == (got / n).read_bytes() for n in names)
