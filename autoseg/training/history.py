"""The record of a run: one JSON entry per epoch (history.json) and curves.png (loss, pseudo-Dice, lr)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoseg.utils.files import atomic_write, write_json


def save_history(folder: Path, epochs: list[dict[str, Any]]) -> None:
    write_json(folder / "history.json", epochs)


def plot_curves(folder: Path, epochs: list[dict[str, Any]]) -> None:
    if not epochs:
        return
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    x = [e["epoch"] for e in epochs]
    figure = Figure(figsize=(10, 7))
    FigureCanvasAgg(figure)
    top, middle, bottom = figure.subplots(3, 1, sharex=True)
    top.plot(x, [e["train_loss"] for e in epochs], label="train loss")
    if any(e.get("val_loss") is not None for e in epochs):
        top.plot(x, [e.get("val_loss") for e in epochs], label="validation loss")
    top.set_ylabel("loss")
    top.legend(loc="upper right")
    middle.plot(x, [e.get("pseudo_dice") for e in epochs], label="pseudo-Dice (validation patches)", alpha=0.5)
    middle.plot(x, [e.get("pseudo_dice_ema") for e in epochs], label="smoothed (picks best checkpoint)")
    middle.set_ylabel("Dice")
    middle.legend(loc="lower right")
    bottom.plot(x, [e["lr"] for e in epochs])
    bottom.set_ylabel("learning rate")
    bottom.set_xlabel("epoch")
    figure.tight_layout()
    atomic_write(folder / "curves.png", lambda tmp: figure.savefig(tmp, format="png", dpi=80), suffix=".png")
