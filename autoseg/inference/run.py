"""`autoseg predict`: segment new images with trained configurations/folds, ensembling and postprocessing as
cross-validation chose (WORK/inference.json, written by find-best), output in the input's format and geometry.

OUT/prediction_report.json: {"cases": {case: {"seconds", uncertainty, "settings"}}, plus the configurations,
tta, postprocessing and seconds_per_case of the latest run}. Predicting more cases into the same folder adds
them to the report (a case predicted again gets its new entry); each case's "settings" say what made it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset import DatasetInfo
from autoseg.data.dicom.cases import input_cases, read_input_case
from autoseg.data.finite import refuse_non_finite
from autoseg.errors import AutosegError
from autoseg.inference.backends import check_backend
from autoseg.inference.export import save_probability_file
from autoseg.inference.models import LoadedModel, load_model
from autoseg.inference.outputs import check_output_format, output_files, seg_writer, submit_label_writes
from autoseg.inference.plans_sanity import check_plans_for_prediction
from autoseg.inference.postprocessing import apply_postprocessing
from autoseg.inference.precision import precision_of_models
from autoseg.inference.predict_options import ModelSource, PredictOptions
from autoseg.inference.prediction_ledger import PredictionLedger, previous_cases
from autoseg.inference.predictor import InferenceSettings, mean_in_place, predict_case
from autoseg.inference.window_splitter import check_step
from autoseg.labels import label_manager
from autoseg.layout.work import (
    CHECKPOINT_FINAL,
    INFERENCE,
    MODELS,
    PLANS,
    PREDICTION_REPORT,
    TRAINING_SUMMARY,
    model_dir,
    trained_folds,
)
from autoseg.preprocessing.case import label_on_preprocessed_grid
from autoseg.schema.inference_file import InferenceFile
from autoseg.schema.load import load_validated_data
from autoseg.schema.plans import Plans, load_plans
from autoseg.utils.files import remove_partial_writes
from autoseg.utils.locks import output_lock
from autoseg.utils.logs import get_logger

log = get_logger("predict")
REPORT_NAME = PREDICTION_REPORT


def info_from_plans(plans: Plans) -> DatasetInfo:
    """What input naming needs to know about the dataset, from plans.json (the raw dataset may be gone)."""
    return DatasetInfo(
        root=Path(plans.dataset_path),
        name=plans.dataset_name,
        layout=plans.layout,
        channel_names=plans.channel_names,
        labels=plans.labels,
        file_ending=plans.file_ending,
        training=[],
        test=[],
    )


def default_selection(work: Path, plans: Plans, checkpoint: str = CHECKPOINT_FINAL) -> dict[str, Any]:
    """find-best's choice when it ran, else the best single configuration with a fold that has `checkpoint`
    (3d_fullres before 2d). Folds without `checkpoint` are left out later, by _models."""
    chosen = work / INFERENCE
    if chosen.is_file():
        return load_validated_data(chosen, InferenceFile, INFERENCE)
    for name in ("3d_fullres", "2d", *plans.configurations):
        if name in plans.configurations and trained_folds(work, name, checkpoint):
            return {"configurations": [name], "postprocessing": None}
    raise AutosegError(
        f"no trained model with {checkpoint} in this work folder",
        work / MODELS,
        "train one first (autoseg train WORK -c CONFIG -f FOLD)"
        + ("" if checkpoint == CHECKPOINT_FINAL else ", or pass --checkpoint checkpoint_final.pt"),
    )


def choose_selection(
    work: Path, plans: Plans, configurations: list[str] | None, checkpoint: str, postprocessing: bool
) -> tuple[list[str], Any, dict[str, Any]]:
    """(configurations, postprocessing rules, selection): find-best's choice unless configurations are named
    (its postprocessing belongs to its own choice only)."""
    selection = default_selection(work, plans, checkpoint) if not configurations else {"configurations": configurations}
    rules = selection.get("postprocessing") if postprocessing and not configurations else None
    return selection["configurations"], rules, selection


def load_backend_models(
    source: ModelSource, settings: InferenceSettings, device: str = "auto", precision: str = "auto"
) -> dict[str, list]:
    """load_selected_models for settings.backend, setting settings.device and .precision to what the networks
    run on: torch modules on `device` (auto: a GPU when there is one) in `precision` (auto: inference/precision.py),
    or an export's ONNX graphs on the CPU in float32 (no torch imported)."""
    if settings.backend == "onnxruntime":
        from autoseg.inference.backends.onnx_backend import check_backend_options, load_onnx_model

        check_backend_options(device, precision)
        settings.precision = "fp32"
        return load_selected_models(source, None, load_onnx_model)
    import torch

    from autoseg.planning.budget import detect_device

    settings.device = torch.device(detect_device(device))
    models = load_selected_models(source, settings.device)
    settings.precision = precision_of_models(source.work, models, precision, settings.device)
    return models


