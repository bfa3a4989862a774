"""Resampling a 512x512x400 CT-like volume to a target spacing and back: the former skimage.resize code
(tests/legacy_resample.py) against autoseg/preprocessing/resample.py.

Each (implementation, scenario) runs in a fresh process so its peak RSS is its own. Scenarios (numpy order,
raw spacing 1.5 x 0.8 x 0.8 mm, the synthetic CT of autoseg.data.synthetic_ct):
- "3d":  to 1.5 x 1.0 x 1.0 mm (400x410x410) and back, spline order 3 on every axis, labels one-hot order 1;
- "separate_z": to 3.0 x 1.0 x 1.0 mm and back with the coarse axis separately (order 3 in-plane, nearest across
  slices), as anisotropic data is planned.
Run under `cpu-lock exclusive`:
    python benchmarks/resampling/bench_resampling.py --out benchmarks/resampling/results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SPACING = (1.5, 0.8, 0.8)
SCENARIOS = {"3d": ((1.5, 1.0, 1.0), None), "separate_z": ((3.0, 1.0, 1.0), 0)}


def run_one(implementation: str, scenario: str, shape: tuple[int, ...], compare_dir: Path | None) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from autoseg.data.synthetic_ct import ct_case

    if implementation == "legacy":
        import legacy_resample as module
    else:
        from autoseg.preprocessing import resample as module
    image, labels = ct_case(np.random.default_rng(0), shape, SPACING, num_classes=3)
    image = image[None].astype(np.float32)
    target, anisotropic_axis = SCENARIOS[scenario]
    new_shape = module.shape_at_spacing(shape, SPACING, target)
    times = {}
    start = time.perf_counter()
    forward = module.resample_array(image, new_shape, 3, anisotropic_axis, 0)
    times["image_forward_s"] = time.perf_counter() - start
    start = time.perf_counter()
    back = module.resample_array(forward, list(shape), 3, anisotropic_axis, 0)
    times["image_back_s"] = time.perf_counter() - start
    start = time.perf_counter()
    labels_forward = module.resample_labels(labels, new_shape, 3, 1, anisotropic_axis)
    times["labels_forward_s"] = time.perf_counter() - start
    start = time.perf_counter()
    labels_back = module.resample_labels(labels_forward, list(shape), 3, 1, anisotropic_axis)
    times["labels_back_s"] = time.perf_counter() - start
    if compare_dir is not None:
        for name, array in (
            ("image", forward),
            ("labels", labels_forward),
            ("image_back", back),
            ("labels_back", labels_back),
        ):
            np.save(compare_dir / f"{implementation}_{scenario}_{name}.npy", array)
    return {
        "implementation": implementation,
        "scenario": scenario,
        "shape": list(shape),
        "target_shape": new_shape,
        "target_spacing": list(target),
        "anisotropic_axis": anisotropic_axis,
        **{k: round(v, 2) for k, v in times.items()},
        "total_s": round(sum(times.values()), 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "label_agreement_back": float(np.mean(labels_back == labels)),
    }


def compare(compare_dir: Path, scenario: str) -> dict:
    out = {}
    for name in ("image", "image_back"):
        a = np.load(compare_dir / f"legacy_{scenario}_{name}.npy", mmap_mode="r")
        b = np.load(compare_dir / f"autoseg_{scenario}_{name}.npy", mmap_mode="r")
        out[f"{name}_max_abs_difference_hu"] = float(np.abs(np.asarray(a) - np.asarray(b)).max())
    for name in ("labels", "labels_back"):
        a = np.load(compare_dir / f"legacy_{scenario}_{name}.npy")
        b = np.load(compare_dir / f"autoseg_{scenario}_{name}.npy")
        out[f"{name}_voxels_differing"] = int(np.count_nonzero(a != b))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", type=int, nargs=3, default=[400, 512, 512])
    parser.add_argument("--implementations", nargs="+", default=["autoseg", "legacy"])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--compare-dir", type=Path, help="save outputs here and compare legacy with autoseg")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        implementation, scenario = args.one.split(":")
        print(json.dumps(run_one(implementation, scenario, tuple(args.shape), args.compare_dir)))
        return
    rows = []
    for scenario in args.scenarios:
        for implementation in args.implementations:
            command = [
                sys.executable,
                __file__,
                "--one",
                f"{implementation}:{scenario}",
                "--shape",
                *map(str, args.shape),
            ] + (["--compare-dir", str(args.compare_dir)] if args.compare_dir else [])
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
        if args.compare_dir and set(args.implementations) == {"autoseg", "legacy"}:
            rows.append({"scenario": scenario, "legacy_vs_autoseg": compare(args.compare_dir, scenario)})
            print(rows[-1], flush=True)
    record = {
        "command": " ".join(sys.argv),
        "machine": {"cpu": _cpu(), "cores": _cores(), "python": platform.python_version()},
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


def _cpu() -> str:
    from autoseg.planning.budget import cpu_name

    return cpu_name()


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
