"""A step with a NaN gradient is skipped (weights stay finite), and a low precision that keeps producing them
hands the rest of the run to fp32."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from autoseg.training.loop import train
from autoseg.training.nonfinite_guard import NonFiniteGuard, finite_mean


def test_guard_skips_non_finite_steps_and_falls_back_to_fp32_after_a_run_of_them():
    guard = NonFiniteGuard(fallback_after=3)
    assert guard.allows(torch.tensor(2.0))
    assert not guard.allows(torch.tensor(float("nan")))
    assert guard.precision_after_skip("bf16") == "bf16"  # one skip: keep going
    assert guard.allows(1.0)  # a finite step resets the run
    for _ in range(3):
        assert not guard.allows(float("inf"))
        precision = guard.precision_after_skip("bf16")
    assert precision == "fp32"
    assert guard.take_epoch_count() == 4 and guard.take_epoch_count() == 0
    assert finite_mean([1.0, math.nan, 3.0]) == 2.0 and math.isnan(finite_mean([math.nan]))


@pytest.mark.slow
def test_training_skips_nan_gradient_steps_and_keeps_weights_finite(planned_3d, tmp_path, monkeypatch):
    work = tmp_path / "W"
    shutil.copytree(planned_3d, work, ignore=shutil.ignore_patterns("models"))
    plans = json.loads((work / "plans.json").read_text())
    plans["configurations"]["3d_fullres"]["training"]["precision"] = "bf16"  # the precision the NaNs came in
    (work / "plans.json").write_text(json.dumps(plans))
    real_clip = torch.nn.utils.clip_grad_norm_
    calls = []

    def poisoned_clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        calls.append(1)
        if len(calls) <= 6:  # the first six steps get a NaN gradient, as a bad bf16 step would
            for p in parameters:
                if p.grad is not None:
                    p.grad.fill_(float("nan"))
        return real_clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", poisoned_clip)
    summary = train(work, "3d_fullres", 0, epochs=2, progress=False, validate=False)
    history = json.loads((work / "models/3d_fullres/fold_0/history.json").read_text())
    assert sum(h["skipped_steps"] for h in history) == 6
    assert all(math.isfinite(h["train_loss"]) for h in history)
    weights = torch.load(work / "models/3d_fullres/fold_0/checkpoint_final.pt", weights_only=True)["weights"]
    assert all(torch.isfinite(w).all() for w in weights.values() if w.is_floating_point())
    assert summary["precision"] == "fp32"  # five NaN steps in a row in bf16: the rest of the run went fp32
