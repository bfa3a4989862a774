"""Issue 29, images: a header is a claim. NIfTI with bitpix 0, a .nii.gz announcing 4 GiB (its 32-bit gzip length
wraps), NaN geometry fields, NRRD/MetaImage/PNG/BMP headers announcing terabytes -- all refused in one line before
SimpleITK allocates, with the limits and how to raise them in the fix. Nothing silently wrong: int64 labels beyond
2^32, a label 6 voxels off its image far from the origin, NaN/Inf voxels in a predict input. Plus Hypothesis
fuzzing of the header checks."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoseg import cli
from autoseg.data.finite import refuse_non_finite
from autoseg.data.geometry import Geometry
from autoseg.data.image_header import check_image_header
from autoseg.data.image_io import read_image, read_label
from autoseg.data.image_limits import BYTES_VARIABLE, VOXELS_VARIABLE, image_limits
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.errors import AutosegError

ITK_NOISE = (".cxx:", ".hxx:", ".h:", "itk::")


def small_nifti(path: Path, shape=(4, 5, 6), dtype=np.float32) -> bytearray:
    sitk.WriteImage(sitk.GetImageFromArray(np.arange(np.prod(shape), dtype=dtype).reshape(shape)), str(path))
    return bytearray(path.read_bytes() if path.suffix == ".nii" else gzip.decompress(path.read_bytes()))


def write_nifti(path: Path, header_and_data: bytes) -> Path:
    path.write_bytes(gzip.compress(bytes(header_and_data)) if path.name.endswith(".gz") else header_and_data)
    return path


def refused(path: Path, match: str) -> str:
    with pytest.raises(AutosegError, match=match) as error:
        read_image(path)
    text = str(error.value)
    assert "\n" not in text and str(path) in text and "Fix:" in text
    assert not any(noise in text for noise in ITK_NOISE), text
    return text


# ---- NIfTI -------------------------------------------------------------------------------------------------------


def test_bitpix_zero_is_refused_before_reading(tmp_path):
    data = small_nifti(tmp_path / "a.nii")
    data[72:74] = struct.pack("<h", 0)
    refused(write_nifti(tmp_path / "bitpix0.nii", data), "bitpix 0")


def test_a_nii_gz_announcing_4_gib_is_refused_although_its_gzip_length_field_wraps_to_match(tmp_path):
    data = small_nifti(tmp_path / "a.nii")
    data[40:56] = struct.pack("<8h", 3, 1024, 1024, 1025, 1, 1, 1, 1)  # 1024*1024*1025 float32 = 4 GiB + 4 MiB
    announced = 352 + 1024 * 1024 * 1025 * 4
    packed = bytearray(gzip.compress(bytes(data)))
    packed[-4:] = struct.pack("<I", announced % 2**32)  # ISIZE forged to "agree" with the header
    path = tmp_path / "wrap.nii.gz"
    path.write_bytes(bytes(packed))
    refused(path, "can expand to at most")


def test_a_nii_gz_whose_header_fits_the_deflate_bound_is_measured_not_trusted(tmp_path):
    """The header announces a little more than the stream holds, and ISIZE is forged to agree: the cheap check
    would pass, the streamed measurement refuses it."""
    data = small_nifti(tmp_path / "a.nii")
    data[40:56] = struct.pack("<8h", 3, 6, 5, 5, 1, 1, 1, 1)  # one z-slice more than the data holds
    packed = bytearray(gzip.compress(bytes(data)))
    packed[-4:] = struct.pack("<I", 352 + 6 * 5 * 5 * 4)
    path = tmp_path / "short.nii.gz"
    path.write_bytes(bytes(packed))
    with pytest.raises(AutosegError):
        read_image(path)


@pytest.mark.parametrize(
    "field,offset,code_offset", [("pixdim", 80, None), ("quatern/qoffset", 268, 252), ("srow", 280, 254)]
)
def test_nan_in_a_geometry_field_is_one_line(tmp_path, field, offset, code_offset):
    data = small_nifti(tmp_path / "a.nii")
    data[offset : offset + 4] = struct.pack("<f", float("nan"))
    if code_offset is not None:
        data[code_offset : code_offset + 2] = struct.pack("<h", 1)
    refused(write_nifti(tmp_path / "nan.nii.gz", data), field)


def test_a_header_beyond_the_limits_names_the_variables_and_raising_them_works(tmp_path, monkeypatch):
    data = small_nifti(tmp_path / "a.nii")
    data[40:56] = struct.pack("<8h", 3, 4000, 4000, 4000, 1, 1, 1, 1)
    path = write_nifti(tmp_path / "huge.nii", data)
    text = refused(path, "more than the limit")
    assert VOXELS_VARIABLE in text and BYTES_VARIABLE in text
    monkeypatch.setenv(VOXELS_VARIABLE, str(10**12))
    monkeypatch.setenv(BYTES_VARIABLE, str(10**13))
    assert image_limits().voxels == 10**12
    refused(path, "cut short|holds only")  # within the raised limits, but the data is not in the file


def test_limits_follow_the_environment_and_refuse_nonsense(monkeypatch):
    monkeypatch.setenv(BYTES_VARIABLE, "lots")
    with pytest.raises(AutosegError, match=BYTES_VARIABLE):
        image_limits()
    monkeypatch.setenv(BYTES_VARIABLE, "1e9")
    assert image_limits().bytes == 10**9


def test_an_invalid_nifti_dimension_count_is_one_line(tmp_path):
    data = small_nifti(tmp_path / "a.nii")
    data[40:42] = struct.pack("<h", 9)
    refused(write_nifti(tmp_path / "dims.nii", data), "invalid dimensions")


# ---- other formats --------------------------------------------------------------------------------------------------


def test_nrrd_headers(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32)), str(tmp_path / "ok.nrrd"))
    text = (tmp_path / "ok.nrrd").read_bytes()
    huge = text.replace(b"sizes: 6 5 4", b"sizes: 60000 50000 40000")
    (tmp_path / "huge.nrrd").write_bytes(huge)
    refused(tmp_path / "huge.nrrd", "more than the limit")
    big = text.replace(b"sizes: 6 5 4", b"sizes: 600 500 40")
    (tmp_path / "big.nrrd").write_bytes(big)
    refused(tmp_path / "big.nrrd", "holds only")
    nan = text.replace(b"space origin: (0,0,0)", b"space origin: (nan,0,0)")
    (tmp_path / "nan.nrrd").write_bytes(nan)
    refused(tmp_path / "nan.nrrd", "space origin")
    read_image(tmp_path / "ok.nrrd")


def test_metaimage_headers(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32)), str(tmp_path / "ok.mha"))
    text = (tmp_path / "ok.mha").read_bytes()
    (tmp_path / "huge.mha").write_bytes(text.replace(b"DimSize = 6 5 4", b"DimSize = 60000 50000 4000"))
    refused(tmp_path / "huge.mha", "more than the limit")
    (tmp_path / "big.mha").write_bytes(text.replace(b"DimSize = 6 5 4", b"DimSize = 600 500 4"))
    refused(tmp_path / "big.mha", "holds only")
    (tmp_path / "nan.mha").write_bytes(text.replace(b"ElementSpacing = 1 1 1", b"ElementSpacing = 1 NaN 1"))
    refused(tmp_path / "nan.mha", "elementspacing")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32)), str(tmp_path / "detached.mhd"))
    (tmp_path / "detached.raw").write_bytes(b"")
    refused(tmp_path / "detached.mhd", "holds only")


def test_png_and_bmp_headers(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.uint8)), str(tmp_path / "ok.png"))
    png = bytearray((tmp_path / "ok.png").read_bytes())
    png[16:24] = struct.pack(">II", 200_000, 200_000)
    (tmp_path / "huge.png").write_bytes(bytes(png))
    refused(tmp_path / "huge.png", "more than the limit")
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((5, 6), np.uint8)), str(tmp_path / "ok.bmp"))
    bmp = bytearray((tmp_path / "ok.bmp").read_bytes())
    bmp[18:26] = struct.pack("<ii", 3000, 3000)
    (tmp_path / "big.bmp").write_bytes(bytes(bmp))
    refused(tmp_path / "big.bmp", "holds only")
    read_image(tmp_path / "ok.png")
    read_image(tmp_path / "ok.bmp")


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8])
def test_a_tiff_stack_cut_short_is_refused_not_read_with_fewer_slices(tmp_path, fraction):
    sitk.WriteImage(
        sitk.GetImageFromArray(np.random.default_rng(0).random((5, 6, 7), np.float32)), str(tmp_path / "stack.tif")
    )
    data = (tmp_path / "stack.tif").read_bytes()
    assert read_image(tmp_path / "stack.tif")[0].shape == (1, 5, 6, 7)
    (tmp_path / "cut.tif").write_bytes(data[: int(len(data) * fraction)])
    refused(tmp_path / "cut.tif", "cut short")


def _new_subfile_type_offsets(data: bytes) -> list[int]:
    offsets, page = [], struct.unpack("<I", data[4:8])[0]
    while page:
        count = struct.unpack("<H", data[page : page + 2])[0]
        offsets += [
            page + 2 + 12 * i + 8
            for i in range(count)
            if struct.unpack("<H", data[page + 2 + 12 * i : page + 4 + 12 * i])[0] == 254
        ]
        page = struct.unpack("<I", data[page + 2 + 12 * count : page + 6 + 12 * count])[0]
    return offsets


@pytest.mark.parametrize(
    "page_types,match",
    [
        ((2, 2, 2, 0), "differs from page 1"),  # SimpleITK crashed
        ((2, 2, 2, 1), "not a plain image"),  # it dropped a slice
        ((1, 1, 1, 1), "not a plain image"),
    ],
)  # it read one page as 2D
def test_a_tiff_stack_with_pages_of_another_kind_is_refused(tmp_path, page_types, match):
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.float32)), str(tmp_path / "stack.tif"))
    data = bytearray((tmp_path / "stack.tif").read_bytes())
    for offset, kind in zip(_new_subfile_type_offsets(data), page_types, strict=True):
        data[offset : offset + 4] = struct.pack("<I", kind)
    (tmp_path / "mixed.tif").write_bytes(bytes(data))
    refused(tmp_path / "mixed.tif", match)


def test_an_unreadable_tiff_says_why_without_itk_file_and_line(tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"II*\x00" + b"\xff" * 40)
    refused(tmp_path / "broken.tif", "cannot read image")


@pytest.mark.slow
def test_refusals_happen_before_allocation_in_a_fresh_process(tmp_path):
    """Resident memory of a child reading each hostile header: it must not grow by what the headers announce."""
    data = small_nifti(tmp_path / "a.nii")
    zero = bytearray(data)
    zero[72:74] = struct.pack("<h", 0)
    zero[40:56] = struct.pack("<8h", 3, 1024, 1024, 256, 1, 1, 1, 1)
    wrap = bytearray(data)
    wrap[40:56] = struct.pack("<8h", 3, 1024, 1024, 1025, 1, 1, 1, 1)
    paths = [write_nifti(tmp_path / "zero.nii", zero), write_nifti(tmp_path / "wrap.nii.gz", wrap)]
    child = textwrap.dedent(f"""
        import resource
        from autoseg.data.image_io import read_image
        from autoseg.errors import AutosegError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for path in {[str(p) for p in paths]!r}:
            try:
                read_image(path)
                print("read", path)
            except AutosegError:
                print("refused")
        print("grew_kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert result.stdout.count("refused") == 2, result.stdout + result.stderr
    assert int(result.stdout.split("grew_kib")[-1]) < 64 * 1024


# ---- nothing silently wrong ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values,dtype,match",
    [
        ([0, 2**32 + 1], np.int64, "4294967297"),
        ([0, 2**63 + 5], np.uint64, "outside the range"),
        ([0, -(2**40)], np.int64, "outside the range"),
        ([0, 1e20], np.float64, "outside the range"),
        ([0, 2.5], np.float32, "non-integer"),
    ],
)
def test_label_values_are_checked_in_their_stored_dtype(tmp_path, values, dtype, match):
    path = tmp_path / "label.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[values]], dtype=dtype)), str(path))
    with pytest.raises(AutosegError, match=match):
        read_label(path)


