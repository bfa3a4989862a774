"""Issue 18, inference part: seconds per case and peak RAM of prediction on large volumes and on small cases.

One measurement per process (peak RSS is the process's), appended to results.json with its command, machine and
load average. Run each under `cpu-lock exclusive`, one at a time:

    python benchmarks/large_volume/run.py case WORK DATASET CASE_ID [--no-tta | --fast] [--random-weights]
    python benchmarks/large_volume/run.py ct WORK [--shape 400 512 512] [--step 1.0] [--random-weights]
    python benchmarks/large_volume/run.py small WORK IMAGES_DIR OUT [--limit 60]

`case`: one case of a dataset through predict_case (read, preprocess, sliding window, restore, labels,
uncertainty). `ct`: a synthetic 512x512x400-voxel volume (smooth random blobs, the plan's channel count, 1 mm)
through the same path. `--random-weights` builds the plan's network untrained: time and memory do not depend on
the weights, and it lets a plan sized without contention stand in when no such model is trained. `small`: the
whole `autoseg predict` of a folder, start-up (imports, model loading) timed apart from the per-case loop.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

STARTED = time.monotonic()
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def models_for(work: Path, config, random_weights: bool):
    from autoseg.inference.models import LoadedModel, load_model
    from autoseg.networks import build_network, reparameterize

    if not random_weights:
        return [load_model(work, config.name, 0, torch.device("cpu"))]
    torch.manual_seed(0)
    network = build_network(config.network).eval()
    reparameterize(network)  # as load_model does
    return [LoadedModel("random", network, config.network)]


def settings_for(args, work: Path, models):
    from autoseg.inference.fast_mode import FAST_STEP, FAST_TTA_AXES
    from autoseg.inference.precision import inference_precision, training_precision
    from autoseg.inference.predictor import InferenceSettings

    step = args.step or (FAST_STEP if args.fast else 0.5)
    settings = InferenceSettings(tta=not args.no_tta, step=step, tta_axes=FAST_TTA_AXES if args.fast else None)
    trained = [training_precision(work, args.configuration, m.fold) for m in models]
    settings.precision = inference_precision(args.precision, settings.device, trained)
    return settings


def predict_one(work: Path, image: np.ndarray, geometry, args) -> dict:
    from autoseg.inference.export import labels_from_probabilities, uncertainty
    from autoseg.inference.predictor import predict_case
    from autoseg.inference.sliding_window import window_corners
    from autoseg.schema.plans import load_plans

    plans = load_plans(work)
    config = plans.configuration(args.configuration)
    models = models_for(work, config, args.random_weights)
    settings = settings_for(args, work, models)
    started = time.monotonic()
    probabilities, properties = predict_case(image, geometry, plans, config, models, settings)
    labels = labels_from_probabilities(probabilities, plans.regions_class_order)
    spread = uncertainty(probabilities, labels, plans.regions_class_order)
    seconds = time.monotonic() - started
    window = [1, *config.patch_size] if config.spatial_dims == 2 else config.patch_size
    shape = properties.get("shape_after_resample") or list(image.shape[1:])
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "windows": len(window_corners([max(s, w) for s, w in zip(shape, window)], window, settings.step)),
        "patch": config.patch_size,
        "step": settings.step,
        "precision": settings.precision,
        "tta": settings.tta,
        "tta_axes": settings.tta_axes,
        "image_shape": list(image.shape),
        "probabilities_dtype": str(probabilities.dtype),
        "foreground_voxels": spread["foreground_voxels"],
        "random_weights": args.random_weights,
    }


def case_command(args) -> dict:
    from autoseg.data.dataset import load_dataset, read_case

    info = load_dataset(args.dataset)
    case = next(c for c in info.training if c.case_id == args.case_id)
    image, geometry = read_case(case, info)
    return {"what": f"case {args.case_id}", **predict_one(Path(args.work), image, geometry, args)}


def ct_command(args) -> dict:
    from scipy import ndimage

    from autoseg.data.geometry import default_geometry
    from autoseg.schema.plans import load_plans

    channels = len(load_plans(args.work).channel_names)
    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(channels, *[max(2, s // 32) for s in args.shape])).astype(np.float32)
    image = np.stack(
        [ndimage.zoom(c, [s / c.shape[i] for i, s in enumerate(args.shape)], order=1) for c in coarse]
    ).astype(np.float32)
    del coarse
    geometry = default_geometry(tuple(args.shape), (1.0, 1.0, 1.0))
    return {
        "what": f"synthetic volume {'x'.join(map(str, args.shape))}, {channels} channel(s)",
        **predict_one(Path(args.work), image, geometry, args),
    }


def small_command(args) -> dict:
    from autoseg.inference.run import predict

    imports = time.monotonic() - STARTED
    files = sorted(Path(args.images).glob("*.nii.gz"))[: args.limit]
    started = time.monotonic()
    report = predict(
        args.work,
        [str(f) for f in files],
        args.output,
        configurations=[args.configuration],
        folds=["0"],
        tta=not args.no_tta,
        overwrite=True,
        progress=False,
        precision=args.precision,
        compile_mode=args.compile,
    )
    total = time.monotonic() - started
    per_case = [c["seconds"] for c in report["cases"].values()]
    return {
        "what": f"{len(files)} cases of {args.images}",
        "import_seconds": round(imports, 2),
        "predict_call_seconds": round(total, 2),
        "seconds_per_case_in_loop": report["seconds_per_case"],
        "median_case_seconds": float(np.median(per_case)),
        "start_up_seconds": round(total - report["seconds_per_case"] * len(files), 2),
        "precision": report["cases"][next(iter(report["cases"]))]["settings"].get("precision"),
        "tta": not args.no_tta,
        "compiled": report["compiled"],
        "first_case_seconds": per_case[0] if per_case else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    for name in ("case", "ct", "small"):
        p = sub.add_parser(name)
        p.add_argument("work")
        p.add_argument("-c", "--configuration", default="3d_fullres")
        p.add_argument("--no-tta", action="store_true")
        p.add_argument("--fast", action="store_true")
        p.add_argument("--step", type=float)
        p.add_argument("--precision", default="auto")
        p.add_argument("--random-weights", action="store_true")
        p.add_argument("--label", default="", help="a name for this row in results.md")
    sub.choices["case"].add_argument("dataset")
    sub.choices["case"].add_argument("case_id")
    sub.choices["ct"].add_argument("--shape", type=int, nargs=3, default=[400, 512, 512])
    sub.choices["small"].add_argument("images")
    sub.choices["small"].add_argument("output")
    sub.choices["small"].add_argument("--limit", type=int, default=60)
    sub.choices["small"].add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    args = parser.parse_args()
    result = {"case": case_command, "ct": ct_command, "small": small_command}[args.mode](args)
    from autoseg.benchmark.machine import load_average, machine_info

    record = {
        "label": args.label,
        "command": "python benchmarks/large_volume/run.py " + " ".join(sys.argv[1:]),
        **result,
        "machine": machine_info(),
        "load_average": load_average(),
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    records = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    records.append(record)
    RESULTS.write_text(json.dumps(records, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
