"""The `autoseg` command: one verb per pipeline stage, each a thin call into the library.

Errors a user can fix (AutosegError) print as one line and exit with status 2; anything else is our bug and
keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from autoseg.errors import AutosegError
from autoseg.layout.work import CHECKPOINT_BEST, CHECKPOINT_FINAL

VERBS: dict[str, tuple[str, Callable, Callable]] = {}


def verb(name: str, help_text: str):
    def register(pair):
        configure, run = pair
        VERBS[name] = (help_text, configure, run)
        return pair
    return register


def _demo_args(p):
    p.add_argument("-o", "--output", default="autoseg_demo", metavar="DIR",
                   help="folder for the dataset, plans, model, predictions and scores (default: ./autoseg_demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in that folder")
    p.add_argument("--training-time", help="training time of the model (default 3m: the demo takes ~5 min)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _demo(a):
    from autoseg.demo import demo
    demo(a.output, overwrite=a.overwrite, device=a.device,
         **({"training_time": a.training_time} if a.training_time else {}))
    return 0


verb("demo", "plan, train, predict and evaluate a small synthetic dataset in a few minutes")((_demo_args, _demo))


def _verify_args(p):
    p.add_argument("dataset", help="dataset folder (nnU-Net v2 or MSD layout), or a folder of DICOM series")
    p.add_argument("--workers", type=int, default=2)


def _verify(a):
    from autoseg.data.dicom.commands import is_dicom_folder
    from autoseg.data.dicom.commands import verify as verify_dicom
    if is_dicom_folder(a.dataset):
        return verify_dicom(a.dataset)  # a folder of DICOM series: modality, slices, spacing, problems per series
    from autoseg.data.verify import verify_dataset
    report = verify_dataset(a.dataset, max_workers=a.workers)
    if report.ok:
        print(f"{a.dataset}: OK ({len(report.cases)} training cases)")
        return 0
    for line in report.problems:
        print(line)
    print(f"{len(report.problems)} problem(s) found", file=sys.stderr)
    return 1


verb("verify", "check a dataset for every problem a user can make")((_verify_args, _verify))


def _plan_args(p):
    p.add_argument("dataset", help="dataset folder (nnU-Net v2 or MSD layout)")
    p.add_argument("-o", "--output", required=True, metavar="WORK", help="work folder for every artifact")
    p.add_argument("--preset", default="default", help="planner preset name (plans/*.json) or path")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--time-budget", help="CPU: training time each configuration is sized for (e.g. 15m)")
    p.add_argument("--gpu-memory", type=float, help="GPU: memory in GB the plans may use")
    p.add_argument("--cpu-gflops", type=float, help="CPU: skip measuring, assume this training speed")
    p.add_argument("-c", "--configurations", nargs="+", help="only preprocess these configurations")
    p.add_argument("--split-mode", default="auto", choices=["auto", "random", "grouped", "consecutive"])
    p.add_argument("--splits", help="use this splits.json instead of making folds")
    p.add_argument("--groups", help="JSON {case_id: group} for grouped folds (one patient stays in one fold)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-preprocess", action="store_true", help="write the plans only")
    p.add_argument("--overwrite", action="store_true", help="re-plan into an existing WORK folder")
    p.add_argument("--workers", type=int, help="processes for fingerprint and preprocessing (default 2)")
    p.add_argument("--regions", metavar="REGIONS.json", help="train region-based labels defined in this file "
                   "(overrides dataset.json's labels): {\"labels\": {name: [values]}, \"regions_class_order\": "
                   "[...]}, e.g. benchmarks/brats/regions.json")
    p.add_argument("--plans-from", metavar="OTHER_WORK", help="take the configurations (spacing, patch, network, "
                   "training) of another WORK folder or plans.json, so 'train --init-from' its model fits")


def _plan(a):
    from autoseg.plan_command import plan
    from autoseg.planning.summary import describe_plans
    plans = plan(a.dataset, a.output, preset=a.preset, device=a.device, time_budget=a.time_budget,
                 gpu_memory_gb=a.gpu_memory, cpu_gflops=a.cpu_gflops, configurations=a.configurations,
                 split_mode=a.split_mode, splits_file=a.splits, groups_file=a.groups, folds=a.folds, seed=a.seed,
                 preprocess=not a.no_preprocess, overwrite=a.overwrite, workers=a.workers,
                 regions_file=a.regions, plans_from=a.plans_from)
    print(describe_plans(plans))
    return 0


verb("plan", "fingerprint a dataset, plan every configuration, make folds, preprocess")((_plan_args, _plan))


def _preprocess_args(p):
    p.add_argument("work", help="work folder with plans.json (written by 'autoseg plan')")
    p.add_argument("-c", "--configurations", nargs="+", help="only these configurations (default: every one)")
    p.add_argument("--workers", type=int, help="preprocessing processes (default 2)")


def _preprocess(a):
    from autoseg.preprocessing.run import preprocess
    folders = preprocess(a.work, a.configurations, workers=a.workers)
    for identifier, folder in folders.items():
        print(f"{identifier}: {folder}")
    return 0


verb("preprocess", "(re)build the preprocessed cache of plans.json, skipping what is up to date")(
    (_preprocess_args, _preprocess))


def _networks_args(p):
    p.add_argument("work", nargs="?", help="work folder with plans.json (optional)")
    p.add_argument("-c", "--configuration", default="3d_fullres")


def _networks(a):
    from autoseg.networks.describe import describe_architectures, format_table
    spec = patch = batch = None
    if a.work:
        from autoseg.schema.plans import load_plans
        cfg = load_plans(a.work).configuration(a.configuration)
        spec, patch, batch = cfg.network, cfg.patch_size, cfg.batch_size
        print(f"{a.configuration}: patch {patch}, batch {batch}")
    print(format_table(describe_architectures(spec, patch, batch)))
    return 0


verb("networks", "list the registered architectures (with a plan: their cost for it)")((_networks_args, _networks))


def _train_args(p):
    p.add_argument("work", help="work folder written by 'autoseg plan'")
    p.add_argument("-c", "--configuration", help="e.g. 2d, 3d_fullres (required unless --total-budget)")
    p.add_argument("-f", "--fold", help="fold number, 'all' (train on every case), or a list: 0 1 2 (default 0)",
                   nargs="+")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", help="training wall time, e.g. 15m (default: what the plan was sized for)")
    budget.add_argument("--epochs", type=int, help="train a number of epochs instead of a time budget")
    budget.add_argument("--total-budget", help="wall time of the whole job, e.g. 1h: autoseg chooses the "
                        "configurations and folds, stops losers early, runs find-best (WORK/schedule.json; no -c/-f)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from checkpoint_latest.pt")
    p.add_argument("--extend", action="store_true", help="train a finished run further (--time-budget/--epochs more)")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run of this fold and start again")
    p.add_argument("--deterministic", action="store_true", help="seeded, single-process, deterministic algorithms")
    p.add_argument("--workers", help="background augmentation processes (default: auto)")
    p.add_argument("--no-validation", action="store_true", help="skip the full-image validation at the end")
    p.add_argument("--init-from", metavar="MODEL", help="start from the matching weights of a model zip, model or "
                   "WORK folder, or checkpoint_*.pt (others re-initialised; see fold_k/init_from.json)")
    from autoseg.execution.options import add_ray_arguments
    add_ray_arguments(p)
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments
    add_mlflow_arguments(p)


def _train(a):
    if a.total_budget:
        from autoseg.scheduling.command import run_schedule_command
        return run_schedule_command(a)
    if not a.configuration:
        raise AutosegError("train needs -c CONFIGURATION, or --total-budget to let autoseg choose",
                           fix="e.g. autoseg train WORK -c 3d_fullres -f 0, or autoseg train WORK --total-budget 1h")
    from autoseg.execution.options import executor_from_arguments
    from autoseg.execution.training_task import run_jobs
    from autoseg.training.job import TrainingJob
    jobs = [TrainingJob(a.work, a.configuration, fold, time_budget=a.time_budget, epochs=a.epochs, device=a.device,
                        resume=a.resume, extend=a.extend, overwrite=a.overwrite, deterministic=a.deterministic,
                        workers=a.workers, validate=not a.no_validation, init_from=a.init_from)
            for fold in a.fold or ["0"]]
    from autoseg.tracking.options import context_from_arguments, work_experiment
    tracking = context_from_arguments(a, a.work, lambda: work_experiment(a.work))
    with executor_from_arguments(a) as executor:
        for job, summary in run_jobs(executor, jobs, tracking=tracking):
            _print_training(job.fold, a.configuration, summary)
    return 0


def _print_training(fold, configuration, summary) -> None:
    if summary:
        dice = summary.get("validation_dice")
        where = summary.get("ran_on") or {}
        print(f"{configuration} fold {fold}: {summary['iterations']} iterations in "
              f"{summary['training_seconds']:.0f} s ({summary['iterations_per_second']:.2f} it/s), peak RAM "
              f"{summary['peak_ram_mb']:.0f} MB" + (f", validation Dice {dice:.4f}" if dice is not None else "")
              + (f", on node {str(where['node_id'])[:12]} ({where['host']})" if where.get("retries") is not None
                 and where.get("node_id") != "local" else ""))


verb("train", "train one configuration on one fold (or several) within a time budget")((_train_args, _train))


def _predict_args(p):
    p.add_argument("work", nargs="?", help="work folder with plans.json and trained models (or use --model)")
    p.add_argument("--model", help="an exported model instead of WORK: model.zip or its (imported) folder")
    p.add_argument("-i", "--input", required=True, nargs="+", help="folder of images (dataset naming) or files, "
                   "or a folder of DICOM series (one series per case; README 'DICOM')")
    p.add_argument("--output-format", default="nifti", choices=["nifti", "dicom-seg", "both"],
                   help="nifti: label maps in the input's format (NIfTI for DICOM input); dicom-seg: one DICOM "
                   "Segmentation per case referencing its series (DICOM input); both")
    p.add_argument("-o", "--output", required=True, help="folder for the segmentations")
    p.add_argument("-c", "--configurations", nargs="+", help="configuration(s) to ensemble (default: find-best's "
                   "choice, else 3d_fullres or 2d)")
    p.add_argument("-f", "--folds", nargs="+", help="folds to ensemble (default: every trained fold)")
    p.add_argument("--no-tta", action="store_true", help="no mirror test-time augmentation (faster)")
    p.add_argument("--save-probabilities", action="store_true", help="also write class probabilities (.npz)")
    p.add_argument("--no-postprocessing", action="store_true", help="skip the postprocessing find-best chose")
    p.add_argument("--checkpoint", default=CHECKPOINT_FINAL, help=f"or {CHECKPOINT_BEST}")
    p.add_argument("--step", type=float, default=None, help="sliding-window step as a fraction of the patch "
                   "(default 0.5)")
    p.add_argument("--tta-axes", type=int, nargs="+", help="mirror only these of the plan's mirror axes "
                   "(0 = z, the first axis of plans.json's order)")
    p.add_argument("--fast", action="store_true", help="fast mode: step 0.75 and mirroring along the last axis "
                   "only (2 variants instead of 8); its Dice cost is in benchmarks/large_volume/results.md")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="number format of the networks (auto: the one training chose, where this machine runs it "
                   "fast)")
    p.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                   help="torch.compile the networks (auto: when training compiled them and there are at least 50 "
                   "cases; the first case then includes the compile)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"],
                   help="torch (default), or onnxruntime: the ONNX networks of a model exported with --onnx, "
                   "predicted without PyTorch (CPU, fp32)")
    p.add_argument("--overwrite", action="store_true", help="replace existing predictions in the output folder")
    from autoseg.execution.options import add_ray_arguments
    add_ray_arguments(p)


def _predict(a):
    if bool(a.work) == bool(a.model):
        raise AutosegError("pass either a WORK folder or --model MODEL", fix="e.g. autoseg predict --model "
                           "model.zip -i IMAGES -o OUTPUT")
    if a.model:
        from autoseg.layout.model_folder import opened_model
        with opened_model(a.model) as folder:
            return _predict_with(folder, a)
    return _predict_with(a.work, a)


def _predict_with(work, a):
    from autoseg.inference.run import predict
    if a.ray:
        from autoseg.execution.options import executor_from_arguments
        from autoseg.execution.predict_shards import predict_on_cluster
        with executor_from_arguments(a) as executor:
            report = predict_on_cluster(executor, work, a.input, a.output, configurations=a.configurations,
                                        folds=a.folds, tta=not a.no_tta, save_probabilities=a.save_probabilities,
                                        device=a.device, overwrite=a.overwrite, checkpoint=a.checkpoint,
                                        postprocessing=not a.no_postprocessing, **_speed_options(a))
        print(f"{len(report['cases'])} case(s) segmented into {a.output} in {len(report['shards'])} shard(s)")
        return 0
    report = predict(work, a.input, a.output, configurations=a.configurations, folds=a.folds, tta=not a.no_tta,
                     save_probabilities=a.save_probabilities, device=a.device, overwrite=a.overwrite,
                     checkpoint=a.checkpoint, postprocessing=not a.no_postprocessing,
                     output_format=getattr(a, "output_format", "nifti"), **_speed_options(a))
    print(f"{len(report['cases'])} case(s) segmented into {a.output} ({report['seconds_per_case']:.2f} s per case)")
    return 0


def _speed_options(a) -> dict:
    """--step, --tta-axes, --precision, and --fast (FAST_STEP, last axis mirrored) where they are not given."""
    from autoseg.inference.fast_mode import FAST_STEP, FAST_TTA_AXES
    step = a.step if a.step is not None else (FAST_STEP if a.fast else 0.5)
    axes = a.tta_axes if a.tta_axes is not None else (FAST_TTA_AXES if a.fast else None)
    return {"step": step, "tta_axes": axes, "precision": a.precision, "compile_mode": getattr(a, "compile", "auto"),
            "backend": getattr(a, "backend", "torch")}


verb("predict", "segment new images (sliding window, TTA, ensembles, postprocessing)")((_predict_args, _predict))


def _find_best_args(p):
    p.add_argument("work", help="work folder with cross-validation runs")
    p.add_argument("-c", "--configurations", nargs="+", help="only compare these (default: every trained one)")


def _find_best(a):
    from autoseg.inference.find_best import find_best
    result = find_best(a.work, a.configurations)
    for name, dice in sorted(result["cv_dice"].items(), key=lambda kv: -kv[1]):
        print(f"  {name}: CV Dice {dice:.4f}")
    print(f"chosen: {'+'.join(result['configurations'])} (folds {result['folds']}), postprocessing: "
          f"{result['postprocessing'] or 'none'}; written to {a.work}/inference.json")
    return 0


verb("find-best", "choose configurations/ensemble and postprocessing from cross-validation")(
    (_find_best_args, _find_best))


def _sharing(name: str):
    """The sharing verbs live in autoseg/sharing/commands.py; imported only when the parser is built."""
    def configure(p):
        from autoseg.sharing import commands
        commands.VERBS[name][0](p)

    def run(a):
        from autoseg.sharing import commands
        return commands.VERBS[name][1](a)
    return configure, run


verb("export", "write a trained model to a zip or folder for predicting elsewhere (with a model card)")(
    _sharing("export"))
verb("import", "check and unpack a model zip into a models folder")(_sharing("import"))
def _dicom_convert():
    """`convert dicom` lives in autoseg/data/dicom/commands.py; imported only when the parser is built."""
    def configure(p):
        from autoseg.data.dicom.commands import convert_args
        convert_args(p)

    def run(a):
        from autoseg.data.dicom.commands import convert
        return convert(a)
    return configure, run


verb("convert", "convert DICOM series with DICOM-SEG annotations into an nnU-Net v2 dataset")(_dicom_convert())
verb("convert-checkpoint", "make a trusted checkpoint of an older autoseg load weights-only")(_sharing("convert"))


def _search_args(p):
    p.add_argument("work", help="work folder written by 'autoseg plan'")
    p.add_argument("-c", "--configuration", required=True, help="configuration the search varies, e.g. 3d_fullres")
    p.add_argument("--trials", type=int, help="trials this worker runs (0: only report and export)")
    p.add_argument("--time-budget", help="wall time of this worker, e.g. 2h (no trial starts that would not fit)")
    per_trial = p.add_mutually_exclusive_group()
    per_trial.add_argument("--trial-budget", help="training time per trial, e.g. 10m (default: the plan's budget)")
    per_trial.add_argument("--trial-epochs", type=int, help="train each trial for a number of epochs instead")
    p.add_argument("--storage", help="Optuna RDB URL shared by workers, e.g. postgresql://user@host/db "
                   "(default: sqlite file WORK/search/STUDY.db)")
    p.add_argument("--study", help="study name; an existing study is continued (default: CONFIGURATION_search)")
    p.add_argument("--space", help="JSON file narrowing/widening the search space (see autoseg/search/space.py)")
    p.add_argument("--pruner", default="median", choices=["median", "halving", "hyperband", "none"])
    p.add_argument("-f", "--fold", default="0", help="fold every trial trains and is scored on")
    p.add_argument("--seed", type=int, help="sampler seed (give every worker its own)")
    p.add_argument("--export", help="configuration name for the best trial (default CONFIGURATION_search)")
    p.add_argument("--no-export", action="store_true", help="do not write the best trial into plans.json")
    p.add_argument("--overwrite", action="store_true", help="replace an exported configuration with trained folds")
    p.add_argument("--no-baseline", action="store_true", help="do not start a new study with the plan's own values")
    p.add_argument("--no-architecture-sweep", action="store_true",
                   help="do not start a new study with one trial per architecture at the plan's other values")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--workers", help="background augmentation processes per trial (default: auto)")
    from autoseg.execution.options import add_ray_arguments
    add_ray_arguments(p)
    p.add_argument("--search-workers", type=int, help="with --ray: Optuna workers on the cluster, each a Ray "
                   "task (default: as many as trainings fit); --trials is then the total")
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments
    add_mlflow_arguments(p, parent=False)


def _search(a):
    from autoseg.search.run import search
    from autoseg.tracking.options import context_from_arguments, work_experiment
    tracking = context_from_arguments(a, a.work, lambda: work_experiment(a.work, a.study or
                                                                         f"{a.configuration}_search"))
    options = dict(trials=a.trials, time_budget=a.time_budget, storage=a.storage,
                    study=a.study, space=a.space, pruner=a.pruner, fold=a.fold, trial_budget=a.trial_budget,
                    trial_epochs=a.trial_epochs, seed=a.seed, export="" if a.no_export else a.export,
                    overwrite=a.overwrite, baseline=not a.no_baseline, architecture_sweep=not a.no_architecture_sweep,
                    device=a.device, workers=a.workers, tracking=tracking)
    if a.ray:
        from autoseg.execution.options import executor_from_arguments
        from autoseg.search.cluster import search_on_cluster
        with executor_from_arguments(a) as executor:
            result = search_on_cluster(executor, a.search_workers, a.work, a.configuration, **options)
    elif a.search_workers:
        raise AutosegError("--search-workers needs --ray", fix="add --ray local (or a cluster's address), or "
                           "start `autoseg search` once per worker with a shared --storage")
    else:
        result = search(a.work, a.configuration, **options)
    states = ", ".join(f"{n} {s.lower()}" for s, n in result["states"].items())
    print(f"study {result['study']}: {result['trials']} trials ({states}); report {result['report']}")
    if result["best"]:
        print(f"best: trial {result['best']['number']}, validation Dice {result['best']['value']:.4f}")
    if result["exported"]:
        print(f"exported as configuration '{result['exported']['name']}' in {a.work}/plans.json: "
              f"autoseg train {a.work} -c {result['exported']['name']}")
    return 0


verb("search", "Optuna search over architectures and training choices; the best becomes a configuration")(
    (_search_args, _search))


def _evaluate_args(p):
    p.add_argument("predictions", help="folder of predicted label maps")
    p.add_argument("references", help="folder of reference label maps (same file names)")
    p.add_argument("-o", "--output", help="summary.json to write (default PREDICTIONS/summary.json)")
    p.add_argument("--dataset", help="dataset folder: take class names (and the ignore label) from its "
                   "dataset.json, and the images for --overlays")
    p.add_argument("--file-ending", help="ending of the label maps, e.g. .nii.gz (default: the one ending the "
                   "reference files share); the errors about mixed endings ask for it")
    p.add_argument("--tolerance", type=float, default=1.0, help="surface Dice tolerance in mm")
    p.add_argument("--ignore-label", type=int, metavar="N", help="leave voxels whose reference is N out of every "
                   "score (default: dataset.json's 'ignore' label with --dataset, else none)")
    p.add_argument("--regions", metavar="REGIONS.json", help="score regions (each the union of its label values) "
                   "defined in this regions file or a WORK/plans.json; a --dataset with regions in its "
                   "dataset.json is scored by regions without it")
    p.add_argument("--overlays", type=int, default=0, metavar="N", help="also save overlay PNGs of the N worst "
                   "cases into SUMMARY_overlays/ next to the summary (needs --dataset)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--overwrite", action="store_true")


def _evaluate(a):
    from pathlib import Path

    from autoseg.evaluation.summary import evaluate_folders
    from autoseg.utils.files import ensure_new_output
    out = Path(a.output) if a.output else Path(a.predictions) / "summary.json"
    ensure_new_output(out, a.overwrite)
    overlay_dir = _overlay_folder(a, out)
    info = None
    if a.dataset:
        from autoseg.data.dataset import load_dataset
        info = load_dataset(a.dataset)
    ignore = _ignore_label(a, info)
    regions = _evaluation_regions(a, info)
    if regions:
        from autoseg.evaluation.regions import evaluate_region_folders
        summary = evaluate_region_folders(a.predictions, a.references, regions, file_ending=a.file_ending,
                                          workers=a.workers, tolerance_mm=a.tolerance, ignore_label=ignore)
    else:
        summary = evaluate_folders(a.predictions, a.references, labels=info.labels if info else None,
                                   file_ending=a.file_ending, workers=a.workers, tolerance_mm=a.tolerance,
                                   ignore_label=ignore)
    if overlay_dir is not None:
        _check_overlay_cases(summary, info, a.overlays)   # before summary.json: no half-finished evaluation
    from autoseg.utils.files import write_json
    write_json(out, summary)
    _print_summary(summary)
    print(f"wrote {out}")
    if overlay_dir is not None:
        _save_overlays(summary, info, overlay_dir, a.overlays)
    return 0


def _ignore_label(a, info):
    """--ignore-label N, else the dataset's ignore label; N must be a label value (a whole number >= 0)."""
    if a.ignore_label is None:
        return info.ignore_label if info else None
    if a.ignore_label < 0:
        raise AutosegError(f"--ignore-label {a.ignore_label} is negative", fix="pass the label value to leave out, "
                           "e.g. --ignore-label 255")
    return a.ignore_label


