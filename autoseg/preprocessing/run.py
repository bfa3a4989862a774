"""`autoseg preprocess`: (re)build the preprocessed cache of an existing plans.json.

For a plan made with --no-preprocess, or one a user edited: folders whose signature matches the plan and cases
whose raw files are unchanged are skipped, so running it again only does what is missing or stale."""

from __future__ import annotations

from pathlib import Path

from autoseg.data.dataset import load_dataset
from autoseg.errors import AutosegError
from autoseg.layout.work import PLANS
from autoseg.preprocessing.cache import preprocess_dataset
from autoseg.schema.plans import load_plans
from autoseg.utils.logs import get_logger, log_to_file, remove_handler

log = get_logger("preprocess")


def preprocess(
    work: str | Path, configurations: list[str] | None = None, workers: int | None = None, progress: bool = True
) -> dict[str, Path]:
    """Preprocess the plan's dataset for `configurations` (default: all); returns {data_identifier: folder}."""
    work = Path(work)
    plans = load_plans(work)
    chosen = configurations or list(plans.configurations)
    for name in chosen:
        plans.configuration(name)  # an unknown name fails now, not after the first configuration's cases
    dataset = Path(plans.dataset_path)
    if not (dataset / "dataset.json").is_file():
        raise AutosegError(
            f"the plan's dataset {dataset} is not there (no dataset.json)",
            work / PLANS,
            "put the dataset back at that path, or set dataset_path in plans.json to where it is now",
        )
    handler = log_to_file(work / "preprocess.log")
    try:
        info = load_dataset(dataset)
        log.info("preprocessing %s for %s", dataset, ", ".join(chosen))
        return preprocess_dataset(info, plans, work, chosen, workers=workers, progress=progress)
    finally:
        remove_handler(handler)
