"""Issue 31, deployment: seconds per case of `autoseg predict` with the torch backend against onnxruntime, and the
install size of an inference-only environment (no torch) next to the full one.

    python benchmarks/deploy/run.py prepare DATASET WORK [--time-budget 10m]   # plan, train fold 0, export --onnx
    python benchmarks/deploy/run.py time NAME WORK -i INPUTS... [--limit 60]   # every backend, TTA and not
    python benchmarks/deploy/run.py batch WORK                                 # ONNX graph: fixed vs dynamic batch
    python benchmarks/deploy/run.py sizes [--model WORK/deploy_model.zip]      # venv sizes (+ a torch-free predict)
    python benchmarks/deploy/run.py report                                     # results.json -> results.md

`time` runs each variant as its own `autoseg predict` process (imports and model loading timed apart from the
cases) and appends one record per variant to results.json with the CPU, the load average and the command.
Variants: torch (the defaults a user gets: precision auto, --compile auto), torch-eager (--compile off) and
onnxruntime, each with mirror TTA and with --no-tta. Run it on a quiet machine, under `cpu-lock exclusive`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
AUTOSEG = [sys.executable, "-m", "autoseg.cli"]
VARIANTS = {
    "torch": ["--backend", "torch"],
    "torch-eager": ["--backend", "torch", "--compile", "off"],
    "onnxruntime": ["--backend", "onnxruntime"],
}
# What `predict --backend onnxruntime` imports (found by predicting with torch blocked and listing sys.modules);
# autoseg itself goes in with --no-deps, since its declared dependencies include torch.
INFERENCE_ONLY = ["numpy", "scipy", "SimpleITK", "onnxruntime", "tqdm", "psutil", "pydantic"]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict:
    return {
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
    }


def record(entry: dict) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    results.append({**entry, "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S")})
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def prepare(args) -> None:
    """A trained model with ONNX networks: plan (unless WORK has plans.json), train fold 0 of the configuration
    for --time-budget (unless trained), export --onnx to WORK/deploy_model.zip."""
    work = Path(args.work)
    if not (work / "plans.json").is_file():
        run(
            [
                *AUTOSEG,
                "plan",
                args.dataset,
                "-o",
                str(work),
                "-c",
                args.configuration,
                "--time-budget",
                args.time_budget,
            ]
        )
    if not (work / "models" / args.configuration / "fold_0" / "checkpoint_final.pt").is_file():
        run(
            [
                *AUTOSEG,
                "train",
                str(work),
                "-c",
                args.configuration,
                "-f",
                "0",
                "--time-budget",
                args.time_budget,
                "--no-validation",
            ]
        )
    run(
        [
            *AUTOSEG,
            "export",
            str(work),
            "-o",
            str(work / "deploy_model.zip"),
            "-c",
            args.configuration,
            "-f",
            "0",
            "--onnx",
            "--overwrite",
        ]
    )


def input_folder(inputs: list[str], limit: int | None, folder: Path) -> Path:
    """A folder of links to the input images (a dataset folder's images, or files), the first `limit` cases."""
    files = []
    for item in inputs:
        path = Path(item)
        files += sorted(path.glob("*.nii.gz")) if path.is_dir() else [path]
    cases = sorted({f.name.split("_0000")[0].split("_0001")[0] for f in files})[:limit] if limit else None
    folder.mkdir(parents=True)
    for f in files:
        if cases is None or f.name.split("_0000")[0].split("_0001")[0] in cases:
            (folder / f.name).symlink_to(f.resolve())
    return folder


def time_predictions(args) -> None:
    model = Path(args.work) / "deploy_model.zip"
    with tempfile.TemporaryDirectory(prefix="deploy-bench-") as scratch:
        images = input_folder(args.input, args.limit, Path(scratch) / "in")
        cases = len({p.name for p in images.iterdir()}) // max(1, args.channels)
        reference: dict[bool, Path] = {}
        for tta in (True, False):
            for variant in args.variants:
                out = Path(scratch) / f"{variant}_{tta}"
                command = [
                    *AUTOSEG,
                    "predict",
                    "--model",
                    str(model),
                    "-i",
                    str(images),
                    "-o",
                    str(out),
                    *VARIANTS[variant],
                    *([] if tta else ["--no-tta"]),
                ]
                started = time.monotonic()
                run(command)
                wall = time.monotonic() - started
                report = json.loads((out / "prediction_report.json").read_text())
                seconds = [c["seconds"] for c in report["cases"].values()]
                record(
                    {
                        "dataset": args.name,
                        "variant": variant,
                        "tta": tta,
                        "cases": cases,
                        "seconds_per_case": report["seconds_per_case"],
                        "median_case_seconds": statistics.median(seconds),
                        "first_case_seconds": seconds[0] if seconds else None,
                        "wall_seconds": round(wall, 2),
                        "startup_seconds": round(wall - report["seconds_per_case"] * cases, 2),
                        "compiled": report.get("compiled"),
                        "precision": next(iter(report["cases"].values()))["settings"]["precision"],
                        "command": " ".join(command[2:]),
                        **agreement(reference.get(tta), out, variant),
                    }
                )
                if tta in reference:
                    shutil.rmtree(out)
                else:
                    reference[tta] = out  # the first variant's label maps: the others are compared with them


def agreement(reference: Path | None, out: Path, variant: str) -> dict:
    """Per-case mean foreground Dice of `out`'s label maps against the reference variant's, and how many are
    identical voxel for voxel (issue 31: the backends must agree, Dice >= 0.999 where rounding differs)."""
    if reference is None:
        return {"label_reference": True}
    import numpy as np
    import SimpleITK as sitk

    dices, identical = [], 0
    for path in sorted(reference.glob("*.nii.gz")):
        a = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(out / path.name)))
        identical += int(np.array_equal(a, b))
        per_class = [
            2 * np.sum((a == k) & (b == k)) / max(1, np.sum(a == k) + np.sum(b == k))
            for k in np.union1d(np.unique(a), np.unique(b))
            if k != 0
        ]
        dices.append(float(np.mean(per_class)) if per_class else 1.0)
    return {
        "compared_with": reference.name.rsplit("_", 1)[0],
        "identical_cases": identical,
        "min_case_dice": round(min(dices), 5) if dices else None,
        "mean_case_dice": round(float(sum(dices) / len(dices)), 5) if dices else None,
    }


