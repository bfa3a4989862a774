"""autoseg: self-configuring segmentation for medical and biomedical images."""
__version__ = "0.1.0"
