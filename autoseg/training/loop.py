"""`autoseg train`: one configuration, one fold, within a time budget or a number of epochs.

The loop is short on purpose; its parts are plain objects chosen from the plan: the network (registry), the
loss (losses.py), the batches (sampling + augmentation in background processes), the optimiser and the
learning-rate schedule laid over the budget. Every epoch: patch-based validation (pseudo-Dice), a JSON record,
curves.png and checkpoint_latest.pt; at the end: checkpoint_final.pt and full-image validation.
"""
from __future__ import annotations

import resource
from contextlib import nullcontext
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from autoseg.errors import AutosegError
from autoseg.inference.models import LoadedModel, model_dir
from autoseg.inference.precision import inference_precision
from autoseg.inference.predictor import InferenceSettings
from autoseg.networks import build_network
from autoseg.planning.budget import detect_device, training_threads
from autoseg.preprocessing.cache import cache_dir
from autoseg.schema.convert import to_dict
from autoseg.schema.plans import Configuration, Plans, load_plans
from autoseg.training import distributed
from autoseg.training.checkpoint import (BEST, FINAL, LATEST, load_checkpoint, rng_state, save_checkpoint,
                                         set_rng_state)
from autoseg.training.compiled import TrainingForward, use_compile
from autoseg.training.dataset import add_previous_stage, load_cases, out_of_fold_predictions
from autoseg.training.history import plot_curves, save_history
from autoseg.training.init_from import check_init_source, init_from_record, initialise_from
from autoseg.training.loader import choose_workers, make_train_loader, make_val_loader
from autoseg.training.losses import DeepSupervisionLoss
from autoseg.training.nonfinite_guard import NonFiniteGuard, finite_mean
from autoseg.training.optim import WeightAverage, build_optimizer
from autoseg.training.precision import PRECISIONS, autocast, choose_precision
from autoseg.training.schedule import learning_rate
from autoseg.training.validation import confusion_counts, pseudo_dice, validate_full_images
from autoseg.utils.durations import format_duration, parse_duration
from autoseg.schema.splits_file import read_splits
from autoseg.utils.files import read_json, remove_partial_writes, write_json
from autoseg.utils.locks import output_lock
from autoseg.utils.logs import get_logger, log_to_file, remove_handler
from autoseg.utils.owned import mark_owned, remove_owned

log = get_logger("train")

# curves.png is redrawn at most this often (and at the end): drawing takes ~0.2 s, a tenth of a short epoch.
PLOT_EVERY_S = 30.0


@dataclass
class Budget:
    """Either seconds of training wall time or a number of epochs; progress in [0, 1] drives the schedule."""
    seconds: float | None
    epochs: int | None

    def progress(self, elapsed: float, epoch_float: float) -> float:
        if self.seconds:
            return elapsed / self.seconds
        return epoch_float / self.epochs

    def done(self, elapsed: float, epoch: int) -> bool:
        return elapsed >= self.seconds if self.seconds else epoch >= self.epochs

    def describe(self) -> str:
        return f"time budget {format_duration(self.seconds)}" if self.seconds else f"{self.epochs} epochs"


