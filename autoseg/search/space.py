"""The search space: which choices a trial may make, as ordinary code over Optuna's `trial.suggest_*`.

Every parameter has a default range derived from the base configuration (e.g. 3d_fullres). A plain JSON file
(`autoseg search --space FILE`) narrows, widens or fixes any of them; parameters it does not name keep their
default:

    {
      "architecture": {"choices": ["unet", "residual_unet", "attention_unet"]},
      "blocks_per_stage": {"low": 1, "high": 3},
      "adamw_learning_rate": {"low": 1e-4, "high": 1e-2, "log": true},
      "norm": "instance",
      "stages": "plan"
    }

- `{"choices": [...]}`: one of these values (JSON strings, numbers, booleans).
- `{"low": a, "high": b}`: integers when both are integers (optional `"step"`), else floats; `"log": true`
  samples on a log scale.
- a plain value: fixed, not searched. The string `"plan"`: fixed to the base configuration's own value.

Parameters (default in brackets; "plan" = the base configuration's value):
- architecture: registry name [every registered architecture; attention gates are `attention_unet`]
- stages: resolution stages [plan-2 .. plan; never deeper, the patch and strides were planned for the plan's]
- base_features: channels of stage 0, doubling per stage up to the plan's cap scaled alike [half, plan, double]
- blocks_per_stage: encoder blocks (convs) per stage [1..3]
- decoder_blocks: blocks per decoder stage [1..2]
- norm: instance | batch | group [all three]
- activation: leaky_relu | relu | gelu [plan]
- dropout: channel dropout probability [plan]
- kernel_size: kernel edge on the axes the plan convolves (axes with kernel 1 stay 1) [3, 5]
- deep_supervision: loss on every decoder scale [true, false]
- loss: training loss (see autoseg.training.losses) [dice_ce, tversky, focal, generalised_dice]
- optimizer: sgd | adamw [both]
- sgd_learning_rate, adamw_learning_rate: the learning rate, one parameter per optimizer so each keeps its own
  range (only the chosen optimizer's is suggested) [sgd 1e-3..1e-1 log, adamw 3e-4..1e-2 log]
- batch_size: patches per step [half, plan, double]
- patch_scale: factor on every patch axis, rounded to the network's stride, at most the median image
  [0.75, 1.0, 1.25]
Trials whose network does not fit the device budget are not trained (see budget_check.py), so a wide default
space costs a cost estimate per infeasible trial, not a training run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.networks import registered_architectures
from autoseg.networks.ops import ACTIVATIONS, NORMS
from autoseg.schema.plans import Configuration
from autoseg.training.losses import LOSSES

OPTIMIZERS = ("sgd", "adamw")
DEFAULT_LOSSES = ["dice_ce", "tversky", "focal", "generalised_dice"]
PLAN = "plan"


@dataclass(frozen=True)
class Choice:
    choices: tuple


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Fixed:
    value: Any


Param = Choice | IntRange | FloatRange | Fixed


def learning_rate_name(optimizer: str) -> str:
    return f"{optimizer}_learning_rate"


def plan_values(base: Configuration) -> dict[str, Any]:
    """The base configuration expressed as values of the search parameters (its own point in the space)."""
    net, training = base.network, base.training
    blocks = net.encoder_blocks()
    values = {
        "architecture": net.architecture,
        "stages": net.num_stages,
        "base_features": int(net.features[0]),
        "blocks_per_stage": blocks[0] if len(set(blocks)) == 1 else list(blocks),
        "decoder_blocks": net.decoder_blocks,
        "norm": net.norm,
        "activation": net.activation,
        "dropout": net.dropout,
        "kernel_size": max(max(k) for k in net.kernel_sizes),
        "deep_supervision": net.deep_supervision,
        "loss": training.loss,
        "optimizer": training.optimizer,
        "batch_size": base.batch_size,
        "patch_scale": 1.0,
    }
    for optimizer in OPTIMIZERS:
        values[learning_rate_name(optimizer)] = training.learning_rate
    return values


def default_params(base: Configuration) -> dict[str, Param]:
    stages = base.network.num_stages
    width, batch = int(base.network.features[0]), base.batch_size
    return {
        "architecture": Choice(tuple(registered_architectures())),
        "stages": IntRange(max(2, stages - 2), stages),
        "base_features": Choice(tuple(sorted({max(4, width // 2), width, 2 * width}))),
        "blocks_per_stage": IntRange(1, 3),
        "decoder_blocks": IntRange(1, 2),
        "norm": Choice(tuple(NORMS)),
        "activation": Fixed(base.network.activation),
        "dropout": Fixed(base.network.dropout),
        "kernel_size": Choice((3, 5)),
        "deep_supervision": Choice((True, False)),
        "loss": Choice(tuple(DEFAULT_LOSSES)),
        "optimizer": Choice(OPTIMIZERS),
        "sgd_learning_rate": FloatRange(1e-3, 1e-1, log=True),
        "adamw_learning_rate": FloatRange(3e-4, 1e-2, log=True),
        "batch_size": Choice(tuple(sorted({max(1, batch // 2), batch, 2 * batch}))),
        "patch_scale": Choice((0.75, 1.0, 1.25)),
    }


class SearchSpace:
    """Parameters by name, in the order trials suggest them."""

    def __init__(self, params: dict[str, Param]):
        self.params = params

    @classmethod
    def for_configuration(cls, base: Configuration, user: str | Path | dict | None = None) -> "SearchSpace":
        """The default space for `base`, with a user's JSON file (or dict) laid over it and checked."""
        params = default_params(base)
        source = str(user) if isinstance(user, (str, Path)) else "space"
        overrides = _read_user_space(user) if isinstance(user, (str, Path)) else dict(user or {})
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise AutosegError(
                f"unknown search parameter(s) {unknown}", source, f"use only these names: {sorted(params)}"
            )
        planned = plan_values(base)
        for name, spec in overrides.items():
            params[name] = _parse_param(name, spec, planned[name], source)
        for name, param in params.items():
            _check_domain(name, param, base, source)
        return cls(params)

    def suggest(self, trial) -> dict[str, Any]:
        """Values for every parameter (suggested or fixed); the learning rate of the chosen optimizer only."""
        values = {
            name: _suggest_one(trial, name, param)
            for name, param in self.params.items()
            if not name.endswith("_learning_rate")
        }
        values["learning_rate"] = _suggest_one(
            trial, learning_rate_name(values["optimizer"]), self.params[learning_rate_name(values["optimizer"])]
        )
        return values

    def searchable_point(self, values: dict[str, Any]) -> dict[str, Any]:
        """The subset of `values` (named like the parameters) that lies inside the searched distributions,
        e.g. to enqueue the plan's own configuration as the first trial."""
        point = {}
        optimizer = values.get("optimizer")
        for name, value in values.items():
            param = self.params.get(name)
            if param is None or isinstance(param, Fixed):
                continue
            if name.endswith("_learning_rate") and name != learning_rate_name(str(optimizer)):
                continue
            if _contains(param, value):
                point[name] = value
        return point

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the space (the same format a --space file uses)."""
        out: dict[str, Any] = {}
        for name, param in self.params.items():
            if isinstance(param, Choice):
                out[name] = {"choices": list(param.choices)}
            elif isinstance(param, Fixed):
                out[name] = param.value
            else:
                out[name] = {"low": param.low, "high": param.high, "log": param.log}
                if isinstance(param, IntRange) and param.step != 1:
                    out[name]["step"] = param.step
        return out


def _read_user_space(path: str | Path) -> dict[str, Any]:
    from autoseg.utils.files import read_json

    data = read_json(path, "search space file")
    if not isinstance(data, dict):
        raise AutosegError(
            "a search space file must be a JSON object {parameter: range}",
            path,
            'write e.g. {"norm": {"choices": ["instance", "batch"]}}',
        )
    return data


def _parse_param(name: str, spec: Any, planned: Any, source: str) -> Param:
    if spec == PLAN:
        return Fixed(planned)
    if not isinstance(spec, dict):
        return Fixed(spec)
    keys = set(spec)
    if keys == {"choices"}:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise AutosegError(
                f"search parameter '{name}': choices must be a non-empty list",
                source,
                f'write "{name}": {{"choices": [value, ...]}}',
            )
        if any(isinstance(c, (dict, list)) or c is None for c in choices):
            raise AutosegError(
                f"search parameter '{name}': choices must be strings, numbers or booleans", source, "list plain values"
            )
        return Choice(tuple(planned if c == PLAN else c for c in choices))
    if {"low", "high"} <= keys <= {"low", "high", "log", "step"}:
        low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
            raise AutosegError(
                f"search parameter '{name}': low and high must be numbers with low <= high",
                source,
                f'write e.g. "{name}": {{"low": 1, "high": 3}}',
            )
        if log and low <= 0:
            raise AutosegError(
                f"search parameter '{name}': a log range needs low > 0", source, 'raise low above 0 or drop "log"'
            )
        if isinstance(low, int) and isinstance(high, int):
            return IntRange(low, high, int(spec.get("step", 1)), log)
        if "step" in spec:
            raise AutosegError(
                f"search parameter '{name}': step is for integer ranges", source, "give integer low/high, or drop step"
            )
        return FloatRange(float(low), float(high), log)
    raise AutosegError(
        f"search parameter '{name}': cannot read {json.dumps(spec)}",
        source,
        'use {"choices": [...]}, {"low": a, "high": b, "log": true}, a fixed value, or "plan"',
    )


def _values_of(param: Param) -> list[Any]:
    """The values (or the range ends) a parameter can take, to check them against its domain."""
    if isinstance(param, Choice):
        return list(param.choices)
    if isinstance(param, Fixed):
        return [param.value]
    if isinstance(param, IntRange):
        return list(range(param.low, param.high + 1, max(1, param.step)))[:1000]
    return [param.low, param.high]


def _check_domain(name: str, param: Param, base: Configuration, source: str) -> None:
    allowed = {
        "architecture": registered_architectures(),
        "norm": list(NORMS),
        "activation": list(ACTIVATIONS),
        "loss": sorted(LOSSES),
        "optimizer": list(OPTIMIZERS),
        "deep_supervision": [True, False],
    }
    stages = base.network.num_stages

    def positive_int(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 1

    def positive(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0

    numeric = {
        "stages": (
            lambda v: positive_int(v) and 2 <= v <= stages,
            f"an integer from 2 to {stages} (the plan's depth: its patch and strides were planned for it)",
        ),
        "base_features": (positive_int, "a positive integer"),
        "blocks_per_stage": (
            lambda v: positive_int(v) or (isinstance(v, list) and all(map(positive_int, v))),
            "a positive integer",
        ),
        "decoder_blocks": (positive_int, "a positive integer"),
        "dropout": (lambda v: isinstance(v, (int, float)) and 0 <= v < 1, "a number in [0, 1)"),
        "kernel_size": (lambda v: positive_int(v) and v % 2 == 1, "an odd positive integer such as 3 or 5"),
        "batch_size": (positive_int, "a positive integer"),
        "patch_scale": (positive, "a positive number"),
        "sgd_learning_rate": (positive, "a positive number"),
        "adamw_learning_rate": (positive, "a positive number"),
    }
    for value in _values_of(param):
        if name in allowed and value not in allowed[name]:
            raise AutosegError(
                f"search parameter '{name}': {value!r} is not one of {allowed[name]}",
                source,
                f"choose {name} values from {allowed[name]}",
            )
        if name in numeric and not numeric[name][0](value):
            raise AutosegError(
                f"search parameter '{name}': {value!r} is not {numeric[name][1]}",
                source,
                f"give {name} as {numeric[name][1]}",
            )
    if name == "patch_scale" and not isinstance(param, (Choice, Fixed, FloatRange)):
        raise AutosegError(
            "search parameter 'patch_scale' is a factor",
            source,
            'give choices or a float range, e.g. {"low": 0.5, "high": 1.5}',
        )


def _suggest_one(trial, name: str, param: Param) -> Any:
    if isinstance(param, Fixed):
        return param.value
    if isinstance(param, Choice):
        return trial.suggest_categorical(name, list(param.choices))
    if isinstance(param, IntRange):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    return trial.suggest_float(name, param.low, param.high, log=param.log)


def _contains(param: Param, value: Any) -> bool:
    if isinstance(param, Choice):
        return value in param.choices
    if isinstance(param, IntRange):
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and param.low <= value <= param.high
            and (value - param.low) % param.step == 0
        )
    if isinstance(param, FloatRange):
        return isinstance(value, (int, float)) and param.low <= value <= param.high
    return False
