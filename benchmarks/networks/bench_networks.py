"""Cost of every registered architecture on one plan configuration: estimated and measured on this CPU.

    python benchmarks/networks/bench_networks.py [--plans WORK/plans.json -c 3d_fullres]

Without a plan it uses the Hippocampus 3d_fullres topology nnU-Net plans (patch 40x56x40, batch 2,
features 16..128, three 2x2x2 poolings, 3x3x3 kernels, 1 channel, 3 classes). For each architecture built with
that topology: parameters, GFLOPs (forward, forward+backward), estimated peak training memory
(autoseg.networks.cost), measured peak memory and seconds per SGD step in a fresh process
(autoseg.networks.measure), fp32 (optionally channels-last) and bf16 autocast. On a CPU with bf16 matrix units
(AMX / AVX512-BF16) bf16 is timed like fp32 (with channels-last when asked: the training setting); without
them it is emulated and ~25x slower, so it gets one timed step. Writes results.md (and the raw numbers as
results.json) next to this script.
Timings are only meaningful on a quiet machine: the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import torch

from autoseg.errors import AutosegError
from autoseg.networks import registered_architectures
from autoseg.networks.cost import estimate_cost
from autoseg.networks.measure import measure_in_subprocess
from autoseg.planning.budget import cpu_has_fast_bf16
from autoseg.schema.network import NetworkSpec
from autoseg.schema.plans import plans_from_dict
from autoseg.utils.files import atomic_write, read_json, write_json

HERE = Path(__file__).resolve().parent
MIB = 2**20

DEFAULT_SPEC = NetworkSpec(
    architecture="unet",
    spatial_dims=3,
    in_channels=1,
    num_classes=3,
    features=[16, 32, 64, 128],
    kernel_sizes=[[3, 3, 3]] * 4,
    strides=[[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
)
DEFAULT_PATCH = (40, 56, 40)
DEFAULT_BATCH = 2


def configuration_from_plans(path: Path, name: str) -> tuple[NetworkSpec, tuple[int, ...], int]:
    """(network spec, patch, batch) of configuration `name` in a plans.json."""
    config = plans_from_dict(read_json(path, "plans file"), str(path)).configuration(name)
    return config.network, tuple(config.patch_size), int(config.batch_size)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def benchmark(
    spec: NetworkSpec, patch, batch, architectures, iterations: int, bf16: bool, channels_last: bool, timeout: float
) -> list[dict]:
    rows = []
    for name in architectures:
        options = dict(spec.options) if name == spec.architecture else {}  # others use their own defaults
        arch_spec = dataclasses.replace(spec, architecture=name, options=options)
        started = time.perf_counter()
        cost = estimate_cost(arch_spec, patch, batch)
        row = {"architecture": name, **cost, "estimate_seconds": time.perf_counter() - started}
        runs = {
            "memory": dict(iterations=1, warmup=0, exact_memory=True),
            "fp32": dict(iterations=iterations, warmup=1),
        }
        if channels_last:
            runs["fp32_channels_last"] = dict(iterations=iterations, warmup=1, channels_last=True)
        if bf16 and cpu_has_fast_bf16():
            runs["bf16"] = dict(iterations=iterations, warmup=1, autocast_bf16=True, channels_last=channels_last)
        elif bf16:
            runs["bf16"] = dict(iterations=1, warmup=0, autocast_bf16=True)
        for run, kwargs in runs.items():
            print(f"[{name}] {run} ...", file=sys.stderr, flush=True)
            row[run] = measure_in_subprocess(arch_spec, patch, batch, timeout=timeout, **kwargs)
        rows.append(row)
    return rows


COLUMNS = [  # header, cell
    ("architecture", lambda r: r["architecture"]),
    ("params (M)", lambda r: f"{r['parameters'] / 1e6:.2f}"),
    ("GFLOPs fwd", lambda r: f"{r['gflops_forward']:.1f}"),
    ("GFLOPs fwd+bwd", lambda r: f"{r['gflops_train']:.1f}"),
    ("est. peak (MiB)", lambda r: f"{r['peak_bytes_estimate'] / MIB:.0f}"),
    ("measured peak (MiB)", lambda r: f"{r['memory']['peak_training_bytes'] / MIB:.0f}"),
    ("est. / measured", lambda r: f"{r['peak_bytes_estimate'] / r['memory']['peak_training_bytes']:.2f}"),
    ("peak, default malloc (MiB)", lambda r: f"{r['fp32']['peak_training_bytes'] / MIB:.0f}"),
    ("fp32 s/it", lambda r: f"{r['fp32']['seconds_per_iteration']:.2f}"),
    ("fp32 GFLOP/s", lambda r: f"{r['gflops_train'] / r['fp32']['seconds_per_iteration']:.1f}"),
    (
        "fp32 channels-last s/it",
        lambda r: f"{r['fp32_channels_last']['seconds_per_iteration']:.2f}" if "fp32_channels_last" in r else "-",
    ),
    ("bf16 s/it", lambda r: f"{r['bf16']['seconds_per_iteration']:.2f}" if "bf16" in r else "-"),
    ("bf16 GFLOP/s", lambda r: f"{r['gflops_train'] / r['bf16']['seconds_per_iteration']:.1f}" if "bf16" in r else "-"),
    (
        "bf16 speed-up",
        lambda r: f"{_fastest_fp32(r) / r['bf16']['seconds_per_iteration']:.2f}x" if "bf16" in r else "-",
    ),
    ("estimate call (s)", lambda r: f"{r['estimate_seconds']:.2f}"),
]


def _fastest_fp32(row: dict) -> float:
    return min(row[k]["seconds_per_iteration"] for k in ("fp32", "fp32_channels_last") if k in row)


def markdown(rows, spec, patch, batch, command, load_before, load_after, source) -> str:
    lines = [
        "# Network family on one plan configuration (CPU)",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {cpu_name()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads, Python {platform.python_version()}",
        f"- command: `{command}`",
        f"- configuration: {source}; patch {list(patch)}, batch {batch}, features {spec.features}, "
        f"strides {spec.strides}, kernels {spec.kernel_sizes}, norm {spec.norm}, "
        f"deep supervision {spec.deep_supervision}",
        f"- load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} "
        "(timings are unreliable unless both are well below the core count)",
        "- peaks: fp32 SGD training step, weights + gradients + momentum + input + activations; est. = "
        "autoseg.networks.cost; measured = resident high-water mark of the step in a fresh process with glibc "
        "returning freed blocks at once (reproducible, the tensors' own need); default malloc = the same with "
        "glibc's default allocator as in training (freed blocks kept in the heap: higher and variable)",
        "- s/it: one SGD step (forward, cross-entropy on every deep-supervision output, backward, update), mean "
        "over the timed steps after a warm-up; bf16 = torch.autocast('cpu', bfloat16)"
        + (
            " with channels-last when asked, timed like fp32 (this CPU has bf16 matrix units); bf16 speed-up = "
            "fastest fp32 / bf16"
            if cpu_has_fast_bf16()
            else ", emulated on this CPU (no bf16 units), one timed step"
        ),
        "",
        "| " + " | ".join(h for h, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(cell(r) for _, cell in COLUMNS) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=Path, help="WORK/plans.json; default: the Hippocampus topology")
    parser.add_argument("-c", "--configuration", default="3d_fullres")
    parser.add_argument("--architectures", nargs="*", help="subset (default: all registered)")
    parser.add_argument("--iterations", type=int, default=2, help="timed fp32 steps after one warm-up")
    parser.add_argument("--no-bf16", action="store_true", help="skip the (slow, emulated) bf16 measurement")
    parser.add_argument("--channels-last", action="store_true", help="also time fp32 with channels-last")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per measurement")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)

    if args.plans:
        spec, patch, batch = configuration_from_plans(args.plans, args.configuration)
        source = f"{args.plans} -c {args.configuration}"
    else:
        spec, patch, batch = DEFAULT_SPEC, DEFAULT_PATCH, DEFAULT_BATCH
        source = "default Hippocampus 3d_fullres topology (no plans.json given)"
    architectures = args.architectures or registered_architectures()
    load_before = os.getloadavg()[0]
    rows = benchmark(
        spec, patch, batch, architectures, args.iterations, not args.no_bf16, args.channels_last, args.timeout
    )
    load_after = os.getloadavg()[0]
    command = "python " + " ".join([os.path.relpath(__file__, Path.cwd())] + (argv or sys.argv[1:]))
    text = markdown(rows, spec, patch, batch, command, load_before, load_after, source)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(args.out, write, suffix=".md")
    write_json(
        args.out.with_suffix(".json"),
        {"configuration": source, "patch_size": list(patch), "batch_size": batch, "rows": rows},
    )
    print(text)


if __name__ == "__main__":
    try:
        main()
    except AutosegError as error:
        sys.exit(f"error: {error}")