def _check_overlay_cases(summary, info, n):
    from autoseg.evaluation.overlays import worst_cases
    images = {case.case_id: case.image_files for case in [*info.training, *info.test]}
    missing = [case["case"] for case, _ in worst_cases(summary, n) if case["case"] not in images]
    absent = [f for case, _ in worst_cases(summary, n) for f in images.get(case["case"], []) if not f.is_file()]
    if missing:
        raise AutosegError(f"the dataset has no image for case(s) {', '.join(missing[:5])}, which the overlays need",
                           info.root, "pass as --dataset the dataset the predicted images come from")
    if absent:
        raise AutosegError("image file of a case to draw is missing", absent[0],
                           "restore it, or drop --overlays")


def _evaluation_regions(a, info):
    """--regions FILE (checked against --dataset's label values when given), else the dataset's own regions."""
    if a.regions:
        from autoseg.evaluation.regions import regions_for_evaluation
        declared = {v for v in info.labels.values() if v != 0} if info else None
        return regions_for_evaluation(a.regions, declared, info.ignore_label if info else None)
    return info.regions if info else None


def _overlay_folder(a, out):
    """Where --overlays goes (None without it), checked before the scoring: the images come from --dataset."""
    if a.overlays < 0:
        raise AutosegError(f"--overlays {a.overlays} is negative", fix="pass the number of cases to draw, e.g. 4")
    if a.overlays == 0:
        return None
    if not a.dataset:
        raise AutosegError("--overlays needs --dataset: the overlays draw the images, which are in the dataset",
                           fix="add --dataset DATASET (the folder with dataset.json), or drop --overlays")
    from autoseg.utils.files import ensure_new_output
    return ensure_new_output(out.parent / f"{out.stem}_overlays", a.overwrite)


