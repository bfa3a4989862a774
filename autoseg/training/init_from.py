"""`train --init-from model.zip|MODEL_DIR|WORK|checkpoint.pt`: start from another model's weights.

Every weight whose name and shape match is copied; the rest keep their fresh initialisation (a first convolution
for another channel count, output layers for other classes). What matched is logged and written to
fold_k/init_from.json (plain JSON beside the weights, so a resumed run still reports it in training_summary.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from autoseg.errors import AutosegError
from autoseg.layout.archive import check_zip, read_member
from autoseg.layout.model_folder import check_model_folder
from autoseg.layout.work import CHECKPOINT_FINAL, MODEL_CARD
from autoseg.utils.files import read_json, write_json
from autoseg.utils.logs import get_logger
from autoseg.utils.torch_files import safe_torch_load

log = get_logger("train")
RECORD = "init_from.json"


def check_init_source(source: str | Path, continuing: bool) -> Path:
    """Refused before any output is written: a missing source, or one given to a run that continues (its own
    checkpoint holds the weights)."""
    source = Path(source)
    if continuing:
        raise AutosegError(
            "--init-from starts a new run; --resume/--extend continue one from its own checkpoint",
            source,
            "drop --init-from (the run keeps the weights it started from)",
        )
    if not source.exists():
        raise AutosegError(
            "--init-from source not found", source, "pass a model zip, a model or WORK folder, or a checkpoint_*.pt"
        )
    return source


def source_weights(source: str | Path, configuration: str) -> tuple[dict[str, torch.Tensor], str]:
    """(weights, where they came from): a checkpoint file, or from a model (zip, folder or WORK) the fold with
    the lowest number of the same configuration (else of its first configuration)."""
    source = Path(source)
    if source.is_file() and source.suffix == ".pt":
        return _weights(safe_torch_load(source), source), str(source)
    if source.is_file():
        members = {m.filename: m for m in check_zip(source)}
        name = _choose(sorted(n for n in members if n.endswith(CHECKPOINT_FINAL)), configuration, source)
        return _weights(
            safe_torch_load(read_member(source, members[name]), f"{source}:{name}"), source
        ), f"{source}:{name}"
    if (source / MODEL_CARD).is_file():
        check_model_folder(source)
    found = sorted(p.relative_to(source).as_posix() for p in source.glob(f"models/*/fold_*/{CHECKPOINT_FINAL}"))
    name = _choose(found, configuration, source)
    return _weights(safe_torch_load(source / name), source / name), str(source / name)


def _choose(names: list[str], configuration: str, source: Path) -> str:
    if not names:
        raise AutosegError(
            f"no trained model ({CHECKPOINT_FINAL}) in the --init-from source",
            source,
            "pass a model with at least one trained fold, or a checkpoint_*.pt",
        )
    same = [n for n in names if n.split("/")[1] == configuration]
    return (same or names)[0]


def _weights(state: Any, source: Path) -> dict[str, torch.Tensor]:
    if not isinstance(state, dict) or not isinstance(state.get("weights"), dict):
        raise AutosegError(
            "not an autoseg checkpoint (no weights)",
            source,
            "pass a checkpoint written by 'autoseg train' or a model from 'autoseg export'",
        )
    return state["weights"]


def initialise_from(
    network: torch.nn.Module, source: str | Path, configuration: str, out: Path, write: bool = True
) -> dict[str, Any]:
    """Copy matching weights into `network`; returns (and with `write`, saves) the record of what matched."""
    weights, origin = source_weights(source, configuration)
    own = network.state_dict()
    matched = {k: v for k, v in weights.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    network.load_state_dict(matched, strict=False)
    record = {
        "source": origin,
        "matched": len(matched),
        "total": len(own),
        "matched_values": int(sum(v.numel() for v in matched.values())),
        "total_values": int(sum(v.numel() for v in own.values())),
        "reinitialised": [k for k in own if k not in matched],
        "unused_from_source": [k for k in weights if k not in matched],
    }
    log.info(
        "init-from %s: %d of %d tensors matched (%.1f%% of the values); re-initialised: %s",
        origin,
        record["matched"],
        record["total"],
        100 * record["matched_values"] / max(1, record["total_values"]),
        ", ".join(record["reinitialised"]) or "none",
    )
    if write:
        write_json(out / RECORD, record)
    return record


def init_from_record(out: Path) -> dict[str, Any]:
    """{"init_from": record} for training_summary.json when the run started from another model, else {}."""
    return {"init_from": read_json(out / RECORD, RECORD)} if (out / RECORD).is_file() else {}
