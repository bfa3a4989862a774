"""A training's setup: seeds and threads, the fold's cases, the network and its optimiser, a resumed or
extended run's state, the loaders and the number format. Each part is chosen from the plan (and the job)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from autoseg.layout.work import PLANS
from autoseg.networks import build_network
from autoseg.networks.memory_limit import check_network_fits
from autoseg.planning.budget import training_threads
from autoseg.preprocessing.cache import cache_dir
from autoseg.training import distributed
from autoseg.training.budget import Budget, extended_budget, planned_budget
from autoseg.training.checkpoint import FINAL, LATEST, load_checkpoint, set_rng_state
from autoseg.training.compiled import TrainingForward, use_compile
from autoseg.training.context import TrainingRun
from autoseg.training.dataset import add_previous_stage, load_cases
from autoseg.training.folds import fold_cases
from autoseg.training.init_from import initialise_from
from autoseg.training.loader import choose_workers, make_val_loader
from autoseg.training.losses import DeepSupervisionLoss
from autoseg.training.nonfinite_guard import NonFiniteGuard
from autoseg.training.optim import WeightAverage, build_optimizer
from autoseg.training.phases import TrainingPhases
from autoseg.training.precision import PRECISIONS, choose_precision
from autoseg.training.state import TrainingState
from autoseg.utils.logs import get_logger

log = get_logger("train")


@dataclass
class TrainingParts:
    """The objects a training steps with. `precision` may change mid-run (NonFiniteGuard's fallback to fp32)."""

    device: torch.device
    model: torch.nn.Module  # what the steps call: the network, wrapped in DDP under torchrun
    core: torch.nn.Module  # the network itself
    optimizer: torch.optim.Optimizer
    average: WeightAverage | None
    loss_fn: DeepSupervisionLoss
    budget: Budget
    forward: TrainingForward
    phases: TrainingPhases
    val_loader: Any
    train_cases: list
    val_cases: list
    workers: int
    precision: str
    channels_last: bool
    memory_format: torch.memory_format
    scaler: Any = None
    guard: NonFiniteGuard = field(default_factory=NonFiniteGuard)

    @property
    def evaluated(self) -> torch.nn.Module:
        """The network that is validated and kept: the weight average when the plan averages weights."""
        return self.core if self.average is None else self.average.model

    def inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch's images (in the network's memory format) and label maps, on the training device."""
        data = batch["data"].to(self.device, non_blocking=True)
        target = batch["seg"][:, 0].long().to(self.device, non_blocking=True)
        if self.channels_last:
            data = data.contiguous(memory_format=self.memory_format)
        return data, target


def set_up(run: TrainingRun) -> tuple[TrainingParts, TrainingState]:
    """Everything the steps need, in the order that draws the same random numbers as every earlier version."""
    tplan = run.tplan
    seed = _seed_and_threads(run)
    device = _device(run.kind)
    train_cases, val_cases = _cases(run)
    channels_last = _use_channels_last(tplan.channels_last, run.kind, run.config.spatial_dims)
    memory_format = torch.channels_last_3d if run.config.spatial_dims == 3 else torch.channels_last
    core = _network(run, device, memory_format if channels_last else None)
    optimizer = build_optimizer(core, tplan)
    average = WeightAverage(core, tplan.weight_averaging) if tplan.weight_averaging > 0 else None
    loss_fn = DeepSupervisionLoss(
        tplan.loss,
        core.output_scales,
        tplan.batch_dice,
        tplan.deep_supervision_levels,
        run.labels.ignore_label,
        run.labels.loss_regions,
    )
    state, budget = _restored(run, core, optimizer, average)
    model = torch.nn.parallel.DistributedDataParallel(core) if run.world > 1 else core
    forward = TrainingForward(
        model,
        use_compile(
            tplan.compile, budget.seconds, (budget.epochs or 0) * tplan.iterations_per_epoch, run.job.deterministic
        ),
    )
    workers = (
        0
        if run.job.deterministic
        else choose_workers(
            run.job.workers if run.job.workers is not None else tplan.loader_workers, run.kind, run.config.augmentation
        )
    )
    phases = TrainingPhases(run.config, train_cases, workers, seed + 7919 * state.epoch)
    val_loader = make_val_loader(run.config, val_cases, seed + 1) if val_cases else None
    precision = _precision(run, device, core, lambda: next(phases.loader(budget.progress(state.elapsed, state.epoch))))
    parts = TrainingParts(
        device=device,
        model=model,
        core=core,
        optimizer=optimizer,
        average=average,
        loss_fn=loss_fn,
        budget=budget,
        forward=forward,
        phases=phases,
        val_loader=val_loader,
        train_cases=train_cases,
        val_cases=val_cases,
        workers=workers,
        precision=precision,
        channels_last=channels_last,
        memory_format=memory_format,
        scaler=torch.amp.GradScaler("cuda") if precision == "fp16" else None,
    )
    _log_start(run, parts)
    return parts, state


def _device(kind: str) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if kind == "cuda" else torch.device("cpu")


def _seed_and_threads(run: TrainingRun) -> int:
    seed = run.tplan.seed + 1000 * run.rank
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    if run.job.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if run.kind == "cpu":
        torch.set_num_threads(max(1, training_threads() // run.world))
    return seed


def _cases(run: TrainingRun) -> tuple[list, list]:
    train_ids, val_ids = fold_cases(run.work, run.fold)
    folder = cache_dir(run.work, run.config)
    train_cases = load_cases(folder, train_ids)
    val_cases = load_cases(folder, val_ids) if val_ids else []
    for case in train_cases + val_cases:  # patches centre on a class, or on a region when the plan trains regions
        case.locations = run.labels.sampling_groups(case.locations)
    if run.config.previous_stage:
        add_previous_stage(train_cases + val_cases, run.work, run.plans, run.config)
    return train_cases, val_cases


def _network(run: TrainingRun, device: torch.device, memory_format: torch.memory_format | None) -> torch.nn.Module:
    """The network seeded by the plan, its weights from --init-from when given, in `memory_format` if any."""
    # A plan may come from elsewhere (plan --plans-from, a hand edit): costed before anything is allocated.
    check_network_fits(run.config.network, run.config.patch_size, f"configuration {run.config.name}", run.work / PLANS)
    network = build_network(run.config.network, seed=run.tplan.seed).to(device)
    if run.job.init_from:
        initialise_from(network, run.job.init_from, run.config.name, run.out, write=run.rank == 0)
    if memory_format is not None:
        network = network.to(memory_format=memory_format)
    return network


def _use_channels_last(setting: str, kind: str, dims: int) -> bool:
    if setting in ("on", "off"):
        return setting == "on"
    # Measured on CPU (oneDNN): 3D convolutions ~1.4x faster channels-last (Xeon AMX and EPYC AVX2); the ISBI
    # 2D U-Net times within noise either way on the EPYC (benchmarks/training/ablations.md).
    return kind == "cpu" and dims == 3


def _restored(
    run: TrainingRun, core: torch.nn.Module, optimizer: torch.optim.Optimizer, average: WeightAverage | None
) -> tuple[TrainingState, Budget]:
    """A new run's empty state, or the state, weights, optimiser and RNGs of the checkpoint it continues."""
    job = run.job
    budget = planned_budget(run.tplan, job.time_budget, job.epochs)
    if not (job.resume or job.extend):
        return TrainingState(), budget
    checkpoint = load_checkpoint(run.out / (FINAL if job.extend else LATEST))
    core.load_state_dict(checkpoint["train_weights"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if average is not None and checkpoint.get("average_weights") is not None:
        average.model.load_state_dict(checkpoint["average_weights"])
    state = TrainingState.from_checkpoint(checkpoint)
    set_rng_state(checkpoint["rng"])
    old = Budget(**checkpoint["budget"])
    if job.extend:
        budget = extended_budget(old, state.epoch, state.elapsed, job.time_budget, job.epochs)
    elif job.time_budget is None and job.epochs is None:
        budget = old
    log.info(
        "%s from epoch %d (%.0f s trained); %s",
        "extending" if job.extend else "resuming",
        state.epoch,
        state.elapsed,
        budget.describe(),
    )
    return state, budget


def _precision(run: TrainingRun, device: torch.device, core: torch.nn.Module, next_batch) -> str:
    """The number format of the training steps, the same on every rank (it may be timed on a training batch)."""
    # Deterministic runs must not hinge on a timing: "auto" means fp32 there (a plan that names one is obeyed).
    setting = "fp32" if run.job.deterministic and run.tplan.precision == "auto" else run.tplan.precision
    precision = choose_precision(setting, device, core, lambda: next_batch()["data"].to(device))
    return distributed.broadcast_choice(precision, PRECISIONS)


def _log_start(run: TrainingRun, parts: TrainingParts) -> None:
    config = run.config
    log.info(
        "training %s fold %s on %s (%d process(es), %d thread(s), %d loader worker(s), %s, channels-last %s, "
        "compiled %s): %d training / %d validation cases, patch %s, batch %d, %s",
        config.name,
        run.fold,
        run.kind,
        run.world,
        torch.get_num_threads(),
        parts.workers,
        parts.precision,
        parts.channels_last,
        parts.forward.is_compiled,
        len(parts.train_cases),
        len(parts.val_cases),
        config.patch_size,
        config.batch_size,
        parts.budget.describe(),
    )
