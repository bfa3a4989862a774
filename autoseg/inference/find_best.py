"""`autoseg find-best`: choose what `predict` uses, from the cross-validation predictions training wrote.

Every trained configuration and every ensemble of two is scored (mean foreground Dice over the validation cases
their folds share). Each has an inference cost (voxels the sliding window covers per case, a cascade counting its
low-resolution stage too, an ensemble its members), and a costlier candidate is chosen only when it beats the best
cheaper one clearly: by more than `TIE` and by more than one standard error of the per-case differences (a gain
the case-to-case noise explains does not earn the extra cost).
With regions (the label manager, autoseg/labels/) the Dice is per region and no postprocessing is tried.
Then connected-component postprocessing on the winner: keep only the largest foreground component, then per
class, each adopted only where it improves the CV Dice and harms no class. The choice goes to WORK/inference.json.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from autoseg.data.dataset import load_dataset
from autoseg.data.image_io import read_label
from autoseg.errors import AutosegError
from autoseg.evaluation.metrics import exclude_ignored, overlap_metrics
from autoseg.evaluation.region_scores import region_dice
from autoseg.inference.export import labels_from_probabilities, load_probability_file
from autoseg.inference.postprocessing import apply_postprocessing
from autoseg.labels import label_manager
from autoseg.layout.work import INFERENCE, MODELS, SPLITS, VALIDATION, model_dir, trained_folds
from autoseg.schema.plans import load_plans
from autoseg.schema.splits_file import read_splits
from autoseg.utils.files import write_json
from autoseg.utils.logs import get_logger

log = get_logger("find-best")
TIE = 1e-4


def find_best(work: str | Path, configurations: list[str] | None = None, progress: bool = True) -> dict[str, Any]:
    work = Path(work)
    plans = load_plans(work)
    splits = read_splits(work / SPLITS)
    names, common = _compared_folds(work, plans, configurations)
    cases = {c: k for k in common for c in splits[int(k)]["val"]}
    info = load_dataset(plans.dataset_path)
    references = {c.case_id: c.label_file for c in info.training}
    labels = label_manager(plans)
    ignore = labels.ignore_label  # not a class: its voxels are left out of every score
    classes = [v for v in labels.labels.values() if v not in (0, ignore)]
    order = labels.region_order  # regions: label maps by this order, scored per region (union of values)
    regions = labels.loss_regions

    def dice(seg, ref):
        return region_dice(seg, ref, regions, ignore) if regions else _class_dice(seg, ref, classes, ignore)

    candidates = [(n,) for n in names] + list(itertools.combinations(names, 2))
    scores: dict[tuple[str, ...], list[list[float]]] = {c: [] for c in candidates}

    def case_data(case, fold):
        probs = {n: load_probability_file(model_dir(work, n, fold) / VALIDATION / f"{case}.npz") for n in names}
        return probs, read_label(references[case])[0]

    # Pass 1: score every candidate; one case in memory at a time.
    for case, fold in tqdm(sorted(cases.items()), desc="find-best", disable=not progress):
        probs, ref = case_data(case, fold)
        for candidate in candidates:
            seg = labels_from_probabilities(sum(probs[n] for n in candidate) / len(candidate), order)
            scores[candidate].append(dice(seg, ref))
    table = {"+".join(c): float(np.mean(v)) for c, v in scores.items()}
    costs = inference_costs(plans, candidates)
    best, reason = choose_candidate(scores, costs)
    log.info("find-best: %s", reason)
    # Pass 2: postprocessing variants of the winner (not for regions: removing a component of one label value
    # would change several overlapping regions at once, which the per-class rules cannot weigh).
    rules, pp_report = _postprocessing(cases, case_data, best, classes, ignore, bool(regions))
    result = {
        "configurations": list(best),
        "folds": common,
        "cv_cases": len(cases),
        "cv_dice": table,
        "inference_cost": {"+".join(c): round(v, 3) for c, v in costs.items()},
        "chosen_dice": table["+".join(best)],
        "choice": reason,
        "postprocessing": rules,
        "postprocessing_report": pp_report,
    }
    write_json(work / INFERENCE, result)
    log.info(
        "find-best: %s (CV Dice %.4f over %d cases, folds %s); postprocessing %s",
        "+".join(best),
        result["chosen_dice"],
        len(cases),
        common,
        rules or "none",
    )
    return result


def _postprocessing(cases: dict[str, str], case_data, best: tuple[str, ...], classes: list[int], ignore, regions: bool):
    """Connected-component rules for the winner and their report, scored over the cross-validation cases."""
    variants = []
    for case, fold in sorted(cases.items()) if not regions else []:
        probs, ref = case_data(case, fold)
        seg = labels_from_probabilities(sum(probs[n] for n in best) / len(best))
        variants.append(postprocessing_variants(seg, ref, classes, ignore))
    rules, pp_report = (
        choose_postprocessing(variants, classes)
        if not regions
        else (None, {"skipped": "the plan trains regions: no connected-component postprocessing is tried"})
    )
    return rules, pp_report


def _compared_folds(work: Path, plans, configurations: list[str] | None) -> tuple[list[str], list[str]]:
    """The configurations find-best compares and the cross-validation folds they all have."""
    names = configurations or [n for n in plans.configurations if _cv_folds(work, n)]
    if not names:
        raise AutosegError(
            "no configuration has cross-validation predictions",
            work / MODELS,
            "train at least one configuration on its folds (autoseg train WORK -c CONFIG -f 0 1 2 3 4)",
        )
    folds = {n: _cv_folds(work, n) for n in names}
    common = sorted(set.intersection(*(set(f) for f in folds.values())))
    if not common:
        raise AutosegError(
            f"the configurations share no trained fold: {folds}",
            work / MODELS,
            "train the same folds for every configuration you want compared",
        )
    return names, common


def choose_candidate(
    scores: dict[tuple[str, ...], list[list[float]]], costs: dict[tuple[str, ...], float] | None = None
) -> tuple[tuple[str, ...], str]:
    """The candidate with the best mean Dice, unless a cheaper one is as good: a candidate must beat the best
    cheaper candidate by more than `TIE` and by more than one standard error of the per-case differences, else
    the cheaper one is taken (and must in turn beat those cheaper than it). `scores` holds per-case, per-class
    Dice in the same case order for every candidate; `costs` its inference cost (default: the number of
    configurations; see inference_costs). Returns it and why."""
    costs = costs or {c: float(len(c)) for c in scores}
    case_means = {c: np.mean(np.asarray(v, dtype=float), axis=1) for c, v in scores.items()}
    chosen = max(case_means, key=lambda c: (case_means[c].mean(), -costs[c]))
    rejected = []
    while True:
        cheaper = [c for c in case_means if costs[c] < costs[chosen]]
        if not cheaper:
            break
        rival = max(cheaper, key=lambda c: case_means[c].mean())
        gain = case_means[chosen] - case_means[rival]
        error = float(gain.std(ddof=1) / np.sqrt(len(gain))) if len(gain) > 1 else 0.0
        described = (
            f"{_label(chosen)} vs {_label(rival)}: {gain.mean():+.4f} Dice (standard error {error:.4f}) "
            f"at {costs[chosen] / costs[rival]:.2f}x the inference cost"
        )
        if gain.mean() > max(TIE, error):
            return chosen, "; ".join([f"{_kind(chosen)} {described}, worth the cost", *rejected])
        rejected.append(f"{described}: not clearly better")
        chosen = rival
    if len(case_means) == 1:
        return chosen, f"{_kind(chosen)} {_label(chosen)} is the only configuration"
    return chosen, "; ".join(
        [f"{_kind(chosen)} {_label(chosen)}: best CV Dice at its cost ({case_means[chosen].mean():.4f})", *rejected]
    )


def inference_costs(plans, candidates: list[tuple[str, ...]]) -> dict[tuple[str, ...], float]:
    """Relative inference cost of each candidate: the voxels the sliding window covers per case (median shape at
    each configuration's spacing), summed over its configurations and their cascade's previous stages (a
    cascade runs its low-resolution stage first, so it costs both), divided by the cheapest configuration's."""

    def voxels(name):
        return float(np.prod(plans.configuration(name).median_shape))

    def stages(candidate):
        names = set(candidate)
        for name in candidate:
            previous = plans.configuration(name).previous_stage
            while previous:
                names.add(previous)
                previous = plans.configuration(previous).previous_stage
        return names

    raw = {c: sum(voxels(n) for n in stages(c)) for c in candidates}
    unit = min(voxels(n) for c in candidates for n in c)
    return {c: v / unit for c, v in raw.items()}


def _kind(candidate: tuple[str, ...]) -> str:
    return "ensemble" if len(candidate) > 1 else "single configuration"


def _label(candidate: tuple[str, ...]) -> str:
    return "+".join(candidate)


def postprocessing_variants(
    seg: np.ndarray, ref: np.ndarray, classes: list[int], ignore_label: int | None = None
) -> dict[str, list[float]]:
    """Per-class Dice of one case without and with each postprocessing step (voxels of the reference's
    ignore label unscored).

    Keeping class k's largest component only turns class-k voxels into background, so it changes class k's Dice
    alone: per-class steps can be scored independently on top of each foreground choice.
    """
    out = {}
    for foreground in (False, True):
        base = apply_postprocessing(seg, {"largest_component_foreground": foreground})
        out[f"fg{int(foreground)}"] = _class_dice(base, ref, classes, ignore_label)
        for k in classes:
            out[f"fg{int(foreground)}_class{k}"] = _class_dice(
                apply_postprocessing(base, {"largest_component_classes": [k]}), ref, classes, ignore_label
            )
    return out


def choose_postprocessing(
    variants: list[dict[str, list[float]]], classes: list[int]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    mean = {key: np.mean([v[key] for v in variants], axis=0) for key in variants[0]}
    report = {key: [round(float(x), 5) for x in value] for key, value in mean.items()}
    without, with_fg = mean["fg0"], mean["fg1"]
    use_fg = bool(with_fg.mean() > without.mean() + TIE and np.all(with_fg >= without - TIE))
    prefix = f"fg{int(use_fg)}"
    base = mean[prefix]
    chosen = [k for i, k in enumerate(classes) if mean[f"{prefix}_class{k}"][i] > base[i] + TIE]
    if not use_fg and not chosen:
        return None, report
    return {"largest_component_foreground": use_fg, "largest_component_classes": chosen}, report


def _class_dice(seg: np.ndarray, ref: np.ndarray, classes: list[int], ignore_label: int | None = None) -> list[float]:
    """Dice per class; voxels the reference marks with the ignore label were never annotated, so they count for
    no class (a prediction there is neither right nor wrong)."""
    seg, ref = exclude_ignored(seg, ref, ignore_label)
    return [overlap_metrics(seg == k, ref == k)["Dice"] for k in classes]


def _cv_folds(work: Path, name: str) -> list[str]:
    return [f for f in trained_folds(work, name) if f != "all" and (model_dir(work, name, f) / VALIDATION).is_dir()]
