"""The label manager (autoseg/labels/manager.py): plain labels, regions and the ignore label decided in one place."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autoseg.labels import LabelManager, label_manager

PLAIN = {"background": 0, "organ": 1, "lesion": 2}
NESTED = {"organ_with_lesion": [1, 2], "lesion": [2]}


def _plans(regions=None, order=None, ignore=None, source=None):
    return SimpleNamespace(
        labels=dict(PLAIN), ignore_label=ignore, regions=regions, regions_class_order=order, regions_source=source
    )


def test_plain_labels_softmax_argmax_and_one_output_per_class():
    labels = label_manager(_plans())
    assert not labels.has_regions and labels.activation == "softmax" and labels.num_outputs == 3
    assert labels.loss_regions is None and labels.background_outside_crop
    logits = torch.tensor([[0.0, 5.0], [3.0, 0.0], [1.0, 0.0]])  # (K=3, 2 voxels)
    probabilities = labels.probabilities(logits)
    np.testing.assert_allclose(probabilities.sum(0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(labels.probabilities(logits.numpy()), probabilities, rtol=1e-5)
    assert labels.label_map(probabilities).tolist() == [1, 0]


def test_regions_sigmoid_per_region_and_label_map_by_class_order():
    labels = label_manager(_plans(NESTED, [1, 2], source="dataset.json"))
    assert labels.has_regions and labels.activation == "sigmoid" and labels.num_outputs == 2
    assert labels.loss_regions == [[1, 2], [2]] and not labels.background_outside_crop
    assert labels.region_source == "dataset.json"
    logits = torch.tensor([[4.0, 4.0, -4.0], [-4.0, 4.0, -4.0]])  # region 1 everywhere but voxel 2; region 2 at 1
    probabilities = labels.probabilities(logits)
    assert probabilities.min() > 0 and probabilities.max() < 1 and not np.allclose(probabilities.sum(0), 1)
    assert labels.label_map(probabilities).tolist() == [1, 2, 0]  # the later (nested) region overwrites


def test_ignore_label_is_kept_out_of_sampling_and_scores():
    labels = label_manager(_plans(ignore=3))
    assert labels.ignore_label == 3
    assert labels.evaluation_entries() == {"organ": 1, "lesion": 2}
    locations = {1: np.zeros((2, 3), np.int64), 2: np.ones((1, 3), np.int64), 3: np.full((4, 3), 7, np.int64)}
    assert list(labels.sampling_groups(locations)) == [1, 2]


def test_plain_sampling_groups_are_the_class_locations_unchanged():
    labels = label_manager(_plans())
    locations = {1: np.arange(6).reshape(2, 3), 2: np.zeros((0, 3), np.int64)}
    groups = labels.sampling_groups(locations)
    assert list(groups) == [1, 2] and all(groups[k] is locations[k] for k in groups)


def test_regions_sample_per_region_from_the_union_of_their_values():
    labels = label_manager(_plans(NESTED, [1, 2]))
    organ, lesion = np.array([[0, 0, 1]]), np.array([[5, 5, 5], [6, 6, 6]])
    groups = labels.sampling_groups({1: organ, 2: lesion})
    assert list(groups) == ["organ_with_lesion", "lesion"]
    assert groups["organ_with_lesion"].tolist() == [[0, 0, 1], [5, 5, 5], [6, 6, 6]]
    assert groups["lesion"].tolist() == lesion.tolist()
    assert label_manager(_plans({"absent": [2]}, [2])).sampling_groups({1: organ})["absent"].shape == (0, 3)


def test_evaluation_entries_are_the_regions_when_trained_by_regions():
    assert label_manager(_plans(NESTED, [1, 2], ignore=9)).evaluation_entries() == NESTED
    assert label_manager(_plans()).evaluation_entries() == {"organ": 1, "lesion": 2}


def test_cascade_channels_are_one_hot_classes_or_region_masks():
    label = np.array([[[0, 1, 2, 2]]])
    plain = label_manager(_plans()).cascade_channels(label)
    assert plain.shape == (2, 1, 1, 4) and plain[:, 0, 0].tolist() == [[0, 1, 0, 0], [0, 0, 1, 1]]
    regions = label_manager(_plans(NESTED, [1, 2])).cascade_channels(label, np.uint8)
    assert regions.dtype == np.uint8 and regions[:, 0, 0].tolist() == [[0, 1, 1, 1], [0, 0, 1, 1]]


def test_uncertainty_is_normalised_entropy_or_binary_entropy():
    uniform = np.full((3, 2, 2), 1 / 3, np.float32)
    assert label_manager(_plans()).uncertainty(uniform, np.ones((2, 2), np.uint8))[
        "mean_entropy_foreground"
    ] == pytest.approx(1.0, abs=1e-5)
    half = np.full((2, 2, 2), 0.5, np.float32)
    spread = label_manager(_plans(NESTED, [1, 2])).uncertainty(half, np.ones((2, 2), np.uint8))
    assert spread == {"mean_entropy_foreground": pytest.approx(1.0), "foreground_voxels": 4}
    assert label_manager(_plans()).uncertainty(uniform, np.zeros((2, 2), np.uint8))["foreground_voxels"] == 0


def test_built_from_a_dataset_description_and_from_a_real_plan(planned_3d):
    from autoseg.schema.plans import load_plans

    info = SimpleNamespace(labels=dict(PLAIN), ignore_label=None, regions=NESTED, regions_class_order=[1, 2])
    assert LabelManager.from_dataset(info).region_sets == NESTED
    plans = load_plans(planned_3d)
    labels = label_manager(plans)
    assert labels.num_outputs == plans.num_outputs and labels.labels == plans.labels and not labels.has_regions
