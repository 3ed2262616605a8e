"""Render cameras (numpy): the release's intrinsics, look-at viewpoints on a sphere, pixel centres.

Conventions are those of :mod:`geometry` (OpenCV axes, world z up, extrinsic world -> camera).
A camera sits ``DISTANCE`` units from the origin at azimuth ``az`` (about +z, from +x towards
+y) and elevation ``el`` (above the xy plane), looking at the origin with world +z up in the
image. Azimuth is uniform in [0, 360) degrees and elevation uniform in ``ELEVATION_RANGE``.
"""

from __future__ import annotations

import numpy as np

#: Focal length in pixels for a 224 px render: 60 mm lens on a 32 mm sensor (fov ~29.9 deg).
FOCAL_PX = 420.0
#: Camera distance to the origin (scene units).
DISTANCE = 2.0
#: Elevation range of the render cameras (degrees).
ELEVATION_RANGE = (0.0, 30.0)


def intrinsics(size: int = 224) -> np.ndarray:
    """Release intrinsics for a square render of ``size`` pixels: (3, 3) float64, pixels."""
    s = size / 224.0
    return np.array([[FOCAL_PX * s, 0.0, size / 2.0], [0.0, FOCAL_PX * s, size / 2.0],
                     [0.0, 0.0, 1.0]])


def look_at(azimuth_deg: float, elevation_deg: float, distance: float = DISTANCE) -> np.ndarray:
    """World -> camera matrix of a camera on a sphere looking at the origin (numpy).

    Camera centre ``C = d (cos el cos az, cos el sin az, sin el)`` in the z-up world;
    forward ``f = -C / |C|``; right ``r = normalize(f x z_up)``; down ``= f x r``;
    ``R`` has rows ``[r; down; f]`` (OpenCV axes) and ``t = -R C``. The world's up direction
    therefore projects upwards in the image (towards smaller rows).

    Args:
        azimuth_deg: azimuth in degrees, counter-clockwise from world +x about +z.
        elevation_deg: elevation in degrees above the xy-plane; must be in (-90, 90).
        distance: distance from the origin (scene units), > 0.

    Returns:
        float64 ``[4, 4]`` homogeneous world -> camera matrix ``[[R, t], [0, 0, 0, 1]]``.

    Raises:
        ValueError: if ``distance <= 0`` or the elevation is at a pole (up is undefined).
    """
    if not distance > 0:
        raise ValueError(f"`distance` must be > 0, got {distance}.")
    if not -90.0 < elevation_deg < 90.0:
        raise ValueError(f"`elevation_deg` must be in (-90, 90), got {elevation_deg}.")
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    centre = distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    out = np.eye(4)
    out[:3, :3] = rot
    out[:3, 3] = -rot @ centre
    return out


def sample_viewpoints(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random (azimuth, elevation) pairs in degrees: (n, 2) float64."""
    az = rng.uniform(0.0, 360.0, size=n)
    el = rng.uniform(*ELEVATION_RANGE, size=n)
    return np.stack([az, el], axis=1)


def pixel_centres(height: int, width: int, offset: float = 0.5) -> np.ndarray:
    """Pixel coordinates of every pixel of a ``height x width`` image.

    Args:
        height: image rows.
        width: image columns.
        offset: added to the integer index; ``0.5`` gives the centres used by the release's
            ray projection (pixel edges on integers), ``0.0`` the integer-centre convention of
            its unprojection.

    Returns:
        float32 ``[height, width, 2]``; entry ``[v, u]`` is ``(u + offset, v + offset)``
        (column first, as in ``K``).

    Raises:
        ValueError: if a size is not positive.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"`height` and `width` must be positive, got {height}, {width}.")
    v, u = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([u, v], axis=-1).astype(np.float32) + np.float32(offset)
