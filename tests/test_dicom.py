"""DICOM in, DICOM-SEG out, DICOM datasets converted (issue 30), on synthetic series written by SimpleITK.

The round trip: a NIfTI case written as a DICOM series is predicted from the series and from the NIfTI with the
same labels; the DICOM-SEG read back with highdicom and pydicom matches the NIfTI prediction voxel for voxel,
its frames lie on the source slices and it references the source series. Broken series are refused in one
line naming them; the converter's dataset passes `verify` and `plan`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

pytest.importorskip("pydicom")
highdicom = pytest.importorskip("highdicom")
import pydicom

from autoseg.cli import main
from autoseg.data.dicom.cases import dicom_cases, read_input_case
from autoseg.data.dicom.checks import check_series, sorted_slices
from autoseg.data.dicom.convert import convert_dicom
from autoseg.data.dicom.series import find_series, image_series
from autoseg.errors import AutosegError
from autoseg.inference.dicom_seg import GENERIC_CODE, DicomSegWriter, SegmentSpec
from tests.dicom_fixtures import new_uid, whole_number_image, write_series
from tests.tiny_work import make_tiny_work


def _volume(seed: int = 0, shape=(6, 16, 16)) -> sitk.Image:
    return whole_number_image(np.random.default_rng(seed).normal(100, 30, shape))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny trained WORK and one of its test images, rounded to whole numbers (what int16 DICOM pixels hold),
    as NIfTI and as a DICOM series (odd file names, nested, beside a non-DICOM file)."""
    root = tmp_path_factory.mktemp("dicom_trained")
    tiny = make_tiny_work(root, "DicomShare", seed=5, fast=True, iterations=3)
    source = sitk.ReadImage(str(min(tiny.images.iterdir())))
    image = whole_number_image(sitk.GetArrayFromImage(source), source.GetSpacing(), (-12.5, 30.0, 7.0))
    nifti = root / "nifti"
    nifti.mkdir()
    sitk.WriteImage(image, str(nifti / "case_000_0000.nii.gz"))
    dicom = root / "pacs_export"
    uid = write_series(image, dicom / "STUDY1" / "SERIES1", names="slice-{:03d}.img")
    (dicom / "README.txt").write_text("not DICOM")
    return tiny.work, image, nifti, dicom, uid


def test_series_found_by_uid_in_nested_folders(tmp_path):
    first = write_series(_volume(1), tmp_path / "a" / "deep", names="{:d}")
    second = write_series(_volume(2), tmp_path / "b", names="IMG_{:04d}.dcm")
    (tmp_path / "b" / "notes.dcm").write_bytes(b"no preamble here")
    found = {s.uid: s for s in find_series(tmp_path)}
    assert set(found) == {first, second}
    assert all(len(s.slices) == 6 and s.modality == "MR" for s in found.values())
    assert found[first].folder == tmp_path / "a" / "deep"
    positions = [s.position[2] for s in sorted_slices(found[first])]
    assert positions == sorted(positions)


def test_case_ids_are_plain_names():
    from autoseg.data.dicom.series import DicomSeries

    plain = DicomSeries("1.2.840.99.1", "MR", "1.2", None, "", "P", 1, "")
    odd = DicomSeries("../../etc/passwd 1.2", "MR", "1.2", None, "", "P", 1, "")
    assert plain.case_id == "1.2.840.99.1"
    assert odd.case_id.startswith("series-") and len(odd.case_id) == 27 and "/" not in odd.case_id


@pytest.mark.parametrize(
    "fault, words",
    [
        ({"skip": (3,)}, "1 missing slice(s)"),
        ({"positions": [(0, 0, z) for z in (0, 3, 6, 10, 13, 16)]}, "uneven slice spacing"),
        ({"positions": [(0, 0, z) for z in (0, 3, 3, 6, 9, 12)]}, "duplicate slices"),
        ({"positions": [(0, 0.5 * i, 3.0 * i) for i in range(6)]}, "gantry tilt"),
    ],
)
def test_broken_series_refused_in_one_line(tmp_path, fault, words):
    uid = write_series(_volume(), tmp_path / "s", **fault)
    with pytest.raises(AutosegError) as caught:
        check_series(find_series(tmp_path)[0])
    message = str(caught.value)
    assert words in message and uid in message and str(tmp_path / "s") in message and "Fix:" in message
    assert "\n" not in message


