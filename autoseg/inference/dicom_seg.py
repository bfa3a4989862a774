"""A predicted label map as a DICOM Segmentation (DICOM-SEG), written with highdicom, for viewers such as 3D
Slicer and OHIF and for storing back to a PACS.

One SEG per case, referencing its source series (Study, Series and SOP Instance UIDs, Frame of Reference, one
frame per source slice that holds the segment), segmentation type BINARY, one segment per class (or per region
when the plan trains regions), labelled with the plan's label names. Coded concepts come from the model card
(model.json) when it carries "segment_codes":

    "segment_codes": {"hippocampus": {"category": {"scheme": "SCT", "value": "123037004",
                                                   "meaning": "Anatomical Structure"},
                                      "type": {"scheme": "SCT", "value": "5078000", "meaning": "Hippocampus"}}}

else the generic SNOMED CT "Tissue" category and type, with the label name as the segment's label and
description. The algorithm is identified as autoseg (family: Artificial Intelligence), its version and the model
name. highdicom is imported only here, when a SEG is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoseg.data.dicom.checks import sorted_slices
from autoseg.data.dicom.series import DicomSeries, read_header, require_dicom_library
from autoseg.errors import AutosegError
from autoseg.labels import label_manager
from autoseg.labels.region_sets import region_masks
from autoseg.layout.work import MODEL_CARD
from autoseg.schema.plans import Plans
from autoseg.utils.files import atomic_write, read_json

GENERIC_CODE = {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"}
SEG_ENDING = ".dcm"
_CARD = MODEL_CARD


@dataclass(frozen=True)
class SegmentSpec:
    name: str
    values: tuple[int, ...]  # label values whose union is this segment
    category: dict[str, str]
    type: dict[str, str]


def require_highdicom():
    return require_dicom_library("highdicom", "writing DICOM-SEG")


def segment_specs(plans: Plans, model_folder: Path) -> list[SegmentSpec]:
    """One segment per foreground class (or region), named and coded as the module docstring says."""
    codes = _card_codes(model_folder)
    entries = label_manager(plans).evaluation_entries()  # each region's values, or each foreground class's value
    named = [(name, tuple(values) if isinstance(values, list) else (values,)) for name, values in entries.items()]
    return [SegmentSpec(name, values, *_codes_of(name, codes, model_folder / _CARD)) for name, values in named]


@dataclass
class DicomSegWriter:
    """What every SEG of one prediction run shares: the segments and the algorithm's identity."""

    segments: list[SegmentSpec]
    model_name: str

    @classmethod
    def for_model(cls, plans: Plans, model_folder: Path) -> DicomSegWriter:
        require_highdicom()  # before any case is predicted: a missing library is known at once
        return cls(segment_specs(plans, Path(model_folder)), plans.dataset_name)

    def write(self, labels: np.ndarray, series: DicomSeries, path: Path, series_number: int = 9000) -> Path:
        """`labels` (Z, Y, X) on the series' grid, slices in ITK's order (that of data/dicom/reading.py)."""
        hd = require_highdicom()
        ordered = sorted_slices(series)
        if labels.shape != (len(ordered), ordered[0].rows, ordered[0].columns):
            raise ValueError(
                f"label map {labels.shape} does not fit the series' "
                f"{(len(ordered), ordered[0].rows, ordered[0].columns)}"
            )
        sources = [read_header(s.path) for s in ordered]
        masks = self._pixel_array(labels)
        from autoseg import __version__

        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=masks,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=self._descriptions(hd, __version__),
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="autoseg",
            manufacturer_model_name=self.model_name[:64],
            software_versions=f"autoseg {__version__}",
            device_serial_number="autoseg",
            series_description=f"autoseg {self.model_name}"[:64],
            content_label="AUTOSEG",
            content_description=f"autoseg segmentation ({self.model_name})"[:64],
            omit_empty_frames=bool(masks.any()),
        )  # an empty prediction keeps its frames (a SEG needs one)
        return atomic_write(path, lambda tmp: seg.save_as(tmp, enforce_file_format=True), suffix=SEG_ENDING)

    def _pixel_array(self, labels: np.ndarray) -> np.ndarray:
        """Segments that are single label values cannot overlap: highdicom takes them as one map of segment numbers
        (one volume, not one per class: a 100-class CT would otherwise need 100 volumes of memory); regions
        overlap, so they go as a stack of masks (Z, Y, X, segments)."""
        values = [spec.values[0] for spec in self.segments if len(spec.values) == 1]
        if len(values) < len(self.segments) or len(set(values)) < len(values) or labels.min(initial=0) < 0:
            return np.moveaxis(region_masks(labels, [s.values for s in self.segments]), 0, -1).astype(np.uint8)
        lookup = np.zeros(
            max(int(labels.max(initial=0)), *values) + 1, dtype=np.uint8 if len(values) < 256 else np.uint16
        )
        for number, value in enumerate(values, start=1):
            lookup[value] = number
        return lookup[labels]

    def _descriptions(self, hd, version: str) -> list[Any]:
        from pydicom.sr.codedict import codes

        algorithm = hd.AlgorithmIdentificationSequence(
            name="autoseg",
            family=codes.cid7162.ArtificialIntelligence,
            version=version,
            parameters={"model": self.model_name},
        )
        descriptions = []
        for number, spec in enumerate(self.segments, start=1):
            item = hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=spec.name[:64],
                segmented_property_category=_concept(hd, spec.category),
                segmented_property_type=_concept(hd, spec.type),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
            )
            item.SegmentDescription = spec.name[:64]
            descriptions.append(item)
        return descriptions


def _concept(hd, code: dict[str, str]):
    return hd.sr.CodedConcept(value=code["value"], scheme_designator=code["scheme"], meaning=code["meaning"])


def _card_codes(model_folder: Path) -> dict[str, Any]:
    card = model_folder / _CARD
    if not card.is_file():
        return {}
    codes = read_json(card, "model card").get("segment_codes") or {}
    if not isinstance(codes, dict):
        raise AutosegError(
            '"segment_codes" must map label names to {"category": ..., "type": ...}',
            card,
            'fix or remove "segment_codes" in the model card',
        )
    return codes


def _codes_of(name: str, codes: dict[str, Any], card: Path) -> tuple[dict[str, str], dict[str, str]]:
    entry = codes.get(name)
    if entry is None:
        return GENERIC_CODE, GENERIC_CODE
    pair = []
    for key in ("category", "type"):
        code = entry.get(key) if isinstance(entry, dict) else None
        if not (
            isinstance(code, dict)
            and all(isinstance(code.get(k), str) and code[k] for k in ("scheme", "value", "meaning"))
        ):
            raise AutosegError(
                f'segment_codes[\'{name}\'] needs "{key}": {{"scheme", "value", "meaning"}} (strings)',
                card,
                'e.g. {"scheme": "SCT", "value": "85756007", "meaning": "Tissue"}',
            )
        pair.append({k: code[k] for k in ("scheme", "value", "meaning")})
    return pair[0], pair[1]
