"""The planner's iteration estimate counts the cheaper progressive phase."""

import pytest

from autoseg.planning.iterations import iterations_in_budget


def test_without_progressive_phase_every_step_is_a_full_patch_step():
    assert iterations_in_budget(100.0, 0.5, [40, 56, 40], 2) == 200
    assert iterations_in_budget(100.0, 0.5, [40, 56, 40], 2, progressive_fraction=0.5) == 200


def test_progressive_steps_cost_their_share_of_voxels():
    # Half the budget at a quarter of the voxels per batch: 100 full steps + 400 small ones.
    assert (
        iterations_in_budget(
            100.0, 0.5, [64, 64], 4, progressive_fraction=0.5, progressive_patch=[32, 32], progressive_batch=4
        )
        == 500
    )
    # Hippocampus's EPYC plan: 0.6x patches at twice the batch are 0.43x the voxels per batch.
    full_only = iterations_in_budget(810.0, 0.94, [40, 56, 40], 2)
    both = iterations_in_budget(
        810.0, 0.94, [40, 56, 40], 2, progressive_fraction=0.5, progressive_patch=[24, 32, 24], progressive_batch=4
    )
    assert full_only == 861
    assert both == pytest.approx(full_only * (0.5 / 0.4114 + 0.5), abs=2)