def load_selected_models(source: ModelSource, device, loader=load_model) -> dict[str, list[LoadedModel]]:
    """The networks of the chosen configurations (and of their cascade's previous stages), per configuration;
    shared by `autoseg predict` and autoseg.Predictor, so both segment with the same models. `loader` (work,
    configuration, fold, device, checkpoint) -> a fold's model: load_model, or the ONNX backend's."""
    # A plan from elsewhere is checked for sense (spacings, strides, patch, memory) before any network is built.
    check_plans_for_prediction(source.plans, source.names, source.work / PLANS)
    models = {name: _models(source, name, device, loader) for name in source.selection["configurations"]}
    for name in list(models):
        previous = source.plans.configuration(name).previous_stage
        if previous and previous not in models:
            models[previous] = _models(source, previous, device, loader)
    return models


def predict(
    work: str | Path,
    inputs,
    output: str | Path,
    *,
    configurations: list[str] | None = None,
    folds: list[str] | None = None,
    tta: bool = True,
    save_probabilities: bool = False,
    device: str = "auto",
    overwrite: bool = False,
    checkpoint: str = CHECKPOINT_FINAL,
    postprocessing: bool = True,
    step: float = 0.5,
    progress: bool = True,
    precision: str = "auto",
    tta_axes: tuple[int, ...] | None = None,
    compile_mode: str = "auto",
    backend: str = "torch",
    output_format: str = "nifti",
) -> dict[str, Any]:
    """`precision` "auto" runs the networks in the format training chose where this machine runs it fast
    (inference/precision.py), `backend` "onnxruntime" runs an export's ONNX networks without torch
    (inference/backends/); `tta_axes` mirror only those of the plan's mirror axes; `compile_mode` (auto, on,
    off): torch.compile the networks (inference/compiled.py). `inputs` may be folders of DICOM series
    (data/dicom/cases.py); `output_format` nifti, dicom-seg or both (inference/outputs.py)."""
    step = check_step(step)  # before anything is read: a bad step would otherwise fail after model loading
    check_backend(backend)
    options = PredictOptions(
        configurations=configurations,
        folds=folds,
        tta=tta,
        save_probabilities=save_probabilities,
        device=device,
        overwrite=overwrite,
        checkpoint=checkpoint,
        postprocessing=postprocessing,
        step=step,
        progress=progress,
        precision=precision,
        tta_axes=tta_axes,
        compile_mode=compile_mode,
        backend=backend,
        output_format=output_format,
    )
    work, output = Path(work), Path(output)
    plans = load_plans(work)
    info = info_from_plans(plans)
    cases = input_cases(inputs, info)
    check_output_format(output_format, cases)
    _, rules, selection = choose_selection(work, plans, configurations, checkpoint, postprocessing)
    _check_output_is_not_an_input_folder(cases, output)
    source = ModelSource(work, plans, selection, configurations, folds, checkpoint)
    # One predict per output folder at a time: a second one is refused naming this one (the report is merged
    # under the lock, so no run's entries are lost).
    with output_lock(output, "predictions folder"):
        return _predict_locked(_LockedRun(source, info, output, options, rules), cases)


def _check_output_is_not_an_input_folder(cases: list, output: Path) -> None:
    if any(f.parent.resolve() == output.resolve() for c in cases for f in c.image_files):
        raise AutosegError(
            "the output folder is the input folder: predictions could replace input images",
            output,
            "write predictions to a separate folder",
        )


@dataclass(frozen=True)
class _LockedRun:
    """One predict run inside its output folder's lock: the networks' source, the dataset's naming, the folder,
    the user's options and the postprocessing rules of the selection."""

    source: ModelSource
    info: DatasetInfo
    output: Path
    options: PredictOptions
    rules: Any


@dataclass(frozen=True)
class _LoadedRun:
    """A locked run once its networks are loaded: what segmenting and writing each case needs."""

    run: _LockedRun
    models: dict[str, list[LoadedModel]]
    settings: InferenceSettings
    record: dict[str, Any]  # the "settings" of every case this run predicts (prediction_report.json)
    ledger: PredictionLedger
    dicom_seg: Any  # a DICOM-SEG writer when the output format asks for one


