"""Connected-component postprocessing, applied only where cross-validation showed that it helps.

Keeping the largest connected component removes spurious islands of a structure known to be one piece (an
organ); it harms structures with many pieces (metastases). find-best decides per dataset from CV Dice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage


def keep_largest_component(mask: np.ndarray) -> np.ndarray:
    labelled, n = ndimage.label(mask)
    if n <= 1:
        return mask
    sizes = np.bincount(labelled.ravel())
    sizes[0] = 0
    return labelled == int(np.argmax(sizes))


def apply_postprocessing(seg: np.ndarray, rules: dict[str, Any] | None) -> np.ndarray:
    """rules: {"largest_component_foreground": bool, "largest_component_classes": [label values]}."""
    if not rules:
        return seg
    seg = seg.copy()
    if rules.get("largest_component_foreground"):
        foreground = seg > 0
        seg[foreground & ~keep_largest_component(foreground)] = 0
    for value in rules.get("largest_component_classes", []):
        mask = seg == value
        seg[mask & ~keep_largest_component(mask)] = 0
    return seg
