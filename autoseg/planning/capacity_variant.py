"""A long CPU budget's capacity variant: the reference plan's patch and batch with a residual encoder (the preset's
`capacity_variant`, by default nnU-Net ResEnc's 1, 3, 4, 6, 6, 6 blocks per stage and one decoder block), its
extra time spent on iterations up to the same cap as the plain plan.

Why a variant and not the plan (benchmarks/budget, fold 0, held-out cases, mirror TTA, 1-hour budgets on a 2-core
CPU): against the plain plan's hour, the residual encoder scored +0.0026 (SE 0.0026, better on 3 of 6 slices) on
ISBI and -0.0011 (SE 0.0017, better on 21 of 40 cases) on Hippocampus, with ~0.5-0.6x the iterations. Neither
dataset says that capacity pays, nor that it does not, so a long plan carries the residual encoder as
`<configuration>_resenc` and a rung of `autoseg train WORK --total-budget` decides between the two, as it decides
between configurations.
"""

from __future__ import annotations

from typing import Any

from autoseg.networks.cost import estimate_cost
from autoseg.planning.patch_and_batch import Sizing, make_network_spec

# The name of a long budget's capacity variant: 3d_fullres -> 3d_fullres_resenc.
CAPACITY_SUFFIX = "_resenc"


def capacity_sizing(
    reference: Sizing, settings: dict[str, Any], channels: tuple[int, int], flops_per_s: float
) -> Sizing | None:
    """The reference sizing with the preset's capacity network on the same topology, patch and batch, or None when
    the preset asks for no variant. `channels`: (input channels, classes)."""
    variant = settings.get("capacity_variant")
    if not variant:
        return None
    network_settings = {**settings, **{k: v for k, v in variant.items() if k != "architecture"}}
    dims = len(reference.patch_size)
    spec = make_network_spec(reference.topology, dims, *channels, network_settings, variant["architecture"])
    cost = estimate_cost(spec, reference.patch_size, reference.batch_size)
    seconds = cost["flops_train"] / flops_per_s
    plain = reference.cost["gflops_train"]
    reasons = [
        f"the reference plan's patch {reference.patch_size} and batch {reference.batch_size} with a "
        f"{variant['architecture']} of {spec.blocks_per_stage} blocks per encoder stage and "
        f"{spec.decoder_blocks} per decoder stage: {cost['gflops_train']:.1f} GFLOP per training step against the "
        f"plain network's {plain:.1f}, ~{seconds:.2f} s per iteration",
        "the measurements behind the budget policy (benchmarks/budget) do not tell whether the extra capacity "
        "pays, so `autoseg train WORK --total-budget` lets a rung of its halving decide between this plan and the "
        "plain one",
    ]
    return Sizing(list(reference.patch_size), reference.batch_size, reference.topology, spec, cost, seconds, reasons)
