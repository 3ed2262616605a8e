"""Shared test inputs: random cameras and analytic shapes (numpy only)."""

from __future__ import annotations

import numpy as np

from geometry.camera import look_at

K224 = np.array([[420.0, 0.0, 112.0], [0.0, 420.0, 112.0], [0.0, 0.0, 1.0]])


def random_cameras(rng, batch, views, im_size=(224, 224), wide=False):
    """``K [B, V, 3, 3]`` and ``extrinsic [B, V, 3, 4]`` (float64) of cameras around the origin.

    The cameras are jittered off the look-at pose (rotation, principal point, focal) and
    placed close enough that parts of the unit cube fall outside the image, so clamping and
    out-of-grid paths are exercised. ``wide`` keeps the whole cube in view.
    """
    h, w = im_size
    Ks = np.zeros((batch, views, 3, 3))
    Es = np.zeros((batch, views, 3, 4))
    for b in range(batch):
        for v in range(views):
            dist = rng.uniform(2.4, 2.8) if wide else rng.uniform(1.4, 2.2)
            ext = look_at(rng.uniform(0, 360), rng.uniform(-40, 60), dist)[:3]
            angle = rng.normal(size=3) * 0.05
            ext = _small_rotation(angle) @ ext
            ext[:, 3] += rng.normal(size=3) * 0.05
            f = (w * 420.0 / 224.0) * rng.uniform(0.6, 0.8 if wide else 1.3)
            Ks[b, v] = [
                [f, 0.0, w / 2 + rng.normal() * 3],
                [0.0, f * rng.uniform(0.95, 1.05), h / 2 + rng.normal() * 3],
                [0.0, 0.0, 1.0],
            ]
            Es[b, v] = ext
    return Ks, Es


def _small_rotation(angle):
    ax, ay, az = angle
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def sphere_grid(nvox, radius, centre=(0.0, 0.0, 0.0)):
    """``[N, N, N]`` float occupancy of voxel centres inside a sphere, indexed ``[x, y, z]``."""
    c = -0.5 + (np.arange(nvox) + 0.5) / nvox
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    d2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
    return (d2 <= radius**2).astype(np.float64)


def sphere_silhouette(K, ext, im_size, radius, centre=(0.0, 0.0, 0.0)):
    """``[H, W]`` bool silhouette of a sphere; pixel ``(v, u)`` tested at ``(u + .5, v + .5)``."""
    h, w = im_size
    cam_centre = -ext[:, :3].T @ ext[:, 3]
    vv, uu = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    rays = np.linalg.inv(K) @ np.stack([uu.ravel(), vv.ravel(), np.ones(h * w)])
    dirs = (ext[:, :3].T @ rays).T
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    oc = cam_centre - np.asarray(centre)
    b = dirs @ oc
    disc = b**2 - (oc @ oc - radius**2)
    return (disc > 0).reshape(h, w)
