"""`autoseg predict`: segment new images with trained configurations/folds, ensembling and postprocessing as
cross-validation chose (WORK/inference.json, written by find-best), output in the input's format and geometry."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from autoseg.data.dataset import DatasetInfo, list_input_cases, read_case
from autoseg.errors import AutosegError
from autoseg.inference.export import labels_from_probabilities, save_probability_file, uncertainty
from autoseg.inference.models import LoadedModel, load_model, trained_folds
from autoseg.inference.postprocessing import apply_postprocessing
from autoseg.inference.predictor import InferenceSettings, predict_case
from autoseg.data.image_io import write_label
from autoseg.planning.budget import detect_device
from autoseg.preprocessing.case import label_on_preprocessed_grid, one_hot_foreground, preprocess_arrays
from autoseg.schema.plans import Plans, load_plans
from autoseg.utils.files import read_json, write_json
from autoseg.utils.logs import get_logger

log = get_logger("predict")


def info_from_plans(plans: Plans) -> DatasetInfo:
    """What input naming needs to know about the dataset, from plans.json (the raw dataset may be gone)."""
    return DatasetInfo(root=Path(plans.dataset_path), name=plans.dataset_name, layout=plans.layout,
                       channel_names=plans.channel_names, labels=plans.labels, file_ending=plans.file_ending,
                       training=[], test=[])


def default_selection(work: Path, plans: Plans) -> dict[str, Any]:
    """find-best's choice when it ran, else the best single configuration trained (3d_fullres before 2d)."""
    chosen = work / "inference.json"
    if chosen.is_file():
        return read_json(chosen, "inference.json")
    for name in ("3d_fullres", "2d", *plans.configurations):
        if name in plans.configurations and trained_folds(work, name):
            return {"configurations": [name], "postprocessing": None}
    raise AutosegError("no trained model in this work folder", work / "models",
                       "train one first: autoseg train WORK -c CONFIG -f FOLD")


def predict(work: str | Path, inputs, output: str | Path, configurations: list[str] | None = None,
            folds: list[str] | None = None, tta: bool = True, save_probabilities: bool = False,
            device: str = "auto", overwrite: bool = False, checkpoint: str = "checkpoint_final.pt",
            postprocessing: bool = True, step: float = 0.5, progress: bool = True) -> dict[str, Any]:
    work, output = Path(work), Path(output)
    plans = load_plans(work)
    info = info_from_plans(plans)
    cases = list_input_cases(inputs, info)
    selection = default_selection(work, plans) if not configurations else {"configurations": configurations}
    names = selection["configurations"]
    rules = selection.get("postprocessing") if postprocessing and not configurations else None
    _refuse_overwrite(output, cases, overwrite)
    if any(f.parent.resolve() == output.resolve() for c in cases for f in c.image_files):
        raise AutosegError("the output folder is the input folder: predictions could replace input images", output,
                           "write predictions to a separate folder")
    kind = detect_device(device)
    settings = InferenceSettings(device=torch.device(kind), tta=tta, step=step)
    models = {name: _models(work, plans, name, folds, settings.device, checkpoint) for name in names}
    for name in list(models):
        previous = plans.configuration(name).previous_stage
        if previous and previous not in models:
            models[previous] = _models(work, plans, previous, folds, settings.device, checkpoint)
    log.info("predicting %d case(s) with %s (folds %s), TTA %s%s", len(cases), names,
             {n: [m.fold for m in ms] for n, ms in models.items()}, "on" if tta else "off",
             f", postprocessing {rules}" if rules else "")
    output.mkdir(parents=True, exist_ok=True)
    records = {}
    started = time.monotonic()
    with ThreadPoolExecutor(2) as writer:
        pending = []
        for case in tqdm(cases, desc="predict", disable=not progress):
            t0 = time.monotonic()
            image, geometry = read_case(case, info)
            probabilities = _ensemble(image, geometry, plans, names, models, settings)
            seg = apply_postprocessing(labels_from_probabilities(probabilities), rules)
            records[case.case_id] = {"seconds": round(time.monotonic() - t0, 3), **uncertainty(probabilities, seg)}
            path = output / f"{case.case_id}{case.file_ending}"
            pending.append(writer.submit(write_label, seg if geometry.ndim == 3 else seg[0], geometry, path))
            if save_probabilities:
                pending.append(writer.submit(save_probability_file, output / f"{case.case_id}.npz", probabilities))
        for job in pending:
            job.result()
    report = {"configurations": names, "tta": tta, "postprocessing": rules, "cases": records,
              "seconds_per_case": round((time.monotonic() - started) / max(1, len(cases)), 3)}
    write_json(output / "prediction_report.json", report)
    log.info("wrote %d segmentation(s) to %s (%.2f s per case)", len(cases), output, report["seconds_per_case"])
    return report


def _models(work: Path, plans: Plans, name: str, folds, device, checkpoint) -> list[LoadedModel]:
    plans.configuration(name)
    chosen = folds or trained_folds(work, name, checkpoint)
    if not chosen:
        raise AutosegError(f"configuration '{name}' has no trained fold", work / "models" / name,
                           f"train it: autoseg train {work} -c {name} -f 0")
    return [load_model(work, name, f, device, checkpoint) for f in chosen]


def _ensemble(image, geometry, plans: Plans, names: list[str], models, settings) -> np.ndarray:
    total = None
    for name in names:
        config = plans.configuration(name)
        extra = None
        if config.previous_stage:
            previous = plans.configuration(config.previous_stage)
            low, _ = predict_case(image, geometry, plans, previous, models[config.previous_stage], settings)
            extra = cascade_channels(labels_from_probabilities(low), image, geometry, plans, config)
        probs, _ = predict_case(image, geometry, plans, config, models[name], settings, extra)
        total = probs if total is None else total + probs
    return total / len(names)


def cascade_channels(seg: np.ndarray, image: np.ndarray, geometry, plans: Plans, config) -> np.ndarray:
    """The previous stage's segmentation on this configuration's preprocessed grid, one-hot per foreground class."""
    _, _, properties = preprocess_arrays(image, geometry, plans, config)
    return one_hot_foreground(label_on_preprocessed_grid(seg, properties, plans, config), plans.num_classes)


def _refuse_overwrite(output: Path, cases, overwrite: bool) -> None:
    if overwrite or not output.exists():
        return
    targets = [output / f"{c.case_id}{c.file_ending}" for c in cases]
    clashes = [target for target in targets if target.exists()]
    if clashes:
        raise AutosegError(f"{len(clashes)} prediction(s) already exist in the output folder, e.g. {clashes[0].name}",
                           output, "choose another output folder or pass --overwrite")
