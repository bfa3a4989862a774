"""A view of a dataset with its last N training cases moved to a labelled test set (symlinks, no copies).

`autoseg benchmark` scores a labelled test set (imagesTs + labelsTs) when there is one, with every fold the
schedule trained ensembled, so the scheduler's fold ensembles and the simple policy's single model are scored on
the same cases that neither trained on. Usage: python holdout_view.py DATASET OUT --last N
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from autoseg.data.dataset import load_dataset


def link(target: Path, link_path: Path) -> None:
    link_path.parent.mkdir(parents=True, exist_ok=True)
    if not link_path.exists():
        os.symlink(target.resolve(), link_path)


def make_view(dataset: Path, out: Path, last: int) -> None:
    info = load_dataset(dataset)
    cases = sorted(info.training, key=lambda c: c.case_id)
    train, test = cases[:-last], cases[-last:]
    description = json.loads((dataset / "dataset.json").read_text())
    for case in test:
        for image in case.image_files:
            link(image, out / "imagesTs" / image.name)
        link(case.label_file, out / "labelsTs" / case.label_file.name)
    for case in train:
        for image in case.image_files:
            link(image, out / "imagesTr" / image.name)
        link(case.label_file, out / "labelsTr" / case.label_file.name)
    if "training" in description:  # MSD: the training list names the cases
        keep = {c.case_id for c in train}
        description["training"] = [e for e in description["training"] if Path(e["image"]).name.split(".")[0] in keep]
        description["test"] = []
    description["numTraining"] = len(train)
    description["description"] = (
        f"{description.get('description', info.name)}; view: last {last} cases held out as a labelled test set"
    )
    (out / "dataset.json").write_text(json.dumps(description, indent=1))
    held = load_dataset(out)
    assert len(held.training) == len(train) and len(held.test) == last, "the view does not read back"
    assert all(c.label_file is not None for c in held.test), "a held-out case lost its reference"
    print(f"{out}: {len(train)} training cases, {last} held out ({test[0].case_id} .. {test[-1].case_id})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--last", type=int, required=True)
    args = parser.parse_args()
    make_view(args.dataset, args.out, args.last)