def _save_overlays(summary, info, overlay_dir, n):
    from autoseg.evaluation.overlays import save_summary_overlays
    images = {case.case_id: case.image_files for case in [*info.training, *info.test]}
    written = save_summary_overlays(summary, images, overlay_dir, n, dataset=info.root)
    print(f"wrote {len(written)} overlay(s) of the worst cases to {overlay_dir}: " +
          ", ".join(f"{path.stem} (Dice {dice:.4f})" for path, dice in written))


def _print_summary(summary):
    fg = summary["foreground_mean"]
    print(f"{summary['n_cases']} cases, foreground mean: " +
          ", ".join(f"{k} {fg[k]:.4f}" for k in ("Dice", "IoU", "HD95", "ASSD", "NSD") if k in fg))
    for name, stats in summary["per_class"].items():
        values = f" {summary['regions'][name]}" if summary.get("regions") else ""  # a region's label values
        print(f"  {name}{values}: Dice {stats['mean']['Dice']:.4f}, HD95 {stats['mean']['HD95']:.2f} mm")


verb("evaluate", "score predictions against references (Dice, HD95, NSD, ...)")((_evaluate_args, _evaluate))


def _benchmark_args(p):
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folder(s) (nnU-Net v2 or MSD layout)")
    p.add_argument("-o", "--output", required=True, metavar="REPORT", help="new folder for the report and runs")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", default="15m", help="training time per configuration and fold")
    budget.add_argument("--epochs", type=int, help="train a number of epochs instead (quick checks)")
    p.add_argument("--configs", nargs="+", help="configurations to train (default: every planned one; a cascade "
                   "brings its 3d_lowres stage, trained on every fold its folds need)")
    p.add_argument("--folds", nargs="+", type=int, default=[0], help="folds to train; their validation cases are "
                   "scored unless the dataset has labelled test cases")
    p.add_argument("--preset", default="default", help="planner preset name (plans/*.json) or path")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--cpu-gflops", type=float, help="CPU: skip measuring, assume this training speed")
    p.add_argument("--cv-folds", type=int, help="folds the plan makes (plan --folds; default 5)")
    p.add_argument("--regions", metavar="REGIONS.json", help="plan --regions: train and score these regions")
    p.add_argument("--total-budget", help="one training budget per dataset, spent by the scheduler (train "
                   "--total-budget): it chooses configurations and folds; --time-budget then sizes the plan")
    from autoseg.execution.options import add_ray_arguments
    add_ray_arguments(p)   # --ray: the datasets side by side, one Ray task each
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments
    add_mlflow_arguments(p, parent=False)   # without URI: REPORT/mlflow.db; experiment "autoseg benchmark"