def test_wide_integer_labels_that_fit_are_read_exactly(tmp_path):
    path = tmp_path / "label.nrrd"
    sitk.WriteImage(sitk.GetImageFromArray(np.array([[[0, 3, 70000]]], dtype=np.int64)), str(path))
    label, _ = read_label(path)
    assert label.ravel().tolist() == [0, 3, 70000]


def _far(offset_voxels: float, spacing=(0.5, 0.5, 2.0)) -> tuple[Geometry, Geometry]:
    origin = (-120000.0, 95000.5, 250000.25)
    a = Geometry(3, (10, 10, 10), spacing, origin, (1, 0, 0, 0, 1, 0, 0, 0, 1))
    shifted = (origin[0] + offset_voxels * spacing[0], *origin[1:])
    return a, Geometry(3, (10, 10, 10), spacing, shifted, (1, 0, 0, 0, 1, 0, 0, 0, 1))


def test_origin_tolerance_is_a_fraction_of_a_voxel_even_far_from_zero():
    assert _far(6.0)[0].mismatch(_far(6.0)[1]) is not None
    assert _far(0.5)[0].mismatch(_far(0.5)[1]) is not None
    assert _far(0.001)[0].mismatch(_far(0.001)[1]) is None
    # float32 rounding of an origin that far from zero is not a mismatch
    a, _ = _far(0)
    rounded = Geometry(3, a.size_itk, a.spacing_itk, tuple(float(np.float32(o)) for o in a.origin_itk), a.direction_itk)
    assert a.mismatch(rounded) is None


