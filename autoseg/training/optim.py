"""Optimiser and weight averaging from the plan."""

from __future__ import annotations

import copy

import torch

from autoseg.errors import AutosegError
from autoseg.schema.plans import TrainingPlan


def build_optimizer(model: torch.nn.Module, plan: TrainingPlan) -> torch.optim.Optimizer:
    if plan.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=plan.learning_rate,
            momentum=plan.momentum,
            nesterov=plan.momentum > 0,
            weight_decay=plan.weight_decay,
        )
    if plan.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=plan.learning_rate, weight_decay=plan.weight_decay)
    raise AutosegError(
        f"unknown optimizer '{plan.optimizer}' in plans.json (training.optimizer)", fix="use sgd or adamw"
    )


class WeightAverage:
    """Exponential moving average of the weights: a smoother model for short runs, at almost no cost."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for averaged, current in zip(self.model.state_dict().values(), model.state_dict().values()):
            if averaged.dtype.is_floating_point:
                averaged.mul_(self.decay).add_(current.detach(), alpha=1 - self.decay)
            else:
                averaged.copy_(current)