def test_series_over_the_voxel_limit_refused_before_reading(tmp_path, monkeypatch):
    uid = write_series(_volume(), tmp_path / "s")
    monkeypatch.setenv("AUTOSEG_MAX_IMAGE_VOXELS", "1000")  # 6 x 16 x 16 = 1536 voxels
    with pytest.raises(AutosegError, match=rf"{uid}: the image header announces 1536 voxels.*AUTOSEG_MAX_IMAGE"):
        check_series(find_series(tmp_path)[0])


def test_mixed_sizes_refused(tmp_path):
    uid = new_uid()
    write_series(_volume(shape=(3, 16, 16)), tmp_path / "s", series_uid=uid, names="a{:d}")
    write_series(_volume(shape=(3, 12, 16)), tmp_path / "s", series_uid=uid, names="b{:d}")
    with pytest.raises(AutosegError, match=r"mixed image sizes \(12x16, 16x16"):
        check_series(find_series(tmp_path)[0])


def test_verify_reports_each_series(tmp_path, capsys):
    good = write_series(_volume(1), tmp_path / "good")
    bad = write_series(_volume(2), tmp_path / "bad", skip=(2,))
    assert main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    summary = "MR #1 'synthetic', 6 slice(s), 16x16 pixels, spacing 3 x 0.9 x 0.9 mm (z, y, x): OK"
    assert any(good in line and summary in line for line in out)
    assert any(bad in line and "5 slice(s)" in line and "1 problem(s)" in line for line in out)
    assert any(line.startswith(f"{tmp_path / 'bad'}: DICOM series {bad}: 1 missing slice(s)") for line in out)


def test_channels_from_numbered_folders(tmp_path):
    """A two-channel model takes INPUT/<case>/<channel>/: one series per channel folder."""
    t1, t2 = _volume(1), _volume(2)
    write_series(t1, tmp_path / "in" / "patient_a" / "0")
    write_series(t2, tmp_path / "in" / "patient_a" / "1" / "nested")
    cases = dicom_cases(tmp_path / "in", ["T1", "T2"])
    assert [c.case_id for c in cases] == ["patient_a"]
    array, geometry = read_input_case(cases[0], None)
    assert array.shape == (2, 6, 16, 16) and geometry.spacing == (3.0, 0.9, 0.9)
    assert np.array_equal(array[1], sitk.GetArrayFromImage(t2))
    write_series(t1, tmp_path / "flat")
    with pytest.raises(AutosegError, match=r"FOLDER/<case>/<channel index>/"):
        dicom_cases(tmp_path / "flat", ["T1", "T2"])


