"""The shape of a network spec checked without building it (and without torch): stage counts, kernels, strides,
blocks, dropout. The ONNX backend checks a shipped plan with this before predicting without PyTorch
(inference/plans_sanity.py); factory.validate_spec adds the norm and activation names torch modules need."""

from __future__ import annotations

from typing import NoReturn

from autoseg.errors import AutosegError
from autoseg.schema.network import NetworkSpec


def spec_problem(message: str, fix: str) -> NoReturn:
    raise AutosegError(f"network spec: {message}", fix=fix)


def validate_structure(spec: NetworkSpec) -> None:
    """Raise AutosegError naming the field and the fix for a spec whose stages no architecture can build."""
    d = spec.spatial_dims
    n = spec.num_stages
    if d not in (2, 3):
        spec_problem(f"spatial_dims must be 2 or 3, got {d}", "set network.spatial_dims to 2 or 3")
    if n < 2:
        spec_problem(
            f"need at least 2 stages, got features={spec.features}", "give network.features one width per stage"
        )
    if any(int(f) < 1 for f in spec.features):
        spec_problem(f"features must be positive, got {spec.features}", "fix network.features")
    if spec.in_channels < 1 or spec.num_classes < 1:
        spec_problem("in_channels and num_classes must be >= 1", "fix network.in_channels / network.num_classes")
    for name in ("kernel_sizes", "strides"):
        value = getattr(spec, name)
        if len(value) != n or any(len(v) != d for v in value):
            spec_problem(
                f"{name} must have {n} entries (one per stage) of {d} values each, got {value}",
                f"give network.{name} one [{', '.join(['k'] * d)}] list per stage",
            )
    if any(k < 1 or k % 2 == 0 for ks in spec.kernel_sizes for k in ks):
        spec_problem(
            f"kernel sizes must be odd and positive, got {spec.kernel_sizes}", "use odd kernels such as 1 or 3"
        )
    if any(s < 1 for ss in spec.strides for s in ss):
        spec_problem(f"strides must be >= 1, got {spec.strides}", "fix network.strides")
    if any(s != 1 for s in spec.strides[0]):
        spec_problem(
            f"strides[0] must be all ones (stage 0 is full resolution), got {spec.strides[0]}",
            "set network.strides[0] to ones and move the downsampling to the next stage",
        )
    if len(spec.encoder_blocks()) != n or any(b < 1 for b in spec.encoder_blocks()):
        spec_problem(
            f"blocks_per_stage must be empty or {n} positive counts, got {spec.blocks_per_stage}",
            "fix network.blocks_per_stage",
        )
    if spec.decoder_blocks < 1:
        spec_problem(f"decoder_blocks must be >= 1, got {spec.decoder_blocks}", "fix network.decoder_blocks")
    if not 0.0 <= spec.dropout < 1.0:
        spec_problem(f"dropout must be in [0, 1), got {spec.dropout}", "fix network.dropout")
    if not isinstance(spec.options, dict):
        spec_problem("options must be a JSON object", "fix network.options")
