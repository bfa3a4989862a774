"""The values `autoseg predict` passes between its steps instead of long positional lists (issue 28): what the
user chose (PredictOptions) and which trained networks to load (ModelSource)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoseg.layout.work import CHECKPOINT_FINAL
from autoseg.schema.plans import Plans


@dataclass(frozen=True)
class PredictOptions:
    """Every choice of one predict run besides its folders; the defaults are predict()'s (inference/run.py)."""

    configurations: list[str] | None = None  # None: find-best's choice (inference.json), else the best single
    folds: list[str] | None = None  # None: the selection's folds, else exactly these
    tta: bool = True
    save_probabilities: bool = False
    device: str = "auto"
    overwrite: bool = False
    checkpoint: str = CHECKPOINT_FINAL
    postprocessing: bool = True
    step: float = 0.5  # sliding-window step, a fraction of the patch
    progress: bool = True
    precision: str = "auto"
    tta_axes: tuple[int, ...] | None = None  # None: all of the plan's mirror axes
    compile_mode: str = "auto"
    backend: str = "torch"
    output_format: str = "nifti"


@dataclass(frozen=True)
class ModelSource:
    """Where the networks come from: a WORK or model folder, its plan, the selection (find-best's choice or the
    named configurations), the folds the user named (None: the selection's) and the checkpoint file."""

    work: Path
    plans: Plans
    selection: dict[str, Any]
    configurations: list[str] | None
    folds: list[str] | None
    checkpoint: str

    @property
    def names(self) -> list[str]:
        """The configurations whose ensemble segments (without the cascade's previous stages)."""
        return list(self.selection["configurations"])

    @property
    def chosen_folds(self) -> list[str] | None:
        """The folds named, else find-best's cross-validated folds when it chose (not a later 'all' run or a fold
        it never scored), else None (every trained fold)."""
        return self.folds or (self.selection.get("folds") if not self.configurations else None)
