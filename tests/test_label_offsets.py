"""Labels shifted from the image edges along one axis are found (and mirroring along it is dropped from the plan);
aligned labels and real anatomy keep every mirror axis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from autoseg.data.dataset import load_dataset, read_case
from autoseg.data.image_io import read_label
from autoseg.planning.budget import DeviceBudget
from autoseg.planning.label_offsets import combine, edge_profiles
from autoseg.planning.planner import plan_configurations
from autoseg.planning.presets import load_preset
from tests.test_planning_rules import fingerprint

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HIPPOCAMPUS = SHARED_DATA / "Task04_Hippocampus"
ISBI = SHARED_DATA / "Dataset002_ISBIMembranes"


def _cells(seed: int, shape=(1, 128, 128)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image of dark thin walls between bright blobs, and the walls as the label."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), (0, 6, 6))
    walls = np.abs(field) < 0.02 * field.std() * 10
    image = 1.0 - 0.8 * walls + 0.05 * rng.normal(size=shape)
    return image[None].astype(np.float32), walls


def _judged(pairs):
    rng = np.random.default_rng(0)
    return combine([edge_profiles(image, label, rng) for image, label in pairs])


def test_aligned_labels_flag_no_axis():
    result = _judged([_cells(seed) for seed in range(4)])
    assert result[0]["edges"] == [0, 0], "a single-slice axis has no edges"
    assert [r["shifted_labels"] for r in result] == [False, False, False]
    assert all(abs(r["shift"]) < 0.2 for r in result[1:])


def test_labels_drawn_one_voxel_off_along_rows_flag_only_the_rows():
    pairs = [(image, np.roll(label, 1, axis=1)) for image, label in (_cells(seed) for seed in range(4))]
    result = _judged(pairs)
    assert [r["shifted_labels"] for r in result] == [False, True, False]
    assert result[1]["shift"] == pytest.approx(-1.0, abs=0.25), "image edges lie one voxel before the labels'"
    assert result[1]["match"] > result[1]["match_unshifted"]


def test_planner_drops_mirroring_only_along_the_shifted_axis():
    fp = fingerprint((1, 512, 512), (999.0, 1.0, 1.0), n=30, labels=2)
    fp["label_edge_shift"] = [
        {"axis": 0, "shifted_labels": False, "shift": 0.0},
        {"axis": 1, "shifted_labels": True, "shift": 0.57},
        {"axis": 2, "shifted_labels": False, "shift": 0.19},
    ]
    budget = DeviceBudget(kind="cuda", name="test", memory_bytes=8 * 2**30)
    config = plan_configurations(fp, load_preset("default"), budget)["configurations"]["2d"]
    assert config.augmentation.mirror_axes == [1]
    assert config.augmentation.rotation_deg == [-15.0, 15.0]
    assert any("no mirroring along axis 0" in reason for reason in config.reasons)
    del fp["label_edge_shift"]  # a fingerprint from before the measurement keeps every axis
    config = plan_configurations(fp, load_preset("default"), budget)["configurations"]["2d"]
    assert config.augmentation.mirror_axes == [0, 1] and config.augmentation.rotation_deg == [-180.0, 180.0]


def _real_pairs(root: Path, every: int = 1):
    info = load_dataset(root)
    for case in info.training[::every]:
        image, _ = read_case(case, info)
        yield image, read_label(case.label_file)[0] > 0


@pytest.mark.realdata
@pytest.mark.skipif(not ISBI.is_dir(), reason="../shared/data/Dataset002_ISBIMembranes is absent")
def test_isbi_membranes_are_drawn_shifted_along_the_rows():
    result = _judged(list(_real_pairs(ISBI, every=3)))
    assert [r["shifted_labels"] for r in result] == [False, True, False]
    assert 0.3 < result[1]["shift"] < 0.9


@pytest.mark.realdata
@pytest.mark.skipif(not HIPPOCAMPUS.is_dir(), reason="../shared/data/Task04_Hippocampus is absent")
def test_hippocampus_anatomy_is_not_taken_for_shifted_labels():
    result = _judged(list(_real_pairs(HIPPOCAMPUS, every=4)))
    assert [r["shifted_labels"] for r in result] == [False, False, False]
