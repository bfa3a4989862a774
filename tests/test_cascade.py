"""The low-resolution cascade end to end: 3d_lowres folds -> 3d_cascade_fullres trained on their CV
predictions -> predict runs both stages."""
from __future__ import annotations

import json

import numpy as np

from autoseg.data.image_io import read_label
from autoseg.inference.run import predict
from autoseg.planning.run import plan
from tests.conftest import shrink_epochs
from autoseg.training.loop import train


def test_cascade_trains_on_lowres_cv_predictions_and_predicts(synthetic_3d, tmp_path):
    preset = tmp_path / "always-cascade.json"
    preset.write_text(json.dumps({"name": "always-cascade", "extends": "cpu-fast", "lowres_trigger": 2.0}))
    work = tmp_path / "work"
    plans = plan(synthetic_3d, work, preset=str(preset), cpu_gflops=40, time_budget="2m", progress=False,
                 workers=1)
    assert {"3d_lowres", "3d_cascade_fullres"} <= set(plans.configurations)
    assert plans.configurations["3d_lowres"].spacing[1] > plans.configurations["3d_fullres"].spacing[1]
    shrink_epochs(work, iterations=4, val_iterations=1)
    for fold in range(5):
        train(work, "3d_lowres", fold, epochs=1, progress=False)
    summary = train(work, "3d_cascade_fullres", 0, epochs=1, progress=False)
    assert summary["validation_dice"] is not None
    out = tmp_path / "out"
    predict(work, synthetic_3d / "imagesTs", out, configurations=["3d_cascade_fullres"], tta=False, progress=False)
    for image in sorted((synthetic_3d / "imagesTs").glob("*_0000.nii.gz")):
        case = image.name.removesuffix("_0000.nii.gz")
        seg, geometry = read_label(out / f"{case}.nii.gz")
        assert seg.shape == read_label(synthetic_3d / "labelsTs" / f"{case}.nii.gz")[0].shape
        assert set(np.unique(seg)) <= {0, 1, 2}