def test_verify_refuses_a_label_6_voxels_off_far_from_the_origin(tmp_path, capsys):
    root = make_synthetic_dataset(tmp_path / "D", num_cases=2, shape=(6, 12, 12), seed=2)
    for folder in ("imagesTr", "labelsTr"):
        for path in (root / folder).iterdir():
            image = sitk.ReadImage(str(path))
            shift = 6 * image.GetSpacing()[0] if folder == "labelsTr" and "001" in path.name else 0.0
            image.SetOrigin((80000.0 + shift, -60000.0, 120000.0))
            sitk.WriteImage(image, str(path))
    assert cli.main(["verify", str(root)]) != 0
    out = capsys.readouterr()
    assert "origin" in out.out + out.err


def test_non_finite_voxels_are_refused_with_count_and_first_location():
    image = np.zeros((2, 3, 4, 5), np.float32)
    refuse_non_finite(image)
    image[1, 2, 1, 3] = np.nan
    image[1, 2, 3, 4] = np.inf
    with pytest.raises(
        AutosegError,
        match=r"2 non-finite voxel\(s\) in channel 1 \(1 NaN, 1 Inf\), the first at "
        r"z=2, y=1, x=3",
    ) as error:
        refuse_non_finite(image, [Path("a_0000.nii.gz"), Path("a_0001.nii.gz")])
    assert "a_0001.nii.gz" in str(error.value)


