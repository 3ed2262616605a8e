"""The release's render cameras: intrinsics and random viewpoints on a sphere around the object.

Conventions are those of :mod:`ops.camera` (OpenCV axes, world z up, extrinsic world -> camera).
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
    """World -> camera extrinsic of a camera on a sphere looking at the origin, z up.

    Args:
        azimuth_deg: azimuth about +z, degrees.
        elevation_deg: elevation above the xy plane, degrees, in (-90, 90).
        distance: distance to the origin, scene units.

    Returns:
        (4, 4) float64 ``[[R, t], [0, 0, 0, 1]]`` with ``x_cam = R x_world + t``; rows of R are
        the camera's right, down and forward axes in world coordinates.
    """
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    centre = distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    forward = -centre / np.linalg.norm(centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    E = np.eye(4)
    E[:3, :3] = R
    E[:3, 3] = -R @ centre
    return E


def sample_viewpoints(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random (azimuth, elevation) pairs in degrees: (n, 2) float64."""
    az = rng.uniform(0.0, 360.0, size=n)
    el = rng.uniform(*ELEVATION_RANGE, size=n)
    return np.stack([az, el], axis=1)