@pytest.mark.slow
def test_predict_from_series_equals_nifti_and_seg_matches(trained, tmp_path):
    work, _, nifti, dicom, uid = trained
    assert main(["predict", str(work), "-i", str(nifti), "-o", str(tmp_path / "from_nifti"), "--no-tta"]) == 0
    assert (
        main(
            [
                "predict",
                str(work),
                "-i",
                str(dicom),
                "-o",
                str(tmp_path / "from_dicom"),
                "--no-tta",
                "--output-format",
                "both",
            ]
        )
        == 0
    )
    expected = sitk.ReadImage(str(tmp_path / "from_nifti" / "case_000.nii.gz"))
    labels = sitk.GetArrayFromImage(expected)
    assert len(np.unique(labels)) > 1, "the tiny model should predict some foreground for a meaningful check"
    from_series = sitk.ReadImage(str(tmp_path / "from_dicom" / f"{uid}.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(from_series), labels)
    assert np.allclose(from_series.GetOrigin(), expected.GetOrigin(), atol=1e-4)
    assert np.allclose(from_series.GetSpacing(), expected.GetSpacing(), atol=1e-5)

    source = image_series(dicom)[0]
    _check_seg(tmp_path / "from_dicom" / f"{uid}.dcm", source, labels)

    import autoseg

    in_memory = autoseg.Predictor.load(work, tta=False).predict(source.folder)
    assert np.array_equal(sitk.GetArrayFromImage(in_memory), labels)


def _check_seg(path: Path, source, labels: np.ndarray) -> None:
    """The SEG references the series, its frames lie on the source slices, its segments equal `labels`."""
    raw = pydicom.dcmread(path)
    headers = {s.sop_instance_uid: pydicom.dcmread(s.path, stop_before_pixels=True) for s in source.slices}
    first = next(iter(headers.values()))
    assert raw.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4" and raw.SegmentationType == "BINARY"
    assert raw.StudyInstanceUID == first.StudyInstanceUID
    assert raw.FrameOfReferenceUID == first.FrameOfReferenceUID
    assert raw.ReferencedSeriesSequence[0].SeriesInstanceUID == source.uid
    assert [s.SegmentLabel for s in raw.SegmentSequence] == ["organ", "lesion"]
    algorithm = raw.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "autoseg" and "DicomShare" in algorithm.AlgorithmParameters
    for frame in raw.PerFrameFunctionalGroupsSequence:
        referenced = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        position = frame.PlanePositionSequence[0].ImagePositionPatient
        assert np.allclose(
            [float(v) for v in position], [float(v) for v in headers[referenced].ImagePositionPatient], atol=1e-4
        )
    seg = highdicom.seg.segread(str(path))
    ordered = [s.sop_instance_uid for s in sorted_slices(source)]
    back = seg.get_pixels_by_source_instance(
        ordered, combine_segments=True, relabel=False, assert_missing_frames_are_empty=True
    )
    assert np.array_equal(back, labels)


@pytest.mark.slow
def test_predict_refuses_a_broken_series_before_predicting(trained, tmp_path, capsys):
    work, image, _, _, _ = trained
    uid = write_series(image, tmp_path / "export" / "gappy", skip=(2,))
    write_series(image, tmp_path / "export" / "fine")
    assert main(["predict", str(work), "-i", str(tmp_path / "export"), "-o", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and uid in error and "missing slice" in error and "Fix:" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_dicom_seg_needs_dicom_input(trained, tmp_path):
    work, _, nifti, _, _ = trained
    with pytest.raises(AutosegError, match="--output-format dicom-seg needs DICOM input"):
        __import__("autoseg").predict(work, nifti, tmp_path / "out", output_format="dicom-seg", progress=False)


@pytest.mark.slow
def test_convert_dicom_with_seg_to_a_dataset_that_plans(tmp_path, capsys):
    """Three annotated series (segments numbered differently in one SEG) and one without a SEG."""
    export, references = tmp_path / "export", {}
    organ = SegmentSpec("organ", (1,), GENERIC_CODE, GENERIC_CODE)
    lesion = SegmentSpec("lesion", (2,), GENERIC_CODE, GENERIC_CODE)
    for index in range(4):
        rng = np.random.default_rng(index)
        labels = np.zeros((6, 16, 16), np.uint8)
        labels[1:5, 3:12, 4:13] = 1
        labels[2:4, 5 + index : 8 + index, 6:9] = 2
        volume = whole_number_image(rng.normal(50, 10, labels.shape) + 60 * (labels > 0))
        uid = write_series(volume, export / f"study{index}" / "image")
        if index == 3:
            continue
        series = next(s for s in find_series(export / f"study{index}"))
        segments = [organ, lesion] if index else [lesion, organ]
        DicomSegWriter(segments, "annotator").write(labels, series, export / f"study{index}" / "seg" / "s.dcm")
        references[uid] = labels
    output = tmp_path / "Dataset042_Converted"
    assert main(["convert", "dicom", str(export), "-o", str(output)]) == 0
    description = json.loads((output / "dataset.json").read_text())
    assert description["labels"] == {"background": 0, "lesion": 1, "organ": 2}
    assert description["channel_names"] == {"0": "MR"} and description["numTraining"] == 3
    for uid, labels in references.items():
        converted = sitk.GetArrayFromImage(sitk.ReadImage(str(output / "labelsTr" / f"{uid}.nii.gz")))
        assert np.array_equal(converted, np.choose(labels, [0, 2, 1]))
    assert len(list((output / "imagesTs").iterdir())) == 1
    assert main(["verify", str(output)]) == 0
    assert (
        main(
            [
                "plan",
                str(output),
                "-o",
                str(tmp_path / "work"),
                "--no-preprocess",
                "--cpu-gflops",
                "40",
                "--time-budget",
                "1m",
                "--cv-folds",
                "2",
            ]
        )
        == 0
    )
    assert (tmp_path / "work" / "plans.json").is_file()
    assert main(["convert", "dicom", str(export), "-o", str(output)]) == 2  # never overwritten
    assert "output already exists" in capsys.readouterr().err


def test_segments_named_and_coded_from_the_model_card(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from autoseg.inference.dicom_seg import require_highdicom, segment_specs

    plans = SimpleNamespace(
        labels={"background": 0, "organ": 1, "lesion": 2}, regions=None, ignore_label=None, regions_class_order=None
    )
    liver = {"scheme": "SCT", "value": "10200004", "meaning": "Liver"}
    (tmp_path / "model.json").write_text(
        json.dumps({"segment_codes": {"organ": {"category": GENERIC_CODE, "type": liver}}})
    )
    organ, lesion = segment_specs(plans, tmp_path)
    assert (organ.name, organ.values, organ.type) == ("organ", (1,), liver)
    assert (lesion.name, lesion.values, lesion.type, lesion.category) == ("lesion", (2,), GENERIC_CODE, GENERIC_CODE)
    regions = SimpleNamespace(
        labels={},
        regions={"whole": [1, 2], "core": [2]},
        ignore_label=None,
        regions_class_order=[1, 2],
        regions_source="dataset.json",
    )
    assert [(s.name, s.values) for s in segment_specs(regions, tmp_path)] == [("whole", (1, 2)), ("core", (2,))]
    (tmp_path / "model.json").write_text(json.dumps({"segment_codes": {"organ": {"type": liver}}}))
    with pytest.raises(AutosegError, match=r"segment_codes\['organ'\] needs \"category\""):
        segment_specs(plans, tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "highdicom", None)  # as if the dicom extra were missing
    with pytest.raises(AutosegError, match=r'writing DICOM-SEG needs highdicom.*pip install "autoseg\[dicom\]"'):
        require_highdicom()


def test_oblique_series_reads_with_its_own_geometry(tmp_path):
    """Slices sorted along the normal whatever their file names: an oblique sagittal-like stack reads back with
    the grid it was written from (ITK's geometry)."""
    image = _volume(3)
    angle = np.radians(20)
    rotation = np.array([[0, np.sin(angle), np.cos(angle)], [0, np.cos(angle), -np.sin(angle)], [-1, 0, 0]])
    image.SetDirection(tuple(rotation.ravel()))
    write_series(image, tmp_path / "s", names="{:d}")
    for index in range(6):  # file names in the reverse of the slice order: the order must come from positions
        (tmp_path / "s" / str(index)).rename(tmp_path / "s" / f"x{5 - index}")
    array, geometry = read_input_case(dicom_cases(tmp_path, ["MR"])[0], None)
    assert np.array_equal(array[0], sitk.GetArrayFromImage(image))
    assert np.allclose(geometry.direction_itk, image.GetDirection(), atol=1e-5)
    assert np.allclose(geometry.origin_itk, image.GetOrigin(), atol=1e-4)
    assert np.allclose(geometry.spacing_itk, image.GetSpacing(), atol=1e-5)


def test_region_segments_overlap_in_the_seg(tmp_path):
    """Regions (a tumour core inside the whole tumour) are overlapping segments, each the union of its values."""
    write_series(_volume(4), tmp_path / "s")
    series = find_series(tmp_path)[0]
    labels = np.zeros((6, 16, 16), np.uint8)
    labels[1:5, 2:12, 2:12] = 1
    labels[2:4, 4:8, 4:8] = 2
    whole = SegmentSpec("whole", (1, 2), GENERIC_CODE, GENERIC_CODE)
    core = SegmentSpec("core", (2,), GENERIC_CODE, GENERIC_CODE)
    DicomSegWriter([whole, core], "regions").write(labels, series, tmp_path / "seg.dcm")
    seg = highdicom.seg.segread(str(tmp_path / "seg.dcm"))
    masks = seg.get_pixels_by_source_instance(
        [s.sop_instance_uid for s in sorted_slices(series)], assert_missing_frames_are_empty=True
    )
    assert np.array_equal(masks[..., 0], labels > 0) and np.array_equal(masks[..., 1], labels == 2)


def test_converter_refuses_overlapping_segments(tmp_path):
    write_series(_volume(5), tmp_path / "export" / "image")
    series = find_series(tmp_path / "export")[0]
    labels = np.zeros((6, 16, 16), np.uint8)
    labels[1:5, 2:12, 2:12] = 1
    labels[2:4, 4:8, 4:8] = 2
    overlapping = [
        SegmentSpec("whole", (1, 2), GENERIC_CODE, GENERIC_CODE),
        SegmentSpec("core", (2,), GENERIC_CODE, GENERIC_CODE),
    ]
    DicomSegWriter(overlapping, "regions").write(labels, series, tmp_path / "export" / "seg.dcm")
    with pytest.raises(AutosegError, match="segments overlap"):
        convert_dicom(tmp_path / "export", tmp_path / "Dataset001_X")
    assert not (tmp_path / "Dataset001_X").exists() and not list(tmp_path.glob(".Dataset001_X*"))


@pytest.mark.slow
def test_case_folders_name_the_cases(trained, tmp_path):
    """INPUT/<case>/<channel>/ works for a one-channel model too: the case is named by its folder, and its SEG
    refers to the channel-0 series."""
    work, image, _, _, _ = trained
    uid = write_series(image, tmp_path / "in" / "patient_a" / "0")
    assert (
        main(
            [
                "predict",
                str(work),
                "-i",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "out"),
                "--no-tta",
                "--output-format",
                "dicom-seg",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".dcm") == ["patient_a.dcm"]
    assert pydicom.dcmread(tmp_path / "out" / "patient_a.dcm").ReferencedSeriesSequence[0].SeriesInstanceUID == uid
    assert not (tmp_path / "out" / "patient_a.nii.gz").exists()
    before = (tmp_path / "out" / "patient_a.dcm").stat().st_mtime_ns
    assert (
        main(
            [
                "predict",
                str(work),
                "-i",
                str(tmp_path / "in"),
                "-o",
                str(tmp_path / "out"),
                "--no-tta",
                "--output-format",
                "dicom-seg",
            ]
        )
        == 0
    )  # the same run again reuses the finished SEG
    assert (tmp_path / "out" / "patient_a.dcm").stat().st_mtime_ns == before


def test_converter_refuses_a_seg_that_does_not_fit_its_series(tmp_path):
    write_series(_volume(6), tmp_path / "export" / "a")
    other = write_series(_volume(7, shape=(6, 12, 16)), tmp_path / "export" / "b")
    series = next(s for s in find_series(tmp_path / "export") if s.uid != other)
    labels = np.zeros((6, 16, 16), np.uint8)
    labels[2:4, 3:9, 3:9] = 1
    seg_path = tmp_path / "export" / "seg.dcm"
    DicomSegWriter([SegmentSpec("organ", (1,), GENERIC_CODE, GENERIC_CODE)], "x").write(labels, series, seg_path)
    seg = pydicom.dcmread(seg_path)
    seg.ReferencedSeriesSequence[0].SeriesInstanceUID = other  # a SEG claiming the wrong series
    seg.save_as(seg_path)
    with pytest.raises(AutosegError, match=rf"frames of 16x16 pixels do not fit DICOM series {other}'s 12x16"):
        convert_dicom(tmp_path / "export", tmp_path / "Dataset002_Y")


@pytest.mark.slow
def test_predict_on_ray_takes_dicom_series_and_writes_the_same_seg(trained, tmp_path):
    """predict --ray shards DICOM cases as case folders of links (execution/predict_shards.py) and passes
    --output-format on: the label map and the SEG equal a local predict's."""
    pytest.importorskip("ray")
    work, _, _, dicom, uid = trained
    assert (
        main(
            [
                "predict",
                str(work),
                "-i",
                str(dicom),
                "-o",
                str(tmp_path / "local"),
                "--no-tta",
                "--output-format",
                "both",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "predict",
                str(work),
                "-i",
                str(dicom),
                "-o",
                str(tmp_path / "ray"),
                "--no-tta",
                "--output-format",
                "both",
                "--ray",
                "local",
            ]
        )
        == 0
    )
    local = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "local" / f"{uid}.nii.gz")))
    on_ray = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ray" / f"{uid}.nii.gz")))
    assert np.array_equal(local, on_ray)
    _check_seg(tmp_path / "ray" / f"{uid}.dcm", image_series(dicom)[0], local)
    assert not list((tmp_path / "ray").glob(".shards-*")), "the staging folder (and its links) is removed"