@pytest.mark.slow
def test_predict_refuses_an_input_with_nan_and_inf_voxels(tmp_path, capsys):
    from tests.tiny_work import make_tiny_work

    tiny = make_tiny_work(tmp_path, "NonFinite", seed=5, fast=True)
    case = min(tiny.images.iterdir())
    image = sitk.ReadImage(str(case))
    array = sitk.GetArrayFromImage(image)
    array[0, 0, 0], array[1, 2, 3] = np.nan, np.inf
    poisoned = sitk.GetImageFromArray(array)
    poisoned.CopyInformation(image)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    # .nrrd: ITK's NIfTI reader turns NaN/Inf into 0 itself, so a NIfTI input never shows them to autoseg
    sitk.WriteImage(poisoned, str(inputs / case.name.replace(".nii.gz", ".nrrd")))
    code = cli.main(["predict", str(tiny.work), "-i", str(inputs), "-o", str(tmp_path / "pred")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]
    assert code == 2 and len(err) == 1 and "2 non-finite voxel(s)" in err[0], err
    assert not list((tmp_path / "pred").glob("*.nrrd"))


# ---- fuzzing: one clear line or a correct result, and never more than the limits --------------------------------

FORMATS = [".nii", ".nii.gz", ".nrrd", ".mha", ".png", ".bmp", ".tif"]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("seeds")
    result = {}
    for ending in FORMATS:
        array = (
            np.arange(30, dtype=np.uint8).reshape(5, 6)
            if ending in (".png", ".bmp")
            else np.arange(120, dtype=np.float32).reshape(4, 5, 6)
        )
        sitk.WriteImage(sitk.GetImageFromArray(array), str(folder / f"seed{ending}"))
        result[ending] = (folder / f"seed{ending}").read_bytes()
    return result


def mutated(seed: bytes, ending: str, edits, cut) -> bytes:
    """`seed` (a valid file) with bytes replaced and optionally cut: the hostile file to write."""
    data = bytearray(gzip.decompress(seed) if ending == ".nii.gz" else seed)
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return gzip.compress(bytes(data)) if ending == ".nii.gz" else bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ending=st.sampled_from(FORMATS),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.none() | st.integers(0, 2000),
)
def test_fuzz_mutated_image_headers(tmp_path_factory, monkeypatch, seeds, ending, edits, cut):
    """The header checks alone, in this process (pure Python: nothing a hostile file does can crash them)."""
    monkeypatch.setenv(BYTES_VARIABLE, str(2**20))  # nothing accepted may announce more than 1 MiB
    path = tmp_path_factory.mktemp("img") / f"fuzz{ending}"
    path.write_bytes(mutated(seeds[ending], ending, edits, cut))
    try:
        check_image_header(path)
    except AutosegError as error:
        assert "\n" not in str(error) and str(path) in str(error)


