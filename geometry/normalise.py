"""Model normalisation (numpy): the transform that puts a model into the release's world.

ShapeNet models are centred on their bounding box and scaled to a bounding-box diagonal of 1,
y up; the world of the renders and voxels is z up (:mod:`geometry`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Rotation taking y-up (ShapeNet) coordinates to the z-up world: (x, y, z) -> (x, -z, y).
Y_UP_TO_WORLD = np.array([[1.0, 0, 0, 0], [0, 0, -1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1.0]])


def normalising_transform(lo: Sequence[float], hi: Sequence[float], up: str = "y") -> np.ndarray:
    """The 4x4 transform that centres a bounding box, scales its diagonal to 1 and turns it z up.

    Args:
        lo: ``(3,)`` lower corner of the model's bounding box (any units).
        hi: ``(3,)`` upper corner.
        up: ``"y"`` (ShapeNet) or ``"z"``: the up axis of the input.

    Returns:
        float64 ``[4, 4]`` homogeneous transform, applied as ``M @ [x; 1]``.

    Raises:
        ValueError: if ``up`` is not ``"y"`` or ``"z"`` or the box is empty or degenerate.
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    diag = float(np.linalg.norm(hi - lo))
    if not np.isfinite(diag) or diag <= 0:
        raise ValueError("mesh has an empty or degenerate bounding box")
    T = np.eye(4)
    T[:3, 3] = -(lo + hi) / 2.0
    S = np.diag([1.0 / diag] * 3 + [1.0])
    return (Y_UP_TO_WORLD if up == "y" else np.eye(4)) @ S @ T
