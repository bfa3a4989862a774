"""The same data, the same split and the same held-out cases for nnU-Net v2 as autoseg used.

- raw dataset: an nnU-Net v2 dataset is linked as it is; an MSD one (e.g. Task04_Hippocampus) becomes
  Dataset<ID>_<Name> with <case>_0000<ending> links to the original images and links to the original labels;
  nothing is copied, and nothing lands in the repository.
- split: autoseg's WORK/splits.json is written as nnU-Net's splits_final.json, so fold k holds the same
  validation cases in both tools.
- held-out inputs: the cases autoseg scored, linked as <case>_0000<ending> (nnU-Net's naming) for
  nnUNetv2_predict; autoseg's own reference folder is reused for scoring, so both tools meet identical files.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from autoseg.data.dataset import DatasetInfo, load_dataset
from autoseg.errors import AutosegError

V2_NAME = re.compile(r"^Dataset(\d{3})_(.+)$")
MSD_NAME = re.compile(r"^Task(\d{2,3})_(.+)$")


def nnunet_name(info: DatasetInfo, dataset_id: int | None = None) -> tuple[int, str]:
    """(dataset id, DatasetXXX_Name) from the folder name (Dataset002_X, Task04_X), or the id given."""
    folder = info.root.resolve().name
    match = V2_NAME.match(folder) or MSD_NAME.match(folder)
    if dataset_id is None and not match:
        raise AutosegError("cannot tell the nnU-Net dataset id from the folder name", info.root, "pass --dataset-id N")
    number = dataset_id if dataset_id is not None else int(match.group(1))
    name = match.group(2) if match else folder
    return number, f"Dataset{number:03d}_{name}"


def link(target: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        if path.resolve() == Path(target).resolve():
            return
        path.unlink()
    os.symlink(Path(target).resolve(), path)


def make_raw_dataset(info: DatasetInfo, raw_root: Path, dataset_id: int | None = None) -> tuple[int, str]:
    number, name = nnunet_name(info, dataset_id)
    target = raw_root / name
    if info.layout == "nnunet_v2" and info.root.resolve().name == name:
        link(info.root, target)
        return number, name
    if info.num_channels != 1 or any(len(c.image_files) != 1 for c in info.training):
        raise AutosegError(
            "only single-channel MSD datasets are converted here",
            info.root,
            "convert it with nnU-Net's own nnUNetv2_convert_MSD_dataset",
        )
    for case in info.training:
        link(case.image_files[0], target / "imagesTr" / f"{case.case_id}_0000{info.file_ending}")
        link(case.label_file, target / "labelsTr" / f"{case.case_id}{info.file_ending}")
    description = {
        "channel_names": {str(i): n for i, n in enumerate(info.channel_names)},
        "labels": info.labels,
        "numTraining": len(info.training),
        "file_ending": info.file_ending,
        "name": info.name,
        "converted_from": str(info.root.resolve()),
    }
    (target / "dataset.json").write_text(json.dumps(description, indent=2))
    return number, name


def write_splits(autoseg_splits: Path, preprocessed_dataset: Path) -> Path:
    splits = json.loads(autoseg_splits.read_text())
    out = preprocessed_dataset / "splits_final.json"
    preprocessed_dataset.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([{"train": sorted(f["train"]), "val": sorted(f["val"])} for f in splits], indent=2))
    return out


def link_inputs(dataset: Path, case_ids: list[str], folder: Path) -> Path:
    """nnU-Net input folder: <case>_0000<ending> links to each held-out case's image."""
    info = load_dataset(dataset)
    cases = {c.case_id: c for c in [*info.training, *info.test]}
    for case_id in case_ids:
        for channel, image in enumerate(cases[case_id].image_files):
            link(image, folder / f"{case_id}_{channel:04d}{info.file_ending}")
    return folder