READ_IN_CHILD = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from autoseg.data.image_io import read_image
    from autoseg.errors import AutosegError
    for path in json.loads(sys.stdin.read()):
        print("reading", path, flush=True)
        try:
            array, geometry = read_image(path)
        except AutosegError as error:
            assert "\\n" not in str(error) and path in str(error), str(error)
            continue
        assert array.nbytes <= 4 * 2 ** 20 and array.ndim == 4, array.shape
        assert np.isfinite(geometry.spacing_itk).all() and np.isfinite(geometry.origin_itk).all(), geometry
    print("all read", flush=True)
""")


@pytest.mark.slow
def test_fuzz_reading_mutated_images_in_a_child(tmp_path, seeds):
    """Whole reads (our checks, then SimpleITK) of 300 mutated files in one child process, so a reader that
    crashes on a hostile file fails this test, naming the file, instead of taking the test run down."""
    rng = np.random.default_rng(29)
    paths = []
    for i in range(300):
        ending = FORMATS[i % len(FORMATS)]
        edits = [(int(rng.integers(0, 400)), int(rng.integers(0, 256))) for _ in range(int(rng.integers(1, 5)))]
        cut = int(rng.integers(0, 2000)) if rng.random() < 0.3 else None
        path = tmp_path / f"fuzz{i}{ending}"
        path.write_bytes(mutated(seeds[ending], ending, edits, cut))
        paths.append(str(path))
    result = subprocess.run(
        [sys.executable, "-c", READ_IN_CHILD],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, BYTES_VARIABLE: str(2**20)},
    )
    last = [line for line in result.stdout.splitlines() if line.startswith("reading")][-1:]
    assert result.returncode == 0 and "all read" in result.stdout, (last, result.stderr[-2000:])
