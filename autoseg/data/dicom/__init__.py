"""DICOM in: image series found in a folder by SeriesInstanceUID (series.py), refused with one line when their
slices do not make one even voxel grid (checks.py), read by SimpleITK/GDCM so the geometry is ITK's
(reading.py); a folder of series as cases to predict (cases.py), a report per series for `autoseg verify`
(report.py), and DICOM + DICOM-SEG converted to an nnU-Net v2 dataset (segmentations.py, convert.py).

pydicom reads the headers (it is installed with the `dicom` extra: pip install "autoseg[dicom]").
"""