def train(work: str | Path, configuration: str, fold: int | str = 0, *, time_budget: str | float | None = None,
          epochs: int | None = None, device: str = "auto", resume: bool = False, extend: bool = False,
          overwrite: bool = False, deterministic: bool = False, workers: str | int | None = None,
          validate: bool = True, save_probabilities: bool = True, progress: bool = True,
          plans: Plans | None = None, report_epoch=None, validation_tta: bool = True,
          init_from: str | Path | None = None, on_epoch=None) -> dict[str, Any]:
    """Train and validate one fold; returns the run summary (also written to fold_k/training_summary.json).

    `validation_tta`: mirror test-time augmentation in the full-image validation (the search turns it off: it
    multiplies validation time by up to 8 for a few thousandths of Dice that every trial would gain alike).
    `report_epoch(epoch, pseudo_dice_ema)` is called after every epoch (the search uses it for pruning); it may
    raise to stop the run. `on_epoch(record)` receives each epoch's JSON record (a copy of its history.json
    entry: losses, pseudo-Dice and its EMA, lr, iterations/s, epoch, elapsed) on rank 0, after the epoch's
    checkpoint is written (experiment tracking). `init_from`: a model or checkpoint whose matching weights start
    the run (init_from.py).
    """
    work = Path(work)
    plans = plans or load_plans(work)
    config = plans.configuration(configuration)
    fold = _check_fold(work, str(fold))
    workers = _check_workers(workers)
    if config.previous_stage:  # before the fold folder is made: a missing previous-stage fold leaves nothing behind
        out_of_fold_predictions(work, plans, config, [c for ids in _fold_cases(work, fold) for c in ids])
    if overwrite and (resume or extend):
        raise AutosegError("--overwrite deletes the run that --resume/--extend would continue",
                           model_dir(work, configuration, fold), "pass only one of them")
    if init_from:
        check_init_source(init_from, resume or extend)
    out = model_dir(work, configuration, fold)
    kind = detect_device(device)
    rank, world = distributed.setup(kind)
    # One writer per fold folder: a second training of this fold is refused naming the first (issue 20).
    with output_lock(out, "training fold") if rank == 0 else nullcontext():
        if rank == 0:
            _prepare_output(out, resume, extend, overwrite)
            remove_partial_writes(out)  # a killed run's half-written checkpoint
        distributed.barrier()
        handler = log_to_file(out / "train.log") if rank == 0 else None
        try:
            return _run(work, plans, config, fold, out, kind, rank, world, time_budget, epochs, resume, extend,
                        deterministic, workers, validate, save_probabilities, progress and rank == 0, report_epoch,
                        validation_tta, init_from, on_epoch)
        finally:
            if handler:
                remove_handler(handler)


def _check_fold(work: Path, fold: str) -> str:
    """Checked before anything is written, so a mistyped fold leaves no stray fold_x folder behind."""
    if fold.lower() == "all":
        return "all"
    splits = read_splits(work / "splits.json")
    if not fold.isdigit() or int(fold) >= len(splits):
        raise AutosegError(f"fold '{fold}' does not exist (splits.json has {len(splits)} folds)",
                           work / "splits.json", f"use -f 0..{len(splits) - 1}, several as -f 0 1 2, or -f all")
    return str(int(fold))


def _check_workers(workers):
    if workers is None or workers == "auto":
        return workers
    try:
        count = int(workers)
    except (TypeError, ValueError):
        count = -1
    if count < 0:
        raise AutosegError(f"--workers must be a whole number >= 0 or 'auto', not '{workers}'",
                           fix="e.g. --workers 1 (0 augments in the training process)")
    return count


def _interrupted_extension(out: Path) -> bool:
    """An --extend that was killed leaves a checkpoint_latest.pt newer than checkpoint_final.pt."""
    final, latest = out / FINAL, out / LATEST
    return final.exists() and latest.exists() and latest.stat().st_mtime > final.stat().st_mtime


def _prepare_output(out: Path, resume: bool, extend: bool, overwrite: bool) -> None:
    final, latest = out / FINAL, out / LATEST
    if overwrite and out.exists():
        # a fold trained before the ownership marker existed is recognised by its training files
        remove_owned(out, "this fold's folder", protected=[out.parent.parent], legacy=_is_fold_folder)
    elif resume and _interrupted_extension(out):
        pass
    elif extend:
        if not final.exists():
            raise AutosegError("--extend needs a finished run (checkpoint_final.pt)", out,
                               "use --resume to continue an unfinished run")
    elif final.exists():
        raise AutosegError("this fold is already trained", final,
                           "pass --extend with --time-budget/--epochs to train it further, or --overwrite to "
                           "start again (the old model is deleted)" + (
                               "; --resume continues a killed --extend only" if resume else ""))
    elif latest.exists() and not resume:
        raise AutosegError("an unfinished run exists in this folder", latest,
                           "pass --resume to continue it, or --overwrite to start again")
    elif resume and not latest.exists():
        raise AutosegError("nothing to resume: no checkpoint_latest.pt", out, "start the run without --resume")
    mark_owned(out, f"autoseg train (models/{out.parent.name}/{out.name})")


