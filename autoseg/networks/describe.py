"""What `autoseg networks [WORK -c CONFIG]` shows: every registered architecture, and with a plan's network spec
each one's size and cost when built with that spec's topology (stages, widths, kernels, strides, norm...)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

from autoseg.errors import AutosegError
from autoseg.networks.cost import estimate_cost
from autoseg.networks.factory import as_spec
from autoseg.networks.registry import describe_builder, registered_architectures
from autoseg.schema.network import NetworkSpec

GIB = 2**30


def describe_architectures(
    spec: NetworkSpec | dict | None = None, patch_size: Sequence[int] | None = None, batch_size: int | None = None
) -> list[dict]:
    """One row per registered architecture: name, description; with a spec (and patch and batch) also
    parameters, gflops_forward, gflops_train, activation_gib and peak_gib (estimated fp32 training memory).

    The spec's architecture-specific options are dropped for the others (each uses its defaults), except for
    the architecture the spec names."""
    rows = [{"name": name, "description": describe_builder(name)} for name in registered_architectures()]
    if spec is None:
        return rows
    spec = as_spec(spec)
    if patch_size is None or batch_size is None:
        raise AutosegError(
            "describing architectures for a spec needs its patch size and batch size",
            fix="pass the configuration's patch_size and batch_size",
        )
    for row in rows:
        options = spec.options if row["name"] == spec.architecture else {}
        cost = estimate_cost(
            dataclasses.replace(spec, architecture=row["name"], options=dict(options)), patch_size, batch_size
        )
        row.update(
            parameters=cost["parameters"],
            gflops_forward=cost["gflops_forward"],
            gflops_train=cost["gflops_train"],
            activation_gib=cost["activation_bytes"] / GIB,
            peak_gib=cost["peak_bytes_estimate"] / GIB,
        )
    return rows


COLUMNS = [  # key, header, format
    ("name", "architecture", "{}"),
    ("parameters", "params (M)", "{:.2f}"),
    ("gflops_forward", "GFLOPs fwd", "{:.1f}"),
    ("gflops_train", "GFLOPs train", "{:.1f}"),
    ("peak_gib", "est. peak (GiB)", "{:.2f}"),
    ("description", "description", "{}"),
]


def format_table(rows: list[dict]) -> str:
    """Aligned plain-text table of the columns the rows have."""
    if not rows:
        return ""
    columns = [(k, h, f) for k, h, f in COLUMNS if k in rows[0]]

    def cell(row, key, fmt):
        value = row[key] / 1e6 if key == "parameters" else row[key]
        return fmt.format(value)

    table = [[h for _, h, _ in columns]] + [[cell(r, k, f) for k, _, f in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    numeric = [k not in ("name", "description") for k, _, _ in columns]
    lines = []
    for line in table:
        cells = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(line, widths, numeric)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