def batch_shapes(args) -> None:
    """The first network of the model as two ONNX graphs, one with a fixed batch (the batch predict sends with
    TTA) and one with a dynamic batch axis (what export --onnx writes), timed interleaved on the same input."""
    import numpy as np
    import torch

    from autoseg.inference.backends.onnx_backend import OnnxNetwork
    from autoseg.inference.models import load_model
    from autoseg.inference.window_splitter import MAX_BATCH_VOXELS, inputs_per_pass
    from autoseg.schema.plans import load_plans
    from autoseg.sharing.onnx_export import _export

    config = load_plans(args.work).configuration(args.configuration)
    model = load_model(args.work, args.configuration, 0, torch.device("cpu"))
    shape = (model.spec.in_channels, *config.patch_size)
    # what a case with many windows sends per forward pass (predictor.py's batch_size 2 at least)
    batch = max(2, inputs_per_pass(config.patch_size, 8, 10**6, MAX_BATCH_VOXELS))
    with tempfile.TemporaryDirectory() as scratch:
        dynamic = Path(scratch) / "dynamic.onnx"
        _export(model.network, shape, dynamic)
        fixed = Path(scratch) / "fixed.onnx"
        with torch.no_grad():
            torch.onnx.export(
                model.network,
                (torch.randn(batch, *shape),),
                str(fixed),
                dynamo=False,
                opset_version=17,
                input_names=["image"],
                output_names=["logits"],
            )
        networks = {"dynamic": OnnxNetwork(dynamic), "fixed": OnnxNetwork(fixed)}
        x = np.random.default_rng(0).normal(size=(batch, *shape)).astype(np.float32)
        times: dict[str, list[float]] = {name: [] for name in networks}
        for network in networks.values():
            network.run(x)
        for _ in range(args.repeats):
            for name, network in networks.items():
                started = time.perf_counter()
                network.run(x)
                times[name].append(time.perf_counter() - started)
    record(
        {
            "dataset": args.work,
            "variant": "onnx-batch-axis",
            "batch": batch,
            "input": list(shape),
            "median_seconds": {name: statistics.median(t) for name, t in times.items()},
        }
    )


def site_packages_bytes(prefix: Path) -> int:
    return sum(f.stat().st_size for f in prefix.rglob("*") if f.is_file() and not f.is_symlink())


def distribution_closure(roots: list[str]) -> dict[str, int]:
    """Bytes on disk of each installed distribution that `roots` need (their non-extra requirements, recursively),
    in this interpreter's environment."""
    from importlib import metadata

    from packaging.requirements import Requirement

    sizes, todo = {}, list(roots)
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower()
        if key in sizes:
            continue
        sizes[key] = sum(
            Path(dist.locate_file(f)).stat().st_size for f in dist.files or [] if Path(dist.locate_file(f)).is_file()
        )
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sizes