def _is_fold_folder(folder: Path) -> bool:
    return any(folder.glob("checkpoint_*.pt")) or (folder / "training_summary.json").is_file()


def _fold_cases(work: Path, fold: str) -> tuple[list[str], list[str]]:
    splits = read_splits(work / "splits.json")
    if fold == "all":
        # Every training case of the dataset (the fingerprint lists them), not one fold's: a user's splits file
        # need not cover every case in each fold.
        ids = {c for f in splits for c in f["train"] + f["val"]}
        if (work / "fingerprint.json").is_file():
            ids |= {c["case_id"] for c in read_json(work / "fingerprint.json", "fingerprint")["cases"]}
        return sorted(ids), []
    k = int(_check_fold(work, fold))
    return splits[k]["train"], splits[k]["val"]


def _run(work, plans, config: Configuration, fold, out, kind, rank, world, time_budget, epochs, resume, extend,
         deterministic, workers, validate, save_probabilities, progress, report_epoch,
         validation_tta: bool = True, init_from=None, on_epoch=None) -> dict[str, Any]:
    tplan = config.training
    seed = tplan.seed + 1000 * rank
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device("cuda", torch.cuda.current_device()) if kind == "cuda" else torch.device("cpu")
    if kind == "cpu":
        torch.set_num_threads(max(1, training_threads() // world))
    train_ids, val_ids = _fold_cases(work, fold)
    folder = cache_dir(work, config)
    train_cases = load_cases(folder, train_ids)
    val_cases = load_cases(folder, val_ids) if val_ids else []
    if config.previous_stage:
        add_previous_stage(train_cases + val_cases, work, plans, config)
    model = build_network(config.network, seed=tplan.seed).to(device)
    if init_from:
        initialise_from(model, init_from, config.name, out, write=rank == 0)
    channels_last = _use_channels_last(tplan.channels_last, kind, config.spatial_dims)
    memory_format = torch.channels_last_3d if config.spatial_dims == 3 else torch.channels_last
    if channels_last:
        model = model.to(memory_format=memory_format)
    optimizer = build_optimizer(model, tplan)
    average = WeightAverage(model, tplan.weight_averaging) if tplan.weight_averaging > 0 else None
    loss_fn = DeepSupervisionLoss(tplan.loss, model.output_scales, tplan.batch_dice, tplan.deep_supervision_levels,
                                  plans.ignore_label, list(plans.regions.values()) if plans.regions else None)

    state: dict[str, Any] = {"epoch": 0, "iteration": 0, "elapsed": 0.0, "history": [], "best_ema": -1.0,
                             "ema": None}
    budget = _budget(tplan, time_budget, epochs)
    if resume or extend:
        checkpoint = load_checkpoint(out / (FINAL if extend else LATEST))
        model.load_state_dict(checkpoint["train_weights"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if average is not None and checkpoint.get("average_weights") is not None:
            average.model.load_state_dict(checkpoint["average_weights"])
        state.update({k: checkpoint[k] for k in ("epoch", "iteration", "elapsed", "history", "best_ema", "ema")})
        set_rng_state(checkpoint["rng"])
        old = Budget(**checkpoint["budget"])
        if extend:
            budget = _extended(old, state, time_budget, epochs)
        elif time_budget is None and epochs is None:
            budget = old
        log.info("%s from epoch %d (%.0f s trained); %s", "extending" if extend else "resuming", state["epoch"],
                 state["elapsed"], budget.describe())
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    core = model.module if world > 1 else model
    forward = TrainingForward(model, use_compile(tplan.compile, budget.seconds,
                                                 (budget.epochs or 0) * tplan.iterations_per_epoch, deterministic))

    n_workers = choose_workers(workers if workers is not None else tplan.loader_workers, kind, config.augmentation)
    if deterministic:
        n_workers = 0
    phases = _Phases(config, train_cases, n_workers, seed + 7919 * state["epoch"])
    val_loader = make_val_loader(config, val_cases, seed + 1) if val_cases else None
    # Deterministic runs must not hinge on a timing: "auto" means fp32 there (a plan that names one is obeyed).
    setting = "fp32" if deterministic and tplan.precision == "auto" else tplan.precision
    precision = choose_precision(setting, device, core,
                                 lambda: next(phases.loader(budget.progress(state["elapsed"], state["epoch"]))
                                              )["data"].to(device))
    precision = distributed.broadcast_choice(precision, PRECISIONS)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    guard = NonFiniteGuard()
    log.info("training %s fold %s on %s (%d process(es), %d thread(s), %d loader worker(s), %s, channels-last %s, "
             "compiled %s): %d training / %d validation cases, patch %s, batch %d, %s", config.name, fold, kind,
             world, torch.get_num_threads(), n_workers, precision, channels_last, forward.is_compiled,
             len(train_cases), len(val_cases),
             config.patch_size, config.batch_size, budget.describe())

    ipe = tplan.iterations_per_epoch
    run_start = time.monotonic()
    last_plot = -PLOT_EVERY_S
    try:
        while not budget.done(state["elapsed"], state["epoch"]):
            epoch_start = time.monotonic()
            model.train()
            losses = []
            bar = tqdm(range(ipe), desc=f"epoch {state['epoch']}", disable=not progress, leave=False)
            for _ in bar:
                elapsed = distributed.broadcast_float(state["elapsed"] + time.monotonic() - epoch_start)
                if budget.seconds and elapsed >= budget.seconds:
                    break
                progress_now = budget.progress(elapsed, state["epoch"] + len(losses) / ipe)
                lr = learning_rate(tplan.schedule, tplan.learning_rate, progress_now, tplan.warmup_fraction)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                batch = next(phases.loader(progress_now))
                data = batch["data"].to(device, non_blocking=True)
                target = batch["seg"][:, 0].long().to(device, non_blocking=True)
                if channels_last:
                    data = data.contiguous(memory_format=memory_format)
                with autocast(device, precision):
                    outputs = forward(data)
                loss = loss_fn(outputs if isinstance(outputs, list) else [outputs], target)
                optimizer.zero_grad(set_to_none=True)
                if scaler:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                else:
                    loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tplan.grad_clip)
                if scaler:
                    scaler.step(optimizer)  # the scaler skips non-finite steps itself
                    scaler.update()
                elif guard.allows(grad_norm):
                    optimizer.step()
                else:
                    precision = guard.precision_after_skip(precision)
                if average is not None:
                    average.update(core)
                losses.append(float(loss.detach()))
                state["iteration"] += 1
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", lr=f"{lr:.2e}")
            bar.close()
            if not losses:
                break
            record = _validate_epoch(core if average is None else average.model, val_loader, tplan, loss_fn, device,
                                     precision, channels_last, memory_format, config.network.num_classes)
            # rank 0's clock, so every rank sees the budget spent at the same epoch
            state["elapsed"] = distributed.broadcast_float(state["elapsed"] + time.monotonic() - epoch_start)
            record.update({"epoch": state["epoch"], "train_loss": distributed.average(finite_mean(losses)),
                           "skipped_steps": guard.take_epoch_count(),
                           "lr": lr, "iterations": state["iteration"], "elapsed_s": round(state["elapsed"], 2),
                           "epoch_s": round(time.monotonic() - epoch_start, 2),
                           "iterations_per_s": round(len(losses) / max(time.monotonic() - epoch_start, 1e-9), 3)})
            if record.get("pseudo_dice") is not None:
                state["ema"] = record["pseudo_dice"] if state["ema"] is None else \
                    tplan.ema_pseudo_dice * state["ema"] + (1 - tplan.ema_pseudo_dice) * record["pseudo_dice"]
                record["pseudo_dice_ema"] = state["ema"]
            state["history"].append(record)
            state["epoch"] += 1
            if rank == 0:
                plot = time.monotonic() - last_plot >= PLOT_EVERY_S
                last_plot = time.monotonic() if plot else last_plot
                _epoch_outputs(out, state, record, core, average, optimizer, budget, config, plot)
                if on_epoch is not None:
                    on_epoch(dict(record))
            if report_epoch is not None:
                report_epoch(state["epoch"], state["ema"])

    finally:
        phases.close()  # also when report_epoch stops the run (search pruning)
    agree = distributed.ranks_agree(core)
    if rank != 0:
        return {}
    final_model = core if average is None else average.model
    plot_curves(out, state["history"])
    _save(out / FINAL, state, core, average, optimizer, budget, config)
    summary = {"configuration": config.name, "fold": fold, "device": kind, "processes": world,
               "precision": precision, "compiled": forward.is_compiled, "epochs": state["epoch"],
               "iterations": state["iteration"],
               "training_seconds": round(state["elapsed"], 1),
               "iterations_per_second": round(state["iteration"] / max(state["elapsed"], 1e-9), 3),
               "patch_size": config.patch_size, "batch_size": config.batch_size,
               "peak_ram_mb": round(_peak_ram_mb(), 1), "budget": budget.describe(), "ranks_agree": agree}
    log.info("finished: %d epochs, %d iterations in %s (%.2f it/s)", state["epoch"], state["iteration"],
             format_duration(state["elapsed"]), summary["iterations_per_second"])
    if validate and val_cases:
        started = time.monotonic()
        # The precision `predict --precision auto` will run this model in, so cross-validation scores (and
        # find-best's choices) are those of the predictions users get.
        settings = InferenceSettings(device=device, tta=validation_tta,
                                     precision=inference_precision("auto", device, [precision]))
        loaded = LoadedModel(fold, final_model.eval(), config.network)
        result = validate_full_images(work, plans, config, loaded, val_cases, out / "validation", settings,
                                      save_probabilities, progress)
        summary["validation_dice"] = result["foreground_mean"]["Dice"]
        summary["validation_dice_per_class"] = {k: v["mean"]["Dice"] for k, v in result["per_class"].items()}
        summary["validation_seconds"] = round(time.monotonic() - started, 1)
        summary["validation_tta"] = validation_tta
        log.info("full-image validation (%d cases, %s): mean foreground Dice %.4f %s", len(val_cases),
                 "mirror TTA" if validation_tta else "no TTA", summary["validation_dice"],
                 summary["validation_dice_per_class"])
    summary.update(init_from_record(out))
    summary["wall_seconds"] = round(time.monotonic() - run_start, 1)
    write_json(out / "training_summary.json", summary)
    return summary


def _budget(tplan, time_budget, epochs) -> Budget:
    if epochs is not None:
        return Budget(seconds=None, epochs=int(epochs))
    seconds = parse_duration(time_budget) if time_budget is not None else tplan.time_budget_s
    if seconds:
        return Budget(seconds=float(seconds), epochs=None)
    return Budget(seconds=None, epochs=tplan.epochs)


def _extended(old: Budget, state: dict[str, Any], time_budget, epochs) -> Budget:
    """N more epochs or T more time counted from where the run stopped, whichever way it was budgeted: a
    time-budgeted run has no epoch target to add to, and its elapsed time can overshoot its budget."""
    if epochs is not None:
        if int(epochs) <= 0:
            raise AutosegError(f"--extend --epochs must be at least 1, not {epochs}", fix="e.g. --epochs 50")
        return Budget(seconds=None, epochs=state["epoch"] + int(epochs))
    extra = parse_duration(time_budget)
    if not extra:
        raise AutosegError("--extend needs --time-budget or --epochs saying how much more to train",
                           fix="e.g. --extend --time-budget 10m")
    return Budget(seconds=max(old.seconds or 0.0, state["elapsed"]) + extra, epochs=None)


def _use_channels_last(setting: str, kind: str, dims: int) -> bool:
    if setting in ("on", "off"):
        return setting == "on"
    # Measured on CPU (oneDNN): 3D convolutions ~1.4x faster channels-last (Xeon AMX and EPYC AVX2); the ISBI
    # 2D U-Net times within noise either way on the EPYC (benchmarks/training/ablations.md).
    return kind == "cpu" and dims == 3


@torch.no_grad()
def _validate_epoch(model, val_loader, tplan, loss_fn, device, precision, channels_last, memory_format,
                    num_classes) -> dict[str, Any]:
    if val_loader is None or tplan.val_iterations <= 0:
        return {"val_loss": None, "pseudo_dice": None, "pseudo_dice_per_class": None}
    model.eval()
    counts = 0  # per class, or per region when the plan trains regions (loss_fn.regions)
    losses = []
    for _ in range(tplan.val_iterations):
        batch = next(val_loader)
        data = batch["data"].to(device)
        target = batch["seg"][:, 0].long().to(device)
        if channels_last:
            data = data.contiguous(memory_format=memory_format)
        with autocast(device, precision):
            logits = model(data)
        losses.append(float(loss_fn.loss(logits.float(), target, batch_dice=tplan.batch_dice)))
        counts = counts + confusion_counts(logits, target, num_classes, loss_fn.regions, loss_fn.ignore_label)
    per_class = pseudo_dice(counts)
    return {"val_loss": distributed.average(float(np.mean(losses))),
            "pseudo_dice": distributed.average(float(np.mean(per_class))), "pseudo_dice_per_class": per_class}


def _epoch_outputs(out, state, record, core, average, optimizer, budget, config, plot: bool) -> None:
    _save(out / LATEST, state, core, average, optimizer, budget, config)
    if state["ema"] is not None and state["ema"] > state["best_ema"]:
        state["best_ema"] = state["ema"]
        _save(out / BEST, state, core, average, optimizer, budget, config)
    save_history(out, state["history"])
    if plot:
        plot_curves(out, state["history"])
    dice = record.get("pseudo_dice")
    log.info("epoch %d: loss %.4f%s, lr %.2e, %.1f s (%.2f it/s), %s trained", record["epoch"],
             record["train_loss"],
             "" if dice is None else f", val loss {record['val_loss']:.4f}, pseudo-Dice "
             f"{[round(d, 3) for d in record['pseudo_dice_per_class']]} (smoothed {state['ema']:.4f})",
             record["lr"], record["epoch_s"], record["iterations_per_s"], format_duration(state["elapsed"]))


def _save(path, state, core, average, optimizer, budget, config) -> None:
    weights = core.state_dict()
    save_checkpoint(path, {
        "weights": average.model.state_dict() if average is not None else weights,
        "train_weights": weights,
        "average_weights": average.model.state_dict() if average is not None else None,
        "optimizer": optimizer.state_dict(), "network_spec": to_dict(config.network),
        "configuration": config.name, "budget": {"seconds": budget.seconds, "epochs": budget.epochs},
        "rng": rng_state(), **{k: state[k] for k in ("epoch", "iteration", "elapsed", "history", "best_ema", "ema")},
    })


class _Phases:
    """The training loader for the current phase: small patches first (progressive resizing), then the plan's."""

    def __init__(self, config: Configuration, cases, workers: int, seed: int):
        self.config, self.cases, self.workers, self.seed = config, cases, workers, seed
        tplan = config.training
        self.small_until = tplan.progressive_fraction if tplan.progressive_patch_size else 0.0
        self.current: tuple[str, Any] | None = None

    def loader(self, progress: float):
        phase = "small" if progress < self.small_until else "full"
        if self.current is None or self.current[0] != phase:
            self.close()
            tplan = self.config.training
            patch, batch = ((tplan.progressive_patch_size, tplan.progressive_batch_size) if phase == "small"
                            else (None, None))
            self.current = (phase, make_train_loader(self.config, self.cases, self.workers, self.seed, patch, batch))
            if phase == "small" or progress > 0:
                log.info("training on %s patches: %s, batch %d", phase,
                         patch or self.config.patch_size, batch or self.config.batch_size)
        return self.current[1]

    def close(self) -> None:
        if self.current is not None:
            finish = getattr(self.current[1], "_finish", None)
            if finish:
                finish()
            self.current = None


def _peak_ram_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024.0
