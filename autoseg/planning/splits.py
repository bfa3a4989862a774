"""Cross-validation folds (WORK/splits.json): random, grouped, or blocks of consecutive cases.

- random: seeded shuffle, like nnU-Net's KFold(shuffle=True).
- grouped: cases sharing a group (one patient, one volume) stay in one fold.
- consecutive: sorted case ids cut into contiguous blocks; for the sections of one stack, whose neighbours are
  near duplicates (random folds would leak them into validation and inflate the score).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autoseg.errors import AutosegError
from autoseg.schema.load import validate_data
from autoseg.schema.splits_file import SplitsFile
from autoseg.utils.files import read_json

SPLIT_MODES = ("auto", "random", "grouped", "consecutive")
# Neighbour correlation this far above random-pair correlation means consecutive cases are sections of a stack.
STACK_SIMILARITY_MARGIN = 0.25


def make_splits(
    case_ids: list[str], n_folds: int = 5, seed: int = 12345, mode: str = "random", groups: dict[str, str] | None = None
) -> list[dict[str, list[str]]]:
    ids = sorted(case_ids)
    if mode not in SPLIT_MODES or mode == "auto":
        raise AutosegError(f"unknown split mode '{mode}'", fix=f"use one of {SPLIT_MODES[1:]}")
    if len(ids) < 2:
        raise AutosegError(
            f"cross-validation needs at least 2 training cases, found {len(ids)}", fix="add cases, or train with -f all"
        )
    check_split_options(n_folds, mode, bool(groups))
    n_folds = min(n_folds, len(ids))
    if mode == "consecutive":
        blocks = np.array_split(np.arange(len(ids)), n_folds)
        val_sets = [[ids[i] for i in block] for block in blocks]
    else:
        if mode == "grouped":
            if not groups:
                raise AutosegError("grouped splits need a groups file", fix="pass --groups FILE (JSON case -> group)")
            missing = [c for c in ids if c not in groups]
            if missing:
                raise AutosegError(f"groups file has no group for {missing[:3]}", fix="give every case a group")
            units = sorted({groups[c] for c in ids})
            if len(units) < 2:
                raise AutosegError(
                    f"grouped splits need at least 2 groups, the groups file has {len(units)}",
                    fix="give the cases at least 2 groups; use -f all to train on every case",
                )
        else:
            units = ids
        rng = np.random.RandomState(seed)
        order = rng.permutation(len(units))
        n_folds = min(n_folds, len(units))
        chunks = np.array_split(order, n_folds)
        val_sets = []
        for chunk in chunks:
            chosen = {units[i] for i in chunk}
            val_sets.append([c for c in ids if (groups[c] if mode == "grouped" else c) in chosen])
    return [{"train": [c for c in ids if c not in set(val)], "val": sorted(val)} for val in val_sets]


def check_split_options(n_folds: int, mode: str, has_groups: bool) -> None:
    """Fold count and mode given by the user; plan checks them before its long steps, make_splits again."""
    if n_folds < 2:
        raise AutosegError(
            f"cross-validation needs at least 2 folds, got --cv-folds {n_folds}",
            fix="pass --cv-folds 2 or more; use -f all to train on every case",
        )
    if has_groups and mode in ("random", "consecutive"):
        # Silently ignoring the groups would let one patient's cases sit in train and val at once.
        raise AutosegError(
            f"a groups file was given with split mode '{mode}', which does not use groups",
            fix="drop --split-mode (or pass --split-mode grouped), or drop --groups",
        )


def choose_split_mode(fingerprint: dict[str, Any], requested: str = "auto") -> tuple[str, str]:
    """(mode, reason). 'auto' detects stacks of sections from the fingerprint's neighbour similarity."""
    if requested != "auto":
        return requested, "requested by the user"
    similarity = fingerprint.get("neighbour_similarity")
    if similarity and similarity["neighbours"] - similarity["random_pairs"] > STACK_SIMILARITY_MARGIN:
        return "consecutive", (
            f"neighbouring cases correlate {similarity['neighbours']:.2f} vs "
            f"{similarity['random_pairs']:.2f} for random pairs: they look like sections of "
            "one stack, so folds are blocks of consecutive cases"
        )
    return "random", "cases look independent: seeded random folds"


def load_user_splits(path: str | Path, case_ids: list[str]) -> list[dict[str, list[str]]]:
    """A user's splits.json (list of {"train": [...], "val": [...]}), checked against the dataset."""
    data = read_json(path, "splits file")
    known = set(case_ids)
    if not isinstance(data, list) or not all(isinstance(f, dict) and "train" in f and "val" in f for f in data):
        raise AutosegError(
            'splits must be a JSON list of {"train": [...], "val": [...]}',
            path,
            "rewrite it in that form (one object per fold)",
        )
    validate_data(data, SplitsFile, "splits file", path)  # types and case ids that are plain names
    for k, fold in enumerate(data):
        unknown = sorted((set(fold["train"]) | set(fold["val"])) - known)
        if unknown:
            raise AutosegError(
                f"fold {k} names cases not in the dataset: {unknown[:3]}",
                path,
                "use the case ids of the dataset (file names without channel suffix and ending)",
            )
        if set(fold["train"]) & set(fold["val"]):
            raise AutosegError(f"fold {k} has cases in both train and val", path, "make them disjoint")
    return data
