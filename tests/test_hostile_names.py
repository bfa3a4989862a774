"""Issue 29, names and --overwrite: a name that comes from a file (a case id in dataset.json, a model or archive
name, a configuration, fold or data_identifier in plans.json, a case id in splits.json) never becomes a path that
leaves its folder, and --overwrite deletes only a folder autoseg made and recognises."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from autoseg import cli
from autoseg.data.dataset import load_dataset
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError
from autoseg.inference.models import model_dir
from autoseg.preprocessing.cache import case_file
from autoseg.sharing.importing import import_model
from autoseg.training.fold_folder import prepare_output
from autoseg.utils.owned import MARKER, mark_owned, remove_owned

HOSTILE_IDS = ["../escape", "/tmp/absolute_case", "..", ".", "a/b", "sub/../../x", "a\\b", "new\nline", ".hidden", ""]


def one_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]
    assert len(err) == 1, err
    return err[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("names") / "Dataset", num_cases=2, shape=(6, 12, 12), seed=3)


def _explicit(dataset: Path, folder: Path, case_id: str) -> Path:
    """A copy of the dataset.json whose "dataset" key lists one case under `case_id` (nnU-Net v2 style)."""
    root = folder / "hostile"
    root.mkdir(parents=True, exist_ok=True)
    data = json.loads((dataset / "dataset.json").read_text())
    first = min((dataset / "imagesTr").iterdir())
    label = min((dataset / "labelsTr").iterdir())
    data["dataset"] = {case_id: {"images": [str(first)], "label": str(label)}}
    data["numTraining"] = 1
    (root / "dataset.json").write_text(json.dumps(data))
    return root


@pytest.mark.parametrize("case_id", HOSTILE_IDS)
def test_a_hostile_case_id_in_dataset_json_is_refused_naming_the_file(dataset, tmp_path, case_id):
    root = _explicit(dataset, tmp_path, case_id)
    with pytest.raises(AutosegError, match="plain name") as error:
        load_dataset(root)
    assert str(root / "dataset.json") in str(error.value) and "\n" not in str(error.value)


def test_plan_with_a_traversing_case_id_writes_nothing_outside_work(dataset, tmp_path, capsys):
    root = _explicit(dataset, tmp_path, "../../outside")
    work = tmp_path / "deep" / "er" / "work"
    before = set(tmp_path.rglob("*"))
    assert cli.main(["plan", str(root), "-o", str(work), "--preset", "cpu-fast", "--cpu-gflops", "40"]) == 2
    assert "plain name" in one_line(capsys)
    written = set(tmp_path.rglob("*")) - before
    assert all(work in p.parents or p == work or p in work.parents for p in written), written
    assert not (tmp_path / "deep" / "outside.npy").exists()


def test_an_msd_entry_whose_file_name_is_hidden_gives_no_case_id(dataset, tmp_path):
    root = tmp_path / "msd"
    root.mkdir()
    (root / "imagesTr").mkdir()
    data = {
        "name": "x",
        "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "a"},
        "training": [{"image": "./imagesTr/..nii.gz", "label": "./labelsTr/..nii.gz"}],
        "numTraining": 1,
    }
    (root / "dataset.json").write_text(json.dumps(data))
    with pytest.raises(AutosegError, match="case id '.'"):
        load_dataset(root)


@pytest.mark.parametrize("case_id", ["../x", "/etc/passwd_x", "a/../../b"])
def test_cache_files_of_a_case_id_from_splits_stay_in_the_cache(tmp_path, case_id):
    with pytest.raises(AutosegError, match="outside"):
        case_file(tmp_path / "cache", case_id, ".npy")
    assert case_file(tmp_path / "cache", "case_001", ".npy") == (tmp_path / "cache" / "case_001.npy").resolve()


@pytest.mark.parametrize(
    "configuration,fold", [("..", 0), ("../../x", 0), ("/abs", 0), ("3d", "0/../../../x"), ("3d", "../1")]
)
def test_configuration_and_fold_names_from_plans_are_not_paths(tmp_path, configuration, fold):
    with pytest.raises(AutosegError, match="plans.json"):
        model_dir(tmp_path / "work", configuration, fold)


# ---- model names and --overwrite -------------------------------------------------------------------------------


def tiny_model_zip(path: Path) -> Path:
    """The smallest zip import accepts: a model card listing one file with its sha256."""
    plans = b"{}"
    card = {
        "format": "autoseg-model",
        "format_version": 1,
        "files": {"plans.json": {"bytes": len(plans), "sha256": hashlib.sha256(plans).hexdigest()}},
    }
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.json", json.dumps(card))
        archive.writestr("plans.json", plans)
    return path


@pytest.mark.parametrize("zip_name", ["..zip", "...zip", " .zip"])
def test_an_archive_whose_name_reduces_to_dot_or_dotdot_is_refused(tmp_path, capsys, zip_name):
    models = tmp_path / "models"
    (models / "other").mkdir(parents=True)
    (models / "other" / "keep.txt").write_text("someone's file")
    archive = tiny_model_zip(tmp_path / zip_name)
    assert cli.main(["import", str(archive), "-o", str(models), "--overwrite"]) == 2
    assert "model name" in one_line(capsys)
    assert (models / "other" / "keep.txt").read_text() == "someone's file"


@pytest.mark.parametrize("name", [".", "..", "../models2", "/tmp", "a/b"])
def test_a_hostile_name_flag_is_refused(tmp_path, name):
    archive = tiny_model_zip(tmp_path / "m.zip")
    with pytest.raises(AutosegError, match="model name"):
        import_model(archive, tmp_path / "models", name=name, overwrite=True)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_import_overwrite_of_a_model_named_like_another_folder_refuses_and_keeps_it(tmp_path, capsys):
    models = tmp_path / "models"
    victim = models / "projects"
    victim.mkdir(parents=True)
    (victim / "thesis.tex").write_text("years of work")
    archive = tiny_model_zip(tmp_path / "projects.zip")
    assert cli.main(["import", str(archive), "-o", str(models), "--overwrite"]) == 2
    line = one_line(capsys)
    assert str(victim) in line and "Fix:" in line
    assert (victim / "thesis.tex").read_text() == "years of work"


def test_import_overwrite_replaces_an_imported_model_and_marks_it(tmp_path):
    models = tmp_path / "models"
    archive = tiny_model_zip(tmp_path / "liver.zip")
    first = import_model(archive, models)
    assert (first / MARKER).is_file()
    (first / "plans.json").write_bytes(b"{}")  # same content; the import replaces the whole folder
    assert import_model(archive, models, overwrite=True) == first and (first / MARKER).is_file()


def test_import_overwrite_refuses_a_model_folder_with_a_foreign_file(tmp_path):
    models = tmp_path / "models"
    archive = tiny_model_zip(tmp_path / "liver.zip")
    folder = import_model(archive, models)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(AutosegError, match="notes.txt"):
        import_model(archive, models, overwrite=True)
    assert (folder / "notes.txt").is_file()


def test_an_import_made_before_the_marker_is_still_replaceable(tmp_path):
    models = tmp_path / "models"
    archive = tiny_model_zip(tmp_path / "liver.zip")
    folder = import_model(archive, models)
    (folder / MARKER).unlink()  # as an older autoseg left it: model.json and model files only
    assert import_model(archive, models, overwrite=True) == folder


# ---- remove_owned and the folders --overwrite deletes ----------------------------------------------------------


def test_remove_owned_deletes_only_marked_or_recognised_folders(tmp_path):
    mine = mark_owned(tmp_path / "models" / "3d" / "fold_0", "test")
    (mine / "checkpoint_final.pt").write_bytes(b"x")
    remove_owned(mine, "fold")
    assert not mine.exists()
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "file").write_text("x")
    with pytest.raises(AutosegError, match=MARKER):
        remove_owned(stranger, "a folder")
    assert (stranger / "file").exists()


def test_remove_owned_refuses_protected_roots_links_and_nested_foreign_folders(tmp_path):
    root = mark_owned(tmp_path / "models", "test")
    with pytest.raises(AutosegError, match="holds it"):
        remove_owned(root, "models", protected=[root / "a"])
    link = tmp_path / "link"
    link.symlink_to(root)
    with pytest.raises(AutosegError, match="link"):
        remove_owned(link, "model")
    owned = mark_owned(tmp_path / "out", "test")
    (owned / "inner").mkdir()
    (owned / "inner" / "dataset.json").write_text("{}")
    with pytest.raises(AutosegError, match="dataset.json"):
        remove_owned(owned, "output")
    assert (owned / "inner" / "dataset.json").exists() and root.exists()


def test_train_overwrite_refuses_a_fold_folder_autoseg_did_not_make(tmp_path):
    fold = tmp_path / "work" / "models" / "3d_fullres" / "fold_0"
    fold.mkdir(parents=True)
    (fold / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(AutosegError, match="did not make"):
        prepare_output(fold, resume=False, extend=False, overwrite=True)
    assert (fold / "holiday.jpg").exists()
    (fold / "holiday.jpg").unlink()
    (fold / "checkpoint_final.pt").write_bytes(b"old")  # a fold trained before the marker existed
    prepare_output(fold, resume=False, extend=False, overwrite=True)
    assert (fold / MARKER).is_file() and not (fold / "checkpoint_final.pt").exists()


def test_an_output_path_that_is_an_existing_file_is_one_line(tmp_path, capsys):
    dataset = make_synthetic_dataset(tmp_path / "D", num_cases=2, shape=(6, 12, 12), seed=1)
    blocker = tmp_path / "work"
    blocker.write_text("a file, not a folder")
    assert cli.main(["plan", str(dataset), "-o", str(blocker), "--preset", "cpu-fast", "--cpu-gflops", "40"]) == 2
    assert str(blocker) in one_line(capsys)
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.slow
def test_case_ids_with_spaces_and_non_ascii_letters_still_plan_and_train_from_splits(tmp_path, capsys):
    """Real data names cases 'case ü001': one harmless path component, accepted from files and splits.json,
    while '../x' in the same places is refused."""
    from autoseg.schema.splits_file import read_splits

    root = make_synthetic_dataset(tmp_path / "D", num_cases=4, shape=(6, 12, 12), seed=4)
    for folder in ("imagesTr", "labelsTr"):
        for path in (root / folder).iterdir():
            path.rename(path.with_name(path.name.replace("case_", "case ü")))
    work = tmp_path / "work"
    assert cli.main(["plan", str(root), "-o", str(work), "--preset", "cpu-fast", "--cpu-gflops", "40"]) == 0
    ids = {c for fold in read_splits(work / "splits.json") for c in fold["train"] + fold["val"]}
    assert ids == {f"case ü{i:03d}" for i in range(4)}
    caches = [f for f in (work / "preprocessed").iterdir() if f.is_dir()]
    assert caches and all(len(list(f.glob("case ü*.npy"))) == 8 for f in caches)  # image and labels per case
    (work / "splits.json").write_text(json.dumps([{"train": ["../case ü000"], "val": ["case ü001"]}]))
    with pytest.raises(AutosegError, match="plain name"):
        read_splits(work / "splits.json")