def _predict_locked(run: _LockedRun, cases: list) -> dict[str, Any]:
    options, output = run.options, run.output
    # Checked before the models load: an unreadable report, and files in the way that no earlier run of this
    # tool reported (whether a reported case can be reused needs the settings, so the models, below).
    previous = previous_cases(output / REPORT_NAME)
    _refuse_overwrite(
        output,
        [c for c in cases if c.case_id not in previous],
        options.overwrite,
        options.save_probabilities,
        options.output_format,
    )
    loaded, compiled = _load_networks(run, len(cases))
    # A case this command already finished (same settings, same input files) is kept: a killed run resumes.
    reused = [] if options.overwrite else [c for c in cases if loaded.ledger.reusable(c, output)]
    todo = [c for c in cases if c.case_id not in {r.case_id for r in reused}]
    _refuse_overwrite(
        output,
        [c for c in todo if not loaded.ledger.ours_unfinished(c)],
        options.overwrite,
        options.save_probabilities,
        options.output_format,
    )
    log.info(
        "predicting %d case(s) with %s (folds %s, %s), TTA %s%s",
        len(todo),
        run.source.names,
        loaded.record["folds"],
        options.checkpoint,
        "on" if options.tta else "off",
        f", postprocessing {run.rules}" if run.rules else "",
    )
    if reused:
        log.info("reusing %d case(s) this command already predicted into %s", len(reused), output)
    output.mkdir(parents=True, exist_ok=True)
    remove_partial_writes(output)  # a killed run's half-written files; the folder is locked
    loaded.ledger.mark_pending(todo)
    records = {c.case_id: loaded.ledger.entries[c.case_id] for c in reused}
    started = time.monotonic()
    _predict_cases(loaded, todo, records)
    report = {
        "configurations": run.source.names,
        "tta": options.tta,
        "postprocessing": run.rules,
        "cases": records,
        "compiled": compiled,
        "seconds_per_case": round((time.monotonic() - started) / max(1, len(todo)), 3),
    }
    loaded.ledger.finish(report)
    log.info("wrote %d segmentation(s) to %s (%.2f s per case)", len(todo), output, report["seconds_per_case"])
    return report


def _load_networks(run: _LockedRun, cases: int) -> tuple[_LoadedRun, bool]:
    """The run's networks (compiled when its options say so: True then), its settings record and its ledger."""
    options, source = run.options, run.source
    settings = InferenceSettings(
        tta=options.tta,
        step=options.step,
        backend=options.backend,
        tta_axes=tuple(options.tta_axes) if options.tta_axes is not None else None,
    )
    models = load_backend_models(source, settings, options.device, options.precision)
    compiled = compile_models(source.work, models, options.compile_mode, cases) if options.backend == "torch" else False
    used_folds = {n: [m.fold for m in ms] for n, ms in models.items()}
    record = {
        "configurations": source.names,
        "folds": used_folds,
        "checkpoint": options.checkpoint,
        "tta": options.tta,
        "postprocessing": run.rules,
        "step": options.step,
        "precision": settings.precision,
        **({"backend": options.backend} if options.backend != "torch" else {}),
        **({"tta_axes": list(settings.tta_axes)} if settings.tta_axes is not None else {}),
        **({"output_format": options.output_format} if options.output_format != "nifti" else {}),
    }
    dicom_seg = seg_writer(options.output_format, source.plans, source.work)
    ledger = PredictionLedger(run.output / REPORT_NAME, record, options.save_probabilities)
    return _LoadedRun(run, models, settings, record, ledger, dicom_seg), compiled


def _predict_cases(loaded: _LoadedRun, todo: list, records: dict[str, Any]) -> None:
    """Segment `todo` in turn while two threads write the files; a case is recorded once its files are written."""
    with ThreadPoolExecutor(2) as writer:
        pending = []
        for case in tqdm(todo, desc="predict", disable=not loaded.run.options.progress):
            pending.append((case, _predict_one(loaded, case, records, writer)))
            while pending and all(job.done() for job in pending[0][1]):
                _record_written(loaded.ledger, records, *pending.pop(0))
        for case, jobs in pending:
            _record_written(loaded.ledger, records, case, jobs)


def _predict_one(loaded: _LoadedRun, case, records: dict[str, Any], writer: ThreadPoolExecutor) -> list:
    """Segment one case, put its entry in `records` and submit its file writes (the futures returned)."""
    run, options, plans = loaded.run, loaded.run.options, loaded.run.source.plans
    t0 = time.monotonic()
    image, geometry = read_input_case(case, run.info)
    refuse_non_finite(image, getattr(case, "image_files", None))  # refused, not replaced: data/finite.py
    probabilities, seg = segment_case(
        image, geometry, plans, run.source.names, loaded.models, loaded.settings, rules=run.rules
    )
    spread = label_manager(plans).uncertainty(probabilities, seg)
    records[case.case_id] = {"seconds": round(time.monotonic() - t0, 3), **spread, "settings": loaded.record}
    jobs = submit_label_writes(
        writer, seg, geometry, case, run.output, output_format=options.output_format, writer=loaded.dicom_seg
    )
    npz = run.output / f"{case.case_id}.npz"
    if options.save_probabilities:
        jobs.append(writer.submit(save_probability_file, npz, probabilities))
    elif options.overwrite and npz.exists():
        # Probabilities from the replaced run would contradict this label map.
        npz.unlink()
        log.info("removed %s.npz: it belonged to the replaced prediction", case.case_id)
    return jobs


