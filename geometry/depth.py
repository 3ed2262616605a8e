"""Depth maps (numpy): the release's depth range, background value and foreground test.

Depth is the camera-frame ``z`` of the surface point, in scene units. Depth PNGs store it as
uint16 over ``[0, DEPTH_MAX]``; pixels that see no surface hold ``BACKGROUND_DEPTH``.
"""
from __future__ import annotations

import numpy as np

#: Depth PNG range: uint16 full scale = 10 scene units.
DEPTH_MAX = 10.0
#: Depth PNG scale: scene units = value * DEPTH_SCALE.
DEPTH_SCALE = DEPTH_MAX / 65535.0
#: Depth of background pixels (scene units).
BACKGROUND_DEPTH = DEPTH_MAX
#: A pixel is foreground when its depth is below ``BACKGROUND_DEPTH - FOREGROUND_EPS``
#: (half a uint16 step is 7.6e-5, so PNG rounding never moves a pixel across).
FOREGROUND_EPS = 1e-3


def foreground(depth: np.ndarray, background: float = BACKGROUND_DEPTH) -> np.ndarray:
    """Foreground mask of true depth maps.

    Args:
        depth: ``[...]`` depth (scene units); background pixels hold ``background``.
        background: the background depth (scene units).

    Returns:
        bool ``[...]``: ``depth < background - FOREGROUND_EPS``.
    """
    return np.asarray(depth) < background - FOREGROUND_EPS
