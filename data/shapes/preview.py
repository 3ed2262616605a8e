"""A shaded preview of an object's parts with the dataset renderer (galleries, eyeballing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from data.io import composite_on_white
from data.meshes import normalise_to_world
from data.render import Scene, render
from data.shapes.primitives import Part
from geometry.camera import DISTANCE, intrinsics, look_at


def render_preview(
    parts: Sequence[Part], azim_deg: float = 35.0, elev_deg: float = 20.0, size: int = 192
) -> np.ndarray:
    """Render a shaded preview of the parts with the dataset renderer (galleries, eyeballing).

    Args:
        parts: the object's parts (ShapeNet frame, +y up).
        azim_deg: camera azimuth about +y; 0 looks at the front (+z), positive turns to +x.
        elev_deg: camera elevation above the horizon.
        size: image side in pixels.

    Returns:
        (size, size, 3) float sRGB image in [0, 1] on a white background.
    """
    meshes = normalise_to_world([p.mesh for p in parts])
    colors = [np.clip(np.asarray(p.render_color), 0.0, 1.0) ** (1 / 2.2) for p in parts]
    # the world is z-up with the object's front (+z here) facing world -y: azimuth 0 -> -90
    E = look_at(azim_deg - 90.0, elev_deg, DISTANCE)
    rgba, _ = render(Scene.from_parts(meshes, colors), intrinsics(size), E, size, size)
    return composite_on_white(rgba)
