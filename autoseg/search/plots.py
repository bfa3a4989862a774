"""The study's plots as PNG (matplotlib on an Agg canvas; the global backend is left alone):
- history.png: every trial's validation Dice (pruned trials at their last smoothed pseudo-Dice) and the best so
  far, against the trial number;
- intermediate.png: the intermediate values each trial reported, pruned trials in grey.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from autoseg.utils.files import atomic_write

TrialState = optuna.trial.TrialState


def plot_history(trials: list[optuna.trial.FrozenTrial], path: Path) -> Path:
    figure, axes = _figure()
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.number)
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    if complete:
        axes.scatter(
            [t.number for t in complete],
            [t.value for t in complete],
            color="tab:blue",
            zorder=3,
            label="validation Dice (completed)",
        )
        best, running = [], float("-inf")
        for t in complete:
            running = max(running, t.value)
            best.append(running)
        axes.step([t.number for t in complete], best, where="post", color="tab:red", label="best so far")
    if pruned:
        axes.scatter(
            [t.number for t in pruned],
            [_last(t) for t in pruned],
            marker="x",
            color="grey",
            label="pruned (last smoothed pseudo-Dice)",
        )
    axes.set_xlabel("trial")
    axes.set_ylabel("Dice")
    axes.set_title("optimisation history")
    if complete or pruned:
        axes.legend(loc="lower right")
    return _save(figure, path)


def plot_intermediate(trials: list[optuna.trial.FrozenTrial], path: Path) -> Path:
    figure, axes = _figure()
    for t in sorted(trials, key=lambda t: t.number):
        if not t.intermediate_values:
            continue
        steps = sorted(t.intermediate_values)
        done = t.state == TrialState.COMPLETE
        axes.plot(
            steps,
            [t.intermediate_values[s] for s in steps],
            color=None if done else "grey",
            alpha=1.0 if done else 0.5,
            linewidth=1.5 if done else 1.0,
            label=f"trial {t.number}" if done else None,
        )
    axes.set_xlabel("step (epoch, or twentieth of the trial's time budget)")
    axes.set_ylabel("smoothed pseudo-Dice")
    axes.set_title("intermediate values (grey: pruned or unfinished)")
    if any(t.state == TrialState.COMPLETE and t.intermediate_values for t in trials):
        axes.legend(loc="lower right", fontsize="small", ncol=2)
    return _save(figure, path)


def _last(trial: optuna.trial.FrozenTrial) -> float:
    return trial.intermediate_values[max(trial.intermediate_values)]


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.grid(alpha=0.3)
    return figure, axes


def _save(figure, path: Path) -> Path:
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=80), suffix=".png")