def sizes(args) -> None:
    """A fresh venv with the inference-only packages from PyPI (+ autoseg --no-deps), its size next to the full
    environment's (this interpreter's autoseg + torch + extras, measured from the installed files); with --model,
    the venv predicts with --backend onnxruntime to prove it needs nothing more."""
    venv = Path(args.venv)
    shutil.rmtree(venv, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    empty = site_packages_bytes(venv)
    run([*pip, *INFERENCE_ONLY])
    run([*pip, "--no-deps", str(HERE.parents[1])])
    inference = site_packages_bytes(venv) - empty
    full = distribution_closure(["autoseg", "onnx", "onnxruntime"])
    entry = {
        "variant": "install-size",
        "inference_only_mb": round(inference / 1e6, 1),
        "inference_only_packages": INFERENCE_ONLY + ["autoseg (--no-deps)"],
        "full_mb": round(sum(full.values()) / 1e6, 1),
        "torch_mb": round(full.get("torch", 0) / 1e6, 1),
        "full_largest_mb": {k: round(v / 1e6, 1) for k, v in sorted(full.items(), key=lambda kv: -kv[1])[:8]},
    }
    if args.model:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "out"
            command = [
                str(venv / "bin" / "python"),
                "-m",
                "autoseg.cli",
                "predict",
                "--model",
                args.model,
                "-i",
                *args.input,
                "-o",
                str(out),
                "--backend",
                "onnxruntime",
            ]
            probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True)
            entry["venv_has_torch"] = probe.returncode == 0
            run(command)
            entry["venv_predicted_cases"] = len(list(out.glob("*.nii.gz")))
    record(entry)
    if not args.keep:
        shutil.rmtree(venv, ignore_errors=True)
    print(json.dumps(entry, indent=1))


def report(args) -> None:
    results = json.loads(RESULTS.read_text())
    lines = [
        "# Deploying without PyTorch: torch vs onnxruntime (issue 31)",
        "",
        "Written by `python benchmarks/deploy/run.py report` from results.json.",
        "",
        "| dataset | TTA | variant | cases | s/case (mean) | s/case (median) | start-up s | "
        "labels vs first variant | CPU | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "seconds_per_case" in r:
            m = r["machine"]
            lines.append(
                f"| {r['dataset']} | {'yes' if r['tta'] else 'no'} | {r['variant']} | {r['cases']} | "
                f"{r['seconds_per_case']:.3f} | {r['median_case_seconds']:.3f} | {r['startup_seconds']} | "
                f"{_agreement_words(r)} | {m['cpu']} ({m['cores']} cores) | {m['load_average'][0]:.2f} |"
            )
    for r in results:
        if r["variant"] == "onnx-batch-axis":
            lines += [
                "",
                f"ONNX batch axis ({r['input']}, batch {r['batch']}): median seconds per forward pass "
                f"{json.dumps({k: round(v, 4) for k, v in r['median_seconds'].items()})}",
            ]
        if r["variant"] == "install-size":
            lines += [
                "",
                f"Install size: inference-only venv {r['inference_only_mb']} MB "
                f"({', '.join(r['inference_only_packages'])}); full environment {r['full_mb']} MB "
                f"(torch alone {r['torch_mb']} MB; largest: {r['full_largest_mb']})"
                + (
                    f"; the venv has torch: {r['venv_has_torch']}, predicted "
                    f"{r['venv_predicted_cases']} case(s) with --backend onnxruntime"
                    if "venv_has_torch" in r
                    else ""
                ),
            ]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _agreement_words(r: dict) -> str:
    if "compared_with" not in r:
        return "(reference)" if r.get("label_reference") else "not compared"
    return f"{r['identical_cases']}/{r['cases']} identical to {r['compared_with']}, min Dice {r['min_case_dice']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("prepare")
    p.add_argument("dataset")
    p.add_argument("work")
    p.add_argument("--time-budget", default="10m")
    p.add_argument("--configuration", default="3d_fullres")
    p = verbs.add_parser("time")
    p.add_argument("name")
    p.add_argument("work")
    p.add_argument("-i", "--input", nargs="+", required=True)
    p.add_argument("--limit", type=int)
    p.add_argument("--channels", type=int, default=1, help="image files per case")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p = verbs.add_parser("batch")
    p.add_argument("work")
    p.add_argument("--configuration", default="3d_fullres")
    p.add_argument("--repeats", type=int, default=20)
    p = verbs.add_parser("sizes")
    p.add_argument("--venv", default=str(Path(tempfile.gettempdir()) / "autoseg-inference-venv"))
    p.add_argument("--model", help="a model exported with --onnx: predict with it inside the venv")
    p.add_argument("-i", "--input", nargs="+", help="images for --model")
    p.add_argument("--keep", action="store_true")
    verbs.add_parser("report")
    args = parser.parse_args()
    {"prepare": prepare, "time": time_predictions, "batch": batch_shapes, "sizes": sizes, "report": report}[args.verb](
        args
    )


if __name__ == "__main__":
    main()
