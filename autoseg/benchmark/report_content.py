"""What the benchmark report says, as a list of blocks that report_markdown and report_html both render.

Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("list", [text]), ("table", headers, rows, note),
("images", [(path relative to the report folder, caption)]), ("code", text). Numbers are formatted here once,
so the two renderings never disagree.
"""

from __future__ import annotations

from typing import Any

from autoseg.benchmark.stage import PSS_SECONDS, SAMPLE_SECONDS
from autoseg.utils.durations import format_duration

Block = tuple
COLOUR_NAMES = ["blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan", "grey"]
METRIC_COLUMNS = [
    ("Dice", "Dice", 3),
    ("IoU", "IoU", 3),
    ("HD95", "HD95 (mm)", 2),
    ("ASSD", "ASSD (mm)", 2),
    ("NSD", "NSD", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("RVD", "RVD", 3),
]


def number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def megabytes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1024:.2f} GB" if value >= 1024 else f"{value:.0f} MB"


def label_colours(labels: dict[str, int]) -> str:
    """Which colour the overlays give each class (autoseg.evaluation.overlays.LABEL_COLOURS, tab10 order)."""
    return ", ".join(
        f"{name} {COLOUR_NAMES[(value - 1) % len(COLOUR_NAMES)]}" for name, value in labels.items() if value != 0
    )


def describe_postprocessing(rules: dict[str, Any], labels: dict[str, int]) -> str:
    names = {value: name for name, value in labels.items()}
    parts = []
    if rules.get("largest_component_foreground"):
        parts.append("keep only the largest connected foreground component")
    classes = [names.get(k, str(k)) for k in rules.get("largest_component_classes") or []]
    if classes:
        parts.append("keep only the largest component of " + ", ".join(classes))
    return "; ".join(parts) or "none"