def _benchmark(a):
    from autoseg.execution.options import executor_from_arguments
    with executor_from_arguments(a) as executor:
        return _benchmark_on(a, executor if a.ray else None)


def _benchmark_on(a, executor):
    from autoseg.benchmark.run import benchmark
    from autoseg.tracking.options import requested
    requested(a)   # --mlflow-experiment alone is a mistake
    report = benchmark(a.datasets, a.output, time_budget=a.time_budget, configs=a.configs, folds=a.folds,
                       preset=a.preset, device=a.device, epochs=a.epochs, cpu_gflops=a.cpu_gflops, executor=executor,
                       cv_folds=a.cv_folds, regions=a.regions, total_budget=a.total_budget, mlflow=a.mlflow,
                       mlflow_experiment=a.mlflow_experiment)
    for record in report["datasets"]:
        scores = (record.get("evaluation") or {}).get("tta")
        print(f"{record['dataset']}: " + (f"Dice {scores['foreground_mean']['Dice']:.4f} "
                                          f"({' + '.join(record['evaluation']['configurations'])})" if scores
                                          else f"FAILED: {record['error']}"))
    print(f"report: {a.output}/report.html")
    return 0 if all(r["status"] == "ok" for r in report["datasets"]) else 1


verb("benchmark", "run the whole pipeline on datasets and report accuracy, time and memory per stage")(
    (_benchmark_args, _benchmark))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autoseg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (help_text, configure, _run) in VERBS.items():
        configure(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _version() -> str:
    from autoseg import __version__
    return f"autoseg {__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    from autoseg.utils.logs import setup_console
    setup_console()
    from autoseg.utils.termination import Terminated, sigterm_as_interrupt
    try:
        with sigterm_as_interrupt():
            return int(VERBS[args.verb][2](args) or 0)
    except AutosegError as error:
        print(f"autoseg {args.verb}: error: {error}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"autoseg {args.verb}: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"autoseg {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
