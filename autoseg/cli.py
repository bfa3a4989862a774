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
from autoseg.utils.cli_grammar import add_device_argument, deprecated_alias, one_value

VERBS: dict[str, tuple[str, Callable, Callable]] = {}


def verb(name: str, help_text: str):
    def register(pair):
        configure, run = pair
        VERBS[name] = (help_text, configure, run)
        return pair

    return register


def _demo_args(p):
    p.add_argument(
        "-o",
        "--output",
        default="autoseg_demo",
        metavar="DIR",
        help="folder for the dataset, plans, model, predictions and scores (default: ./autoseg_demo)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in that folder")
    deprecated_alias(
        p,
        "--training-time",
        p.add_argument(
            "--time-budget", help="training time of the model, e.g. 3m or 90s (default 3m: the demo takes ~5 min)"
        ),
    )
    add_device_argument(p)


def _demo(a):
    from autoseg.demo import demo

    demo(
        a.output, overwrite=a.overwrite, device=a.device, **({"training_time": a.time_budget} if a.time_budget else {})
    )
    return 0


verb("demo", "plan, train, predict and evaluate a small synthetic dataset in a few minutes")((_demo_args, _demo))


def _verify_args(p):
    p.add_argument("dataset", help="dataset folder (nnU-Net v2 or MSD layout), or a folder of DICOM series")
    deprecated_alias(
        p,
        "--workers",
        p.add_argument("--processes", type=int, default=2, help="processes reading the cases (default 2)"),
    )


