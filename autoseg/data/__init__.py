"""Raw datasets: image I/O with geometry, nnU-Net v2 / MSD layouts, integrity checks, synthetic datasets."""

from autoseg.data.dataset import Case, DatasetInfo, list_input_cases, load_dataset, read_case
from autoseg.data.geometry import Geometry
from autoseg.data.image_io import SUPPORTED_ENDINGS, read_image, read_label, write_image, write_label
from autoseg.data.synthetic import make_synthetic_dataset
from autoseg.data.verify import VerifyReport, verify_dataset

__all__ = [
    "Case",
    "DatasetInfo",
    "Geometry",
    "SUPPORTED_ENDINGS",
    "VerifyReport",
    "list_input_cases",
    "load_dataset",
    "make_synthetic_dataset",
    "read_case",
    "read_image",
    "read_label",
    "verify_dataset",
    "write_image",
    "write_label",
]
