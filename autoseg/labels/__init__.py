"""What a plan's labels are -- plain classes or regions, and the ignore label -- behind one object (manager.py),
and what a region is (region_sets.py). Low in the house: built from schema's Plans or a dataset's description."""

from autoseg.labels.manager import LabelManager, label_manager

__all__ = ["LabelManager", "label_manager"]
