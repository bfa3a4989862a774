"""`autoseg export WORK -o model.zip|MODEL_DIR`: what prediction needs and nothing of the training data.

The model gets a WORK folder's layout -- plans.json (the exported configurations only, no dataset path),
inference.json (configurations and postprocessing, as find-best chose or as named), and
models/<configuration>/fold_<k>/checkpoint_final.pt holding only the weights and network of that fold (no
optimizer, no history) -- plus the model card (model.json with every file's sha256, README.md). Which folds go in
follows `autoseg predict WORK`'s own rule, so predicting from the export gives the same label maps.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from autoseg.errors import AutosegError
from autoseg.inference.run import default_selection
from autoseg.layout.archive import write_zip
from autoseg.layout.work import (
    CHECKPOINT_FINAL,
    INFERENCE,
    MODEL_CARD,
    MODELS,
    PLANS,
    README,
    TRAINING_SUMMARY,
    fold_file,
    model_dir,
    trained_folds,
    weights_path,
)
from autoseg.schema.plans import Plans, load_plans, plans_to_dict
from autoseg.sharing.model_card import build_card, file_digests, fold_record, readme
from autoseg.training.checkpoint import FORMAT
from autoseg.utils.files import atomic_write, write_json
from autoseg.utils.logs import get_logger
from autoseg.utils.owned import mark_owned, remove_owned
from autoseg.utils.torch_files import safe_torch_load

log = get_logger("export")
NO_DATASET = "(not included in an exported model)"
# What a fold's checkpoint keeps in an export: enough to build and run the network, nothing to resume training.
_KEPT = ("weights", "network_spec", "configuration", "epoch", "iteration")


def export_model(
    work: str | Path,
    output: str | Path,
    configurations: list[str] | None = None,
    folds: list[str] | None = None,
    checkpoint: str = CHECKPOINT_FINAL,
    overwrite: bool = False,
    onnx: bool = False,
) -> Path:
    """Write the model of WORK to `output` (a .zip file, or else a new folder); returns its path. `onnx`: each
    network also as an ONNX graph (sharing/onnx_export.py), for `predict --backend onnxruntime` without torch."""
    work, output = Path(work), Path(output)
    plans = load_plans(work)
    if output.exists() and not overwrite:
        raise AutosegError("output already exists", output, "choose another path or pass --overwrite")
    if configurations:
        selection: dict[str, Any] = {"configurations": list(configurations), "postprocessing": None, "named": True}
    else:
        selection = default_selection(work, plans, checkpoint)
    chosen = choose_folds(work, plans, selection, configurations, folds, checkpoint)
    staging = Path(tempfile.mkdtemp(prefix=".export.", dir=output.parent if output.parent.exists() else None))
    try:
        _write_model(work, plans, selection, chosen, checkpoint, staging, onnx)
        if output.suffix.lower() == ".zip":
            write_zip(staging, output)
        else:
            if output.exists():
                # only an earlier exported model (marked, or recognised by its model card) is replaced
                remove_owned(
                    output, "this exported model folder", protected=[work], legacy=lambda f: (f / MODEL_CARD).is_file()
                )
            shutil.move(str(staging), str(output))
            mark_owned(output, "autoseg export")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _readable(output)
    log.info("exported %s (folds %s) to %s", selection["configurations"], chosen, output)
    return output


def _readable(output: Path) -> None:
    """Atomic writes create private (0600) files; a model is made to be shared, so it is world-readable."""
    for path in [output, *(output.rglob("*") if output.is_dir() else [])]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def choose_folds(
    work: Path, plans: Plans, selection: dict[str, Any], configurations, folds, checkpoint: str
) -> dict[str, list[str]]:
    """Per configuration (cascade stages included), the folds `autoseg predict WORK` would load with the same
    options (inference/run.py load_selected_models): named folds must exist, find-best's folds filter."""
    wanted = folds or (selection.get("folds") if not configurations else None)
    names = list(selection["configurations"])
    for name in list(names):
        previous = plans.configuration(name).previous_stage
        if previous and previous not in names:
            names.append(previous)
    chosen = {}
    for name in names:
        plans.configuration(name)
        trained = trained_folds(work, name, checkpoint)
        if folds:
            missing = [str(f) for f in folds if str(f) not in trained]
            if missing:
                raise AutosegError(
                    f"configuration '{name}' has no {checkpoint} for fold(s) {missing}",
                    work / MODELS / name,
                    f"train them, or export the trained folds {trained}",
                )
            chosen[name] = [str(f) for f in folds]
        else:
            chosen[name] = [f for f in trained if not wanted or f in {str(x) for x in wanted}]
        if not chosen[name]:
            raise AutosegError(
                f"configuration '{name}' has no trained fold with {checkpoint}",
                work / MODELS / name,
                f"train it (autoseg train {work} -c {name} -f 0), or pass --checkpoint/-c",
            )
    return chosen


def _write_model(
    work: Path,
    plans: Plans,
    selection: dict[str, Any],
    chosen: dict[str, list[str]],
    checkpoint: str,
    folder: Path,
    onnx: bool = False,
) -> None:
    write_json(folder / PLANS, exported_plans(plans, list(chosen)))
    write_json(
        folder / INFERENCE,
        {**{k: v for k, v in selection.items() if k not in ("folds", "named")}, "exported_folds": chosen},
    )
    names = [PLANS, INFERENCE]
    for name, fold_list in chosen.items():
        for fold in fold_list:
            source = model_dir(work, name, fold)  # names from plans/inference.json: checked before use
            state = safe_torch_load(source / checkpoint)
            record = fold_record(source)
            slim = {
                **{k: state[k] for k in _KEPT if k in state},
                "format": FORMAT,
                # a plain field: the precision the network trained in, which predict runs it at by default
                "precision": record.get("precision"),
            }
            target = folder / weights_path(name, fold)
            atomic_write(target, lambda tmp, s=slim: torch.save(s, tmp), suffix=".pt")
            names.append(weights_path(name, fold))
            if record:  # predict reads the training precision from here, as in a WORK folder
                summary = fold_file(name, fold, TRAINING_SUMMARY)
                write_json(folder / summary, record)
                names.append(summary)
    card = build_card(work, plans, selection, chosen, checkpoint)
    if onnx:
        from autoseg.sharing.onnx_export import export_onnx_networks

        card["onnx"] = export_onnx_networks(folder, plans, chosen, weights_path)
        names += list(card["onnx"])
    (folder / README).write_text(readme(card))
    card["files"] = file_digests(folder, names + [README])
    write_json(folder / MODEL_CARD, card)


def exported_plans(plans: Plans, names: list[str]) -> dict[str, Any]:
    """plans.json with only the exported configurations, and without the local dataset path."""
    data = plans_to_dict(plans)
    data["dataset_path"] = NO_DATASET
    data["configurations"] = {n: c for n, c in data["configurations"].items() if n in names}
    # plans.json refuses a reference to a configuration it lacks, so links out of the model are dropped.
    for config in data["configurations"].values():
        for link in ("next_stage", "variant_of"):
            if config.get(link) not in names:
                config[link] = None
    return data
