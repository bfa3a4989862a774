"""Region-based plans: which regions a plan trains (dataset.json's or a --regions file's), and networks sized for
them -- one output per region, and a cascade stage that receives the previous stage's region masks."""

from __future__ import annotations

import logging
from pathlib import Path

from autoseg.data.dataset import DatasetInfo
from autoseg.labels import LabelManager
from autoseg.labels.region_sets import load_regions_file
from autoseg.schema.plans import Configuration

log = logging.getLogger("autoseg.plan")


def choose_regions(
    info: DatasetInfo, regions_file: str | Path | None
) -> tuple[dict[str, list[int]] | None, list[int] | None, str | None, str]:
    """(regions, regions_class_order, source, sentence for plan.log). A regions file overrides dataset.json's
    labels (users often cannot edit a dataset they were given); its values must be the dataset's label values."""
    if regions_file:
        declared = {v for v in info.labels.values() if v != 0}
        regions, order = load_regions_file(regions_file, declared, info.ignore_label)
        source = str(Path(regions_file).resolve())
        return (
            regions,
            order,
            source,
            (f"regions from {source} (overriding dataset.json's labels): {regions}, regions_class_order {order}"),
        )
    declared = LabelManager.from_dataset(info)
    if declared.has_regions:
        return (
            declared.region_sets,
            declared.region_order,
            "dataset.json",
            f"regions from dataset.json: {declared.region_sets}, regions_class_order {declared.region_order}",
        )
    return None, None, None, "plain labels (no regions): one softmax output per class"


def apply_regions(
    configurations: dict[str, Configuration], regions: dict[str, list[int]] | None, num_classes: int
) -> None:
    """Give every network one output per region; a cascade stage's extra inputs become the region masks of the
    previous stage's prediction instead of its one-hot foreground classes."""
    if not regions:
        return
    for config in configurations.values():
        config.network.num_classes = len(regions)
        if config.previous_stage:
            config.network.in_channels += len(regions) - (num_classes - 1)
            config.reasons.append(f"regions: the previous stage's prediction enters as {len(regions)} region masks")
        config.reasons.append(f"regions: one sigmoid output per region {list(regions)}, Dice + BCE per region")
        log.info("%s: %s", config.name, config.reasons[-1])