def compile_models(work: Path, models: dict[str, list[LoadedModel]], setting: str, cases: int) -> bool:
    """Wrap every loaded network in CompiledNetwork when `setting` (auto, on, off) says so (True then)."""
    from autoseg.inference.compiled import CompiledNetwork, trained_compiled, use_inference_compile

    trained = [
        trained_compiled(model_dir(work, name, m.fold) / TRAINING_SUMMARY) for name, ms in models.items() for m in ms
    ]
    if not use_inference_compile(setting, trained, cases):
        return False
    for ms in models.values():
        for m in ms:
            m.network = CompiledNetwork(m.network)
    log.info(
        "networks compiled for prediction (--compile %s, %d case(s)): the first case includes the compile",
        setting,
        cases,
    )
    return True


def _record_written(ledger: PredictionLedger, records: dict[str, Any], case, jobs) -> None:
    """A case's entry is completed only once its files are on disk (a failed write raises here)."""
    for job in jobs:
        job.result()
    ledger.mark_done(case, records[case.case_id])


def _models(source: ModelSource, name: str, device, loader=load_model) -> list[LoadedModel]:
    """Folds the user named are loaded as named (a missing one is an error); folds find-best chose are kept
    where they have `checkpoint`."""
    work, checkpoint, folds = source.work, source.checkpoint, source.chosen_folds
    config = source.plans.configuration(name)
    trained = trained_folds(work, name, checkpoint)
    explicit = bool(source.folds)
    chosen = folds if folds and explicit else [f for f in trained if not folds or f in {str(x) for x in folds}]
    if not chosen:
        raise AutosegError(
            f"configuration '{name}' has no trained fold with {checkpoint}",
            work / MODELS / name,
            f"train it (autoseg train {work} -c {name} -f 0), or pass another --checkpoint or configuration (-c)",
        )
    # a checkpoint is checked against its configuration before its network is allocated (checkpoint_checks.py)
    load = partial(load_model, expected=config) if loader is load_model else loader
    return [load(work, name, f, device, checkpoint) for f in chosen]


def segment_case(
    image: np.ndarray, geometry, plans: Plans, names: list[str], models, settings, *, rules
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, label map) of one raw image (C, Z, Y, X) on its own grid: the ensemble of `names`, labels
    by argmax (or by regions_class_order for regions), then the postprocessing `rules`. `autoseg predict` and
    autoseg.Predictor both call this, so they give the same labels."""
    probabilities = _ensemble(image, geometry, plans, names, models, settings)
    seg = apply_postprocessing(label_manager(plans).label_map(probabilities), rules)
    return probabilities, seg


def _ensemble(image, geometry, plans: Plans, names: list[str], models, settings) -> np.ndarray:
    return mean_in_place(_configuration_probabilities(image, geometry, plans, name, models, settings) for name in names)


def _configuration_probabilities(image, geometry, plans: Plans, name: str, models, settings) -> np.ndarray:
    """One configuration's probabilities; a cascade runs its previous stage first."""
    config = plans.configuration(name)
    extra = None
    if config.previous_stage:
        previous = plans.configuration(config.previous_stage)
        low, _ = predict_case(image, geometry, plans, previous, models[config.previous_stage], settings)
        seg = label_manager(plans).label_map(low)
        del low  # K full-size maps: gone before the full-resolution stage allocates its own
        extra = partial(cascade_channels, seg, plans=plans, config=config)
    return predict_case(image, geometry, plans, config, models[name], settings, extra_channels=extra)[0]


def cascade_channels(seg: np.ndarray, properties: dict[str, Any], plans: Plans, config) -> np.ndarray:
    """The previous stage's segmentation on this configuration's preprocessed grid (the case's `properties`),
    one uint8 0/1 channel per foreground class (or its region masks, when the plan trains regions)."""
    grid = label_on_preprocessed_grid(seg, properties, plans, config)
    return label_manager(plans).cascade_channels(grid, np.uint8)


def _refuse_overwrite(
    output: Path, cases, overwrite: bool, save_probabilities: bool = False, output_format: str = "nifti"
) -> None:
    """Without --overwrite, no file this run would write may exist already: label maps, and .npz probabilities
    when they are saved (a user's earlier probabilities are as much theirs as the label maps)."""
    if overwrite or not output.exists():
        return
    targets = [f for c in cases for f in output_files(c, output, output_format)]
    if save_probabilities:
        targets += [output / f"{c.case_id}.npz" for c in cases]
    clashes = [target for target in targets if target.exists()]
    if clashes:
        raise AutosegError(
            f"{len(clashes)} file(s) this prediction would write already exist in the output folder, "
            f"e.g. {clashes[0].name}",
            output,
            "choose another output folder or pass --overwrite",
        )