def report_blocks(report: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [("h1", "autoseg benchmark"), *_overview(report)]
    for record in report["datasets"]:
        blocks += dataset_blocks(record, report["settings"])
    blocks += _how_measured(report)
    return blocks


def _overview(report: dict[str, Any]) -> list[Block]:
    settings, machine, versions = report["settings"], report["machine"], report["versions"]
    budget = (
        f"{settings['epochs']} epoch(s) per configuration and fold"
        if settings.get("epochs")
        else f"{settings['time_budget']} of training per configuration and fold"
    )
    rows = []
    for record in report["datasets"]:
        evaluation = record.get("evaluation") or {}
        tta = evaluation.get("tta") or {}
        rows.append(
            [
                record["dataset"],
                record["status"] + (f": {record['error']}" if record.get("error") else ""),
                " + ".join(evaluation.get("configurations", [])) or "–",
                number((tta.get("foreground_mean") or {}).get("Dice")),
                f"{evaluation.get('cases', '–')} ({evaluation.get('set', '–')})",
                format_duration(record.get("wall_seconds", 0)),
            ]
        )
    return [
        (
            "p",
            f"{report['created']} on {machine['cpu']} ({machine['logical_cores']} logical cores, "
            f"{machine['memory_gb']} GB RAM{', GPU ' + machine['cuda'] if machine.get('cuda') else ''}); "
            f"autoseg {versions['autoseg']} ({versions.get('autoseg_commit') or 'no git commit'}), "
            f"torch {versions.get('torch')}, Python {versions['python']}.",
        ),
        (
            "p",
            f"Budget: {budget}; preset {settings['preset']}; folds {settings['folds']}; device {settings['device']}.",
        ),
        ("code", report["command"]),
        (
            "table",
            ["dataset", "status", "chosen configuration", "mean foreground Dice (TTA)", "cases scored", "wall time"],
            rows,
            "Dice is the mean over foreground classes of the per-class mean over cases.",
        ),
    ]


def dataset_blocks(record: dict[str, Any], settings: dict[str, Any]) -> list[Block]:
    blocks: list[Block] = [("h2", record["dataset"])]
    facts = [f"dataset folder: {record['path']}"]
    if "num_training" in record:
        labels = ", ".join(f"{value} {name}" for name, value in record["labels"].items())
        facts.append(
            f"{record['num_training']} training cases, {record['num_test']} test cases, layout "
            f"{record['layout']}; labels: {labels}"
        )
    if record.get("error"):
        facts.append(f"FAILED: {record['error']}")
    facts.append(
        f"1-minute load average before / after: {record.get('load_average_before')} / "
        f"{record.get('load_average_after')} (timings are noisy when it nears the core count)"
    )
    blocks.append(("list", facts))
    evaluation = record.get("evaluation")
    if evaluation:
        blocks += _evaluation_blocks(record, evaluation)
    if record.get("configurations"):
        blocks += _training_blocks(record)
    blocks += _stage_blocks(record)
    return blocks


def _evaluation_blocks(record: dict[str, Any], evaluation: dict[str, Any]) -> list[Block]:
    tta, no_tta = evaluation["tta"], evaluation["no_tta"]
    selection = record.get("selection", {})
    pp = evaluation.get("postprocessing")
    intro = (
        f"Scored on {evaluation['description']}, predicted with {' + '.join(evaluation['configurations'])}"
        f" (find-best's choice; cross-validation Dice of the candidates: "
        + ", ".join(f"{k} {v:.3f}" for k, v in selection.get("cv_dice", {}).items())
        + "). "
        + (
            f"Why: {selection['choice']} (relative inference cost, a cascade counting its low-resolution "
            "stage: " + ", ".join(f"{k} {v:.2f}" for k, v in selection["inference_cost"].items()) + "). "
            if selection.get("choice") and selection.get("inference_cost")
            else ""
        )
        + (
            "Postprocessing (find-best's): " + describe_postprocessing(pp, record["labels"]) + "."
            if pp
            else "No postprocessing applied"
            + (
                " (find-best chose it on these same cases, so it would flatter the score)."
                if evaluation["set"] != "test"
                else "."
            )
        )
        + f" Mean foreground Dice with mirror TTA {number(tta['foreground_mean']['Dice'])}, without "
        f"{number(no_tta['foreground_mean']['Dice'])}."
    )
    rows = [
        [name, *[number(stats.get(key), digits) for key, _, digits in METRIC_COLUMNS]]
        for name, stats in tta["per_class"].items()
    ]
    rows.append(
        ["mean (foreground)", *[number(tta["foreground_mean"].get(key), digits) for key, _, digits in METRIC_COLUMNS]]
    )
    inference = [
        [
            label,
            number(scores["foreground_mean"]["Dice"]),
            number(scores["seconds_per_case"], 2),
            number(scores["command_seconds_per_case"], 2),
        ]
        for label, scores in (("with mirror TTA", tta), ("without TTA", no_tta))
    ]
    blocks: list[Block] = [
        ("h3", "Segmentation quality"),
        ("p", intro),
        (
            "table",
            ["class", *[title for _, title, _ in METRIC_COLUMNS]],
            rows,
            "Means over the scored cases (with TTA). HD95/ASSD in mm; NSD = normalised surface Dice at 1 mm; RVD = "
            "relative volume difference (0 is best).",
        ),
        ("h3", "Inference"),
        (
            "table",
            ["prediction", "mean foreground Dice", "seconds per case", "seconds per case, whole command"],
            inference,
            "Seconds per case: the predictor's own time (read, predict, write). Whole command: the "
            "`autoseg predict` wall time (start-up and model loading included) divided by the cases.",
        ),
    ]
    overlays = record.get("overlays") or []
    if overlays:
        blocks += [
            ("h3", "Examples"),
            (
                "p",
                "The slice with the most reference foreground; left: image, middle: reference, right: "
                "prediction (with TTA; its Dice is the case's mean over classes). Colours: "
                + label_colours(record["labels"])
                + ".",
            ),
            ("images", [(o["path"], f"{o['kind']} case by Dice: {o['case']}") for o in overlays]),
        ]
    return blocks


def _training_blocks(record: dict[str, Any]) -> list[Block]:
    rows, curves = [], []
    for name, config in record["configurations"].items():
        patch = "×".join(map(str, config["patch_size"]))
        if config.get("progressive_patch_size"):
            patch = (
                "×".join(map(str, config["progressive_patch_size"])) + f" (batch "
                f"{config['progressive_batch_size']}), then {patch}"
            )
        for fold, entry in config["folds"].items():
            per_class = entry.get("validation_dice_per_class") or {}
            rows.append(
                [
                    name,
                    fold,
                    config["architecture"],
                    patch,
                    str(config["batch_size"]),
                    str(entry["epochs"]),
                    str(entry["iterations"]),
                    format_duration(entry["training_seconds"]),
                    number(entry["iterations_per_second"], 2),
                    number(entry["samples_per_second"], 2),
                    megabytes(entry.get("peak_ram_mb")),
                    number(entry.get("validation_dice")),
                    ", ".join(f"{k} {v:.3f}" for k, v in per_class.items()) or "–",
                ]
            )
            if entry.get("curves") and entry["epochs"] > 1:
                curves.append((entry["curves"], f"{name}, fold {fold}: loss, pseudo-Dice and learning rate per epoch"))
    single = [
        f"{name} fold {fold}"
        for name, config in record["configurations"].items()
        for fold, entry in config["folds"].items()
        if entry["epochs"] <= 1
    ]
    blocks: list[Block] = [
        ("h3", "Training"),
        (
            "table",
            [
                "configuration",
                "fold",
                "network",
                "patch",
                "batch",
                "epochs",
                "iterations",
                "training time",
                "it/s",
                "samples/s",
                "peak RSS (trainer's count)",
                "validation Dice",
                "per class",
            ],
            rows,
            "Validation Dice: the trainer's full-image validation of its fold (mirror TTA, no postprocessing). "
            "samples/s counts each epoch with the patch/batch of its phase (progressive resizing). Peak RSS "
            "(trainer's count): the trainer's own resident high-water mark plus its largest worker's, which counts "
            "shared pages twice; the stage table below gives the tree's proportional share (PSS), the smaller and "
            "truer number.",
        ),
    ]
    skipped = record.get("skipped_configurations") or {}
    if skipped:
        blocks.append(("list", [f"{name} not trained: {why}" for name, why in skipped.items()]))
    if single:
        blocks.append(("list", [f"{', '.join(single)}: one epoch only, so no training curve to draw"]))
    if curves:
        blocks.append(("images", curves))
    return blocks


def _stage_result(stage: dict[str, Any]) -> str:
    if stage.get("status") == "killed":
        return "killed (time up to its log's last line)"
    if stage.get("kept"):
        return "kept (finished before --resume)"
    return "ok" if stage["returncode"] == 0 else f"exit {stage['returncode']}"


def _stage_blocks(record: dict[str, Any]) -> list[Block]:
    rows = [
        [
            stage["name"] + (" (before --resume)" if stage.get("earlier_run") else ""),
            format_duration(stage["seconds"]),
            megabytes(stage["peak_ram_mb"]),
            _stage_result(stage),
            stage["log"],
        ]
        for stage in record["stages"]
    ]
    header = ["stage", "wall time", "peak RAM", "result", "log"]
    how = "Each stage is an autoseg command in its own process (its command is the first line of its log). "
    if any(stage.get("ran_on") for stage in record["stages"]):  # benchmark --ray: each stage on its node
        header.append("ran on")
        for row, stage in zip(rows, record["stages"]):
            row.append(_where(stage.get("ran_on")))
        how += (
            "On the cluster a training stage is a training job in a Ray worker process instead (its log: the "
            "fold's train.log; its peak RAM: that process's and its children's, Ray's own share included). "
        )
    return [
        ("h3", "Time and memory per stage"),
        (
            "table",
            header,
            rows,
            how + f"Peak RAM: the highest summed proportional set size (PSS) of the stage's processes, read "
            f"whenever their summed RSS (sampled every {SAMPLE_SECONDS:g} s) reached a new high, and at least "
            f"every {PSS_SECONDS:g} s.",
        ),
    ]


def _where(ran_on: dict[str, Any] | None) -> str:
    """A stage's node (its id's first 12 characters, as Ray's logs print it) and host; its retries."""
    if not ran_on:
        return ""
    retries = ran_on.get("retries") or 0
    return f"{str(ran_on.get('node_id'))[:12]} ({ran_on.get('host')})" + (f", {retries} retries" if retries else "")


def _how_measured(report: dict[str, Any]) -> list[Block]:
    return [
        ("h2", "How the numbers were measured"),
        (
            "list",
            [
                "Every stage runs as its own process; wall times include Python start-up and imports.",
                "Timings depend on what else the machine ran: compare runs only at similar load averages.",
                "All numbers, the versions and the machine are in report.json next to this page.",
            ],
        ),
    ]
