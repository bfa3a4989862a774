"""A person-readable account of plans.json: what was chosen for each configuration, and why."""

from __future__ import annotations

from autoseg.labels import label_manager
from autoseg.schema.plans import Plans


def describe_plans(plans: Plans) -> str:
    device = plans.device
    if device["kind"] == "cuda":
        target = f"GPU {device['name']}, {device['memory_bytes'] / 2**30:.1f} GB"
    else:
        rates = ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in device.get("flops_per_s", {}).items())
        target = (
            f"CPU {device['name']} ({device['threads']} threads; {rates}), "
            f"time budget {device['time_budget_s'] / 60:.0f} min"
        )
    lines = [f"plans for {plans.dataset_name} (preset {plans.preset}) sized for {target}"]
    labels = label_manager(plans)
    if labels.has_regions:  # region-based training: say so, it changes outputs and scores
        lines.append(
            f"  regions (from {labels.region_source}): {labels.region_sets}, regions_class_order {labels.region_order}"
        )
    for cfg in plans.configurations.values():
        net = cfg.network
        pooling = [sum(1 for s in net.strides if s[a] > 1) for a in range(cfg.spatial_dims)]
        lines.append(
            f"  {cfg.name}: spacing {[round(s, 4) for s in cfg.spacing]}, patch {cfg.patch_size}, "
            f"batch {cfg.batch_size}, {net.architecture} {len(net.features)} stages "
            f"(poolings per axis {pooling}), features {net.features[0]}-{net.features[-1]}"
            + (
                f", ~{cfg.training.expected_iterations} iterations in budget"
                if cfg.training.expected_iterations
                else ""
            )
            + (
                f" (at most {cfg.training.max_epochs} epochs or {cfg.training.time_budget_s / 60:.0f} min, "
                "whichever ends first: more epochs would overfit)"
                if cfg.training.max_epochs and cfg.training.time_budget_s
                else ""
            )
            + (f", after {cfg.previous_stage}" if cfg.previous_stage else "")
        )
    return "\n".join(lines)