def _verify(a):
    from autoseg.data.dicom.commands import is_dicom_folder
    from autoseg.data.dicom.commands import verify as verify_dicom

    if is_dicom_folder(a.dataset):
        return verify_dicom(a.dataset)  # a folder of DICOM series: modality, slices, spacing, problems per series
    from autoseg.data.verify import verify_dataset

    report = verify_dataset(a.dataset, max_workers=a.processes)
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
    p.add_argument("--preset", default="default", help="planner preset name (plans/*.json) or path (default: default)")
    add_device_argument(p)
    p.add_argument(
        "--time-budget",
        help="CPU: training time one training of each configuration is sized for, "
        "e.g. 15m (default: the preset's, 15m in default)",
    )
    p.add_argument("--gpu-memory", type=float, help="GPU: memory in GB the plans may use (default: the GPU's)")
    p.add_argument(
        "--cpu-gflops",
        type=float,
        help="CPU: skip measuring, assume this training speed in GFLOP/s (default: measured)",
    )
    p.add_argument(
        "-c", "--configurations", nargs="+", help="only preprocess these configurations (default: every planned one)"
    )
    p.add_argument(
        "--split-mode",
        default="auto",
        choices=["auto", "random", "grouped", "consecutive"],
        help="how cases are put into folds (default auto: blocks of consecutive cases when they look "
        "like sections of one stack, else random)",
    )
    p.add_argument("--splits", help="use this splits.json instead of making folds (default: make them)")
    p.add_argument(
        "--groups", help="JSON {case_id: group} for grouped folds (one patient stays in one fold; default: none)"
    )
    deprecated_alias(
        p,
        "--folds",
        p.add_argument(
            "--cv-folds", type=int, default=5, help="number of cross-validation folds the plan makes (default 5)"
        ),
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random folds (default 0)")
    p.add_argument("--no-preprocess", action="store_true", help="write the plans only")
    p.add_argument("--overwrite", action="store_true", help="re-plan into an existing WORK folder")
    deprecated_alias(
        p,
        "--workers",
        p.add_argument("--processes", type=int, help="processes for fingerprint and preprocessing (default 2)"),
    )
    p.add_argument(
        "--regions",
        dest="regions_file",
        metavar="REGIONS.json",
        help="train region-based labels defined in this file "
        '(overrides dataset.json\'s labels): {"labels": {name: [values]}, "regions_class_order": '
        "[...]}, e.g. benchmarks/brats/regions.json",
    )
    p.add_argument(
        "--plans-from",
        metavar="OTHER_WORK",
        help="take the configurations (spacing, patch, network, "
        "training) of another WORK folder or plans.json, so 'train --init-from' its model fits",
    )


def _plan(a):
    from autoseg.plan_command import plan
    from autoseg.planning.summary import describe_plans

    plans = plan(
        a.dataset,
        a.output,
        preset=a.preset,
        device=a.device,
        time_budget=a.time_budget,
        gpu_memory_gb=a.gpu_memory,
        cpu_gflops=a.cpu_gflops,
        configurations=a.configurations,
        split_mode=a.split_mode,
        splits_file=a.splits,
        groups_file=a.groups,
        folds=a.cv_folds,
        seed=a.seed,
        preprocess=not a.no_preprocess,
        overwrite=a.overwrite,
        workers=a.processes,
        regions_file=a.regions_file,
        plans_from=a.plans_from,
    )
    print(describe_plans(plans))
    return 0


verb("plan", "fingerprint a dataset, plan every configuration, make folds, preprocess")((_plan_args, _plan))


def _preprocess_args(p):
    p.add_argument("work", help="work folder with plans.json (written by 'autoseg plan')")
    p.add_argument("-c", "--configurations", nargs="+", help="only these configurations (default: every one)")
    deprecated_alias(
        p, "--workers", p.add_argument("--processes", type=int, help="preprocessing processes (default 2)")
    )


def _preprocess(a):
    from autoseg.preprocessing.run import preprocess

    folders = preprocess(a.work, a.configurations, workers=a.processes)
    for identifier, folder in folders.items():
        print(f"{identifier}: {folder}")
    return 0


verb("preprocess", "(re)build the preprocessed cache of plans.json, skipping what is up to date")(
    (_preprocess_args, _preprocess)
)


def _networks_args(p):
    p.add_argument("work", nargs="?", help="work folder with plans.json (optional)")
    deprecated_alias(
        p,
        "--configuration",
        p.add_argument(
            "-c",
            "--configurations",
            nargs="+",
            default=["3d_fullres"],
            metavar="CONFIGURATION",
            help="the one configuration of the plan whose cost is shown (default 3d_fullres)",
        ),
    )


def _networks(a):
    from autoseg.networks.describe import describe_architectures, format_table

    spec = patch = batch = None
    if a.work:
        from autoseg.schema.plans import load_plans

        name = one_value(a.configurations, "-c/--configurations", "autoseg networks")
        cfg = load_plans(a.work).configuration(name)
        spec, patch, batch = cfg.network, cfg.patch_size, cfg.batch_size
        print(f"{name}: patch {patch}, batch {batch}")
    print(format_table(describe_architectures(spec, patch, batch)))
    return 0


verb("networks", "list the registered architectures (with a plan: their cost for it)")((_networks_args, _networks))


def _train_args(p):
    p.add_argument("work", help="work folder written by 'autoseg plan'")
    deprecated_alias(
        p,
        "--configuration",
        p.add_argument(
            "-c",
            "--configurations",
            nargs="+",
            help="configuration(s) to train, e.g. 2d 3d_fullres, each on every "
            "fold of -f in turn (required unless --total-budget)",
        ),
    )
    deprecated_alias(
        p,
        "--fold",
        p.add_argument(
            "-f", "--folds", nargs="+", help="fold numbers, or 'all' (train on every case): 0 1 2 (default 0)"
        ),
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--time-budget", help="training wall time, e.g. 15m (default: what the plan was sized for)")
    budget.add_argument("--epochs", type=int, help="train a number of epochs instead of a time budget")
    budget.add_argument(
        "--total-budget",
        help="wall time of the whole job, e.g. 1h: autoseg chooses the "
        "configurations and folds, stops losers early, runs find-best (WORK/schedule.json; no -c/-f)",
    )
    add_device_argument(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from checkpoint_latest.pt")
    p.add_argument("--extend", action="store_true", help="train a finished run further (--time-budget/--epochs more)")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run of this fold and start again")
    p.add_argument("--deterministic", action="store_true", help="seeded, single-process, deterministic algorithms")
    p.add_argument("--workers", help="background augmentation processes (default: auto)")
    p.add_argument("--no-validation", action="store_true", help="skip the full-image validation at the end")
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start from the matching weights of a model zip, model or "
        "WORK folder, or checkpoint_*.pt (others re-initialised; see fold_k/init_from.json)",
    )
    from autoseg.execution.options import add_ray_arguments

    add_ray_arguments(p)
    p.add_argument(
        "--trainings-at-once",
        type=int,
        help="with --ray and --total-budget: how many trainings the "
        "schedule plans to run side by side when it spends the rest (default: as many as the cluster "
        "holds; benchmark --ray gives each dataset its share)",
    )
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments

    add_mlflow_arguments(p)


def _train(a):
    if a.total_budget:
        from autoseg.scheduling.command import run_schedule_command

        return run_schedule_command(a)
    if not a.configurations:
        raise AutosegError(
            "train needs -c CONFIGURATION, or --total-budget to let autoseg choose",
            fix="e.g. autoseg train WORK -c 3d_fullres -f 0, or autoseg train WORK --total-budget 1h",
        )
    from autoseg.execution.options import executor_from_arguments
    from autoseg.execution.training_task import run_jobs
    from autoseg.training.job import TrainingJob

    jobs = [
        TrainingJob(
            a.work,
            configuration,
            fold,
            time_budget=a.time_budget,
            epochs=a.epochs,
            device=a.device,
            resume=a.resume,
            extend=a.extend,
            overwrite=a.overwrite,
            deterministic=a.deterministic,
            workers=a.workers,
            validate=not a.no_validation,
            init_from=a.init_from,
        )
        for configuration in a.configurations
        for fold in a.folds or ["0"]
    ]
    from autoseg.tracking.options import context_from_arguments, work_experiment

    tracking = context_from_arguments(a, a.work, lambda: work_experiment(a.work))
    with executor_from_arguments(a) as executor:
        for job, summary in run_jobs(executor, jobs, tracking=tracking):
            _print_training(job.fold, job.configuration, summary)
    return 0


def _print_training(fold, configuration, summary) -> None:
    if summary:
        dice = summary.get("validation_dice")
        where = summary.get("ran_on") or {}
        print(
            f"{configuration} fold {fold}: {summary['iterations']} iterations in "
            f"{summary['training_seconds']:.0f} s ({summary['iterations_per_second']:.2f} it/s), peak RAM "
            f"{summary['peak_ram_mb']:.0f} MB"
            + (f", validation Dice {dice:.4f}" if dice is not None else "")
            + (
                f", on node {str(where['node_id'])[:12]} ({where['host']})"
                if where.get("retries") is not None and where.get("node_id") != "local"
                else ""
            )
        )


verb("train", "train configurations on folds, one training after another, each within a time budget")(
    (_train_args, _train)
)


def _predict_args(p):
    p.add_argument("work", nargs="?", help="work folder with plans.json and trained models (or use --model)")
    p.add_argument("--model", help="an exported model instead of WORK: model.zip or its (imported) folder")
    p.add_argument(
        "-i",
        "--input",
        required=True,
        nargs="+",
        help="folder of images (dataset naming) or files, "
        "or a folder of DICOM series (one series per case; README 'DICOM')",
    )
    p.add_argument(
        "--output-format",
        default="nifti",
        choices=["nifti", "dicom-seg", "both"],
        help="nifti: label maps in the input's format (NIfTI for DICOM input); dicom-seg: one DICOM "
        "Segmentation per case referencing its series (DICOM input); both (default nifti)",
    )
    p.add_argument("-o", "--output", required=True, help="folder for the segmentations")
    p.add_argument(
        "-c",
        "--configurations",
        nargs="+",
        help="configuration(s) to ensemble (default: find-best's choice, else 3d_fullres or 2d)",
    )
    p.add_argument("-f", "--folds", nargs="+", help="folds to ensemble (default: every trained fold)")
    p.add_argument("--no-tta", action="store_true", help="no mirror test-time augmentation (faster)")
    p.add_argument("--save-probabilities", action="store_true", help="also write class probabilities (.npz)")
    p.add_argument("--no-postprocessing", action="store_true", help="skip the postprocessing find-best chose")
    p.add_argument(
        "--checkpoint",
        default=CHECKPOINT_FINAL,
        help=f"checkpoint of each fold to predict with: "
        f"{CHECKPOINT_FINAL} or {CHECKPOINT_BEST} (default {CHECKPOINT_FINAL})",
    )
    p.add_argument(
        "--step", type=float, default=None, help="sliding-window step as a fraction of the patch (default 0.5)"
    )
    p.add_argument(
        "--tta-axes",
        type=int,
        nargs="+",
        help="mirror only these of the plan's mirror axes (0 = z, the first axis of plans.json's order)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="fast mode: step 0.75 and mirroring along the last axis "
        "only (2 variants instead of 8); its Dice cost is in benchmarks/large_volume/results.md",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="number format of the networks (default auto: the one training chose, where this machine runs it fast)",
    )
    p.add_argument(
        "--compile",
        default="auto",
        choices=["auto", "on", "off"],
        help="torch.compile the networks (default auto: when training compiled them and there are at "
        "least 50 cases; the first case then includes the compile)",
    )
    add_device_argument(p)
    p.add_argument(
        "--backend",
        default="torch",
        choices=["torch", "onnxruntime"],
        help="torch (default), or onnxruntime: the ONNX networks of a model exported with --onnx, "
        "predicted without PyTorch (CPU, fp32)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing predictions in the output folder")
    from autoseg.execution.options import add_ray_arguments

    add_ray_arguments(p)


def _predict(a):
    if bool(a.work) == bool(a.model):
        raise AutosegError(
            "pass either a WORK folder or --model MODEL",
            fix="e.g. autoseg predict --model model.zip -i IMAGES -o OUTPUT",
        )
    if a.model:
        from autoseg.layout.model_folder import opened_model

        with opened_model(a.model) as folder:
            return _predict_with(folder, a)
    return _predict_with(a.work, a)


def _predict_with(work, a):
    from autoseg.inference.run import predict

    options = dict(
        configurations=a.configurations,
        folds=a.folds,
        tta=not a.no_tta,
        save_probabilities=a.save_probabilities,
        device=a.device,
        overwrite=a.overwrite,
        checkpoint=a.checkpoint,
        postprocessing=not a.no_postprocessing,
        output_format=getattr(a, "output_format", "nifti"),
        **_speed_options(a),
    )
    if a.ray:
        from autoseg.execution.options import executor_from_arguments
        from autoseg.execution.predict_shards import predict_on_cluster

        with executor_from_arguments(a) as executor:
            report = predict_on_cluster(executor, work, a.input, a.output, **options)
        print(f"{len(report['cases'])} case(s) segmented into {a.output} in {len(report['shards'])} shard(s)")
        return 0
    report = predict(work, a.input, a.output, **options)
    print(f"{len(report['cases'])} case(s) segmented into {a.output} ({report['seconds_per_case']:.2f} s per case)")
    return 0


def _speed_options(a) -> dict:
    """--step, --tta-axes, --precision, and --fast (FAST_STEP, last axis mirrored) where they are not given."""
    from autoseg.inference.fast_mode import FAST_STEP, FAST_TTA_AXES

    step = a.step if a.step is not None else (FAST_STEP if a.fast else 0.5)
    axes = a.tta_axes if a.tta_axes is not None else (FAST_TTA_AXES if a.fast else None)
    return {
        "step": step,
        "tta_axes": axes,
        "precision": a.precision,
        "compile_mode": getattr(a, "compile", "auto"),
        "backend": getattr(a, "backend", "torch"),
    }


verb("predict", "segment new images (sliding window, TTA, ensembles, postprocessing)")((_predict_args, _predict))


def _find_best_args(p):
    p.add_argument("work", help="work folder with cross-validation runs")
    p.add_argument("-c", "--configurations", nargs="+", help="only compare these (default: every trained one)")


def _find_best(a):
    from autoseg.inference.find_best import find_best

    result = find_best(a.work, a.configurations)
    for name, dice in sorted(result["cv_dice"].items(), key=lambda kv: -kv[1]):
        print(f"  {name}: CV Dice {dice:.4f}")
    print(
        f"chosen: {'+'.join(result['configurations'])} (folds {result['folds']}), postprocessing: "
        f"{result['postprocessing'] or 'none'}; written to {a.work}/inference.json"
    )
    return 0


verb("find-best", "choose configurations/ensemble and postprocessing from cross-validation")(
    (_find_best_args, _find_best)
)


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
    _sharing("export")
)
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
    deprecated_alias(
        p,
        "--configuration",
        p.add_argument(
            "-c",
            "--configurations",
            nargs="+",
            metavar="CONFIGURATION",
            help="the one configuration the search varies, e.g. 3d_fullres (required)",
        ),
    )
    p.add_argument(
        "--trials",
        type=int,
        help="trials this worker runs (0: only report and export; default: no limit, until --total-budget ends)",
    )
    deprecated_alias(
        p,
        "--time-budget",
        p.add_argument(
            "--total-budget",
            help="wall time of this worker, e.g. 2h (no trial starts that would not fit; default: no limit)",
        ),
    )
    per_trial = p.add_mutually_exclusive_group()
    per_trial.add_argument("--trial-budget", help="training time per trial, e.g. 10m (default: the plan's budget)")
    per_trial.add_argument("--trial-epochs", type=int, help="train each trial for a number of epochs instead")
    p.add_argument(
        "--storage",
        help="Optuna RDB URL shared by workers, e.g. postgresql://user@host/db "
        "(default: sqlite file WORK/search/STUDY.db)",
    )
    p.add_argument("--study", help="study name; an existing study is continued (default: CONFIGURATION_search)")
    p.add_argument("--space", help="JSON file narrowing/widening the search space (see autoseg/search/space.py)")
    p.add_argument(
        "--pruner",
        default="median",
        choices=["median", "halving", "hyperband", "none"],
        help="how weak trials are stopped early (default median)",
    )
    deprecated_alias(
        p,
        "--fold",
        p.add_argument(
            "-f",
            "--folds",
            nargs="+",
            default=["0"],
            metavar="FOLD",
            help="the one fold every trial trains and is scored on (default 0)",
        ),
    )
    p.add_argument("--seed", type=int, help="sampler seed (give every worker its own; default: random)")
    p.add_argument("--export", help="configuration name for the best trial (default CONFIGURATION_search)")
    p.add_argument("--no-export", action="store_true", help="do not write the best trial into plans.json")
    p.add_argument("--overwrite", action="store_true", help="replace an exported configuration with trained folds")
    p.add_argument("--no-baseline", action="store_true", help="do not start a new study with the plan's own values")
    p.add_argument(
        "--no-architecture-sweep",
        action="store_true",
        help="do not start a new study with one trial per architecture at the plan's other values",
    )
    add_device_argument(p)
    p.add_argument("--workers", help="background augmentation processes per trial (default: auto)")
    from autoseg.execution.options import add_ray_arguments

    add_ray_arguments(p)
    p.add_argument(
        "--search-workers",
        type=int,
        help="with --ray: Optuna workers on the cluster, each a Ray "
        "task (default: as many as trainings fit); --trials is then the total",
    )
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments

    add_mlflow_arguments(p, parent=False)


def _search(a):
    from autoseg.search.run import search

    if not a.configurations:
        raise AutosegError("search needs -c CONFIGURATION", fix="e.g. autoseg search WORK -c 3d_fullres")
    configuration = one_value(a.configurations, "-c/--configurations", "autoseg search")
    fold = one_value(a.folds, "-f/--folds", "autoseg search")
    from autoseg.tracking.options import context_from_arguments, work_experiment

    tracking = context_from_arguments(a, a.work, lambda: work_experiment(a.work, a.study or f"{configuration}_search"))
    options = dict(
        trials=a.trials,
        time_budget=a.total_budget,
        storage=a.storage,
        study=a.study,
        space=a.space,
        pruner=a.pruner,
        fold=fold,
        trial_budget=a.trial_budget,
        trial_epochs=a.trial_epochs,
        seed=a.seed,
        export="" if a.no_export else a.export,
        overwrite=a.overwrite,
        baseline=not a.no_baseline,
        architecture_sweep=not a.no_architecture_sweep,
        device=a.device,
        workers=a.workers,
        tracking=tracking,
    )
    if a.ray:
        from autoseg.execution.options import executor_from_arguments
        from autoseg.search.cluster import search_on_cluster

        with executor_from_arguments(a) as executor:
            result = search_on_cluster(executor, a.search_workers, a.work, configuration, **options)
    elif a.search_workers:
        raise AutosegError(
            "--search-workers needs --ray",
            fix="add --ray local (or a cluster's address), or "
            "start `autoseg search` once per worker with a shared --storage",
        )
    else:
        result = search(a.work, configuration, **options)
    states = ", ".join(f"{n} {s.lower()}" for s, n in result["states"].items())
    print(f"study {result['study']}: {result['trials']} trials ({states}); report {result['report']}")
    if result["best"]:
        print(f"best: trial {result['best']['number']}, validation Dice {result['best']['value']:.4f}")
    if result["exported"]:
        print(
            f"exported as configuration '{result['exported']['name']}' in {a.work}/plans.json: "
            f"autoseg train {a.work} -c {result['exported']['name']}"
        )
    return 0


verb("search", "Optuna search over architectures and training choices; the best becomes a configuration")(
    (_search_args, _search)
)


def _evaluate_args(p):
    p.add_argument("predictions", help="folder of predicted label maps")
    p.add_argument("references", help="folder of reference label maps (same file names)")
    p.add_argument("-o", "--output", help="summary.json to write (default PREDICTIONS/summary.json)")
    p.add_argument(
        "--dataset",
        help="dataset folder: take class names (and the ignore label) from its "
        "dataset.json, and the images for --overlays",
    )
    p.add_argument(
        "--file-ending",
        help="ending of the label maps, e.g. .nii.gz (default: the one ending the "
        "reference files share); the errors about mixed endings ask for it",
    )
    p.add_argument("--tolerance", type=float, default=1.0, help="surface Dice tolerance in mm (default 1.0)")
    p.add_argument(
        "--ignore-label",
        type=int,
        metavar="N",
        help="leave voxels whose reference is N out of every "
        "score (default: dataset.json's 'ignore' label with --dataset, else none)",
    )
    p.add_argument(
        "--regions",
        dest="regions_file",
        metavar="REGIONS.json",
        help="score regions (each the union of its label values) "
        "defined in this regions file or a WORK/plans.json; a --dataset with regions in its "
        "dataset.json is scored by regions without it",
    )
    p.add_argument(
        "--overlays",
        type=int,
        default=0,
        metavar="N",
        help="also save overlay PNGs of the N worst "
        "cases into SUMMARY_overlays/ next to the summary (needs --dataset; default 0: none)",
    )
    deprecated_alias(
        p,
        "--workers",
        p.add_argument("--processes", type=int, default=1, help="processes scoring the cases (default 1)"),
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing summary (and its overlays)")


def _evaluate(a):
    from pathlib import Path

    from autoseg.evaluation.command import evaluate, overlay_folder_of

    summary = evaluate(
        a.predictions,
        a.references,
        a.output,
        a.dataset,
        a.ignore_label,
        a.regions_file,
        overlays=a.overlays,
        file_ending=a.file_ending,
        tolerance_mm=a.tolerance,
        processes=a.processes,
        overwrite=a.overwrite,
    )
    _print_summary(summary)
    out = Path(a.output) if a.output else Path(a.predictions) / "summary.json"
    print(f"wrote {out}")
    if a.overlays:
        folder = overlay_folder_of(out)
        print(f"overlays of the worst cases in {folder}: {', '.join(sorted(p.stem for p in folder.glob('*.png')))}")
    return 0


def _print_summary(summary):
    fg = summary["foreground_mean"]
    print(
        f"{summary['n_cases']} cases, foreground mean: "
        + ", ".join(f"{k} {fg[k]:.4f}" for k in ("Dice", "IoU", "HD95", "ASSD", "NSD") if k in fg)
    )
    for name, stats in summary["per_class"].items():
        values = f" {summary['regions'][name]}" if summary.get("regions") else ""  # a region's label values
        print(f"  {name}{values}: Dice {stats['mean']['Dice']:.4f}, HD95 {stats['mean']['HD95']:.2f} mm")


verb("evaluate", "score predictions against references (Dice, HD95, NSD, ...)")((_evaluate_args, _evaluate))


def _benchmark_args(p):
    p.add_argument("datasets", nargs="+", metavar="DATASET", help="dataset folder(s) (nnU-Net v2 or MSD layout)")
    p.add_argument("-o", "--output", required=True, metavar="REPORT", help="new folder for the report and runs")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--time-budget", default="15m", help="training time per configuration and fold, e.g. 15m (default 15m)"
    )
    budget.add_argument(
        "--epochs", type=int, help="train a number of epochs instead (quick checks; default: --time-budget)"
    )
    deprecated_alias(
        p,
        "--configs",
        p.add_argument(
            "-c",
            "--configurations",
            nargs="+",
            help="configurations to train (default: every planned one; a cascade "
            "brings its 3d_lowres stage, trained on every fold its folds need)",
        ),
    )
    p.add_argument(
        "-f",
        "--folds",
        nargs="+",
        type=int,
        default=[0],
        help="folds to train; their validation cases are scored unless the dataset has labelled test cases (default 0)",
    )
    p.add_argument("--preset", default="default", help="planner preset name (plans/*.json) or path (default: default)")
    add_device_argument(p)
    p.add_argument(
        "--cpu-gflops",
        type=float,
        help="CPU: skip measuring, assume this training speed in GFLOP/s (default: measured)",
    )
    p.add_argument("--cv-folds", type=int, help="number of folds the plan makes (plan --cv-folds; default 5)")
    p.add_argument(
        "--regions",
        dest="regions_file",
        metavar="REGIONS.json",
        help="plan --regions: train and score these regions (default: the dataset's labels)",
    )
    p.add_argument(
        "--total-budget",
        help="one training budget per dataset, e.g. 1h, spent by the scheduler (train "
        "--total-budget): it chooses configurations and folds; --time-budget then sizes the plan "
        "(default: none, train every configuration and fold)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue a killed benchmark in its -o folder, with the first run's options: finished trainings are "
        "kept, a killed one continues from its last epoch, the stages after training run again",
    )
    from autoseg.execution.options import add_ray_arguments

    add_ray_arguments(p)  # --ray: the datasets and their stages side by side (benchmark/side_by_side.py)
    from autoseg.tracking.options import add_arguments as add_mlflow_arguments

    add_mlflow_arguments(p, parent=False)  # without URI: REPORT/mlflow.db; experiment "autoseg benchmark"


def _benchmark(a):
    from autoseg.execution.options import executor_from_arguments

    with executor_from_arguments(a) as executor:
        return _benchmark_on(a, executor if a.ray else None)


def _benchmark_on(a, executor):
    from autoseg.benchmark.run import benchmark
    from autoseg.tracking.options import requested

    requested(a)  # --mlflow-experiment alone is a mistake
    report = benchmark(
        a.datasets,
        a.output,
        time_budget=a.time_budget,
        configs=a.configurations,
        folds=a.folds,
        preset=a.preset,
        device=a.device,
        epochs=a.epochs,
        cpu_gflops=a.cpu_gflops,
        executor=executor,
        cv_folds=a.cv_folds,
        regions=a.regions_file,
        total_budget=a.total_budget,
        mlflow=a.mlflow,
        mlflow_experiment=a.mlflow_experiment,
        resume=a.resume,
    )
    for record in report["datasets"]:
        scores = (record.get("evaluation") or {}).get("tta")
        print(
            f"{record['dataset']}: "
            + (
                f"Dice {scores['foreground_mean']['Dice']:.4f} ({' + '.join(record['evaluation']['configurations'])})"
                if scores
                else f"FAILED: {record['error']}"
            )
        )
    print(f"report: {a.output}/report.html")
    return 0 if all(r["status"] == "ok" for r in report["datasets"]) else 1


verb("benchmark", "run the whole pipeline on datasets and report accuracy, time and memory per stage")(
    (_benchmark_args, _benchmark)
)


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
    from autoseg.tracking.options import bare_mlflow_flags

    parser = build_parser()
    args = parser.parse_args(bare_mlflow_flags(sys.argv[1:] if argv is None else argv))
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
    except ImportError as error:  # a dependency missing from this environment (e.g. torch, inference-only)
        from autoseg.utils.missing_module import missing_dependency_message

        message = missing_dependency_message(error)
        if message is None:
            raise
        print(f"autoseg {args.verb}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
