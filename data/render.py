"""Render RGBA images and exact depth maps of meshes with trimesh ray casting (Embree).

The camera model is the release's (see :mod:`geometry` for the convention, written once):
OpenCV axes, ``K`` in pixels, extrinsic ``[R | t]`` world -> camera. The ray of pixel
``(row v, col u)`` passes through the image point ``(u + 0.5, v + 0.5)``: pixel ``i`` covers
``[i, i + 1)``, as in the Blender renders of the release (whose principal point is 112 for 224 px).

Depth is the camera-frame z of the first surface hit (scene units); background is ``inf``.
Shading: Lambertian with a headlight and a fixed key light, plus ambient, on per-part colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import trimesh

#: Key light direction in world coordinates (z-up world), pointing from the scene to the light.
KEY_LIGHT = np.array([0.4, 0.3, 1.0]) / np.linalg.norm([0.4, 0.3, 1.0])


@dataclass
class Scene:
    """A mesh with one colour per face, ready for ray casting.

    Attributes:
        mesh: all parts concatenated, world coordinates (scene units).
        face_colors: (F, 3) float linear RGB in [0, 1].
    """

    mesh: trimesh.Trimesh
    face_colors: np.ndarray

    @classmethod
    def from_parts(cls, meshes: Sequence[trimesh.Trimesh],
                   colors: Sequence[Sequence[float] | np.ndarray]) -> Scene:
        """Concatenate parts; ``colors[i]`` is the RGB (3,) of every face of ``meshes[i]``, or
        one RGB per face (F_i, 3)."""
        if len(meshes) != len(colors):
            raise ValueError("one colour per mesh is required")
        fc = np.concatenate([np.broadcast_to(np.asarray(c, float)[..., :3], (len(m.faces), 3))
                             for m, c in zip(meshes, colors, strict=True)])
        mesh = trimesh.util.concatenate(list(meshes))
        return cls(mesh=mesh, face_colors=fc)


def camera_rays(K: np.ndarray, extrinsic: np.ndarray, height: int,
                width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World-space rays through the centres of all pixels.

    Args:
        K: (3, 3) intrinsics in pixels.
        extrinsic: (3, 4) or (4, 4) world -> camera.
        height, width: image size in pixels.

    Returns:
        origin: (3,) camera centre in world units.
        dirs: (H*W, 3) unit ray directions in world coordinates, row-major pixel order.
        dirs_z: (H*W,) camera-frame z of each unit direction (depth = t * dirs_z).
    """
    E = np.asarray(extrinsic, dtype=np.float64)
    R, t = E[:3, :3], E[:3, 3]
    v, u = np.mgrid[0:height, 0:width]
    pix = np.stack([u.ravel() + 0.5, v.ravel() + 0.5, np.ones(u.size)], axis=0)
    d_cam = np.linalg.inv(np.asarray(K, dtype=np.float64)) @ pix  # (3, HW)
    d_cam /= np.linalg.norm(d_cam, axis=0, keepdims=True)
    dirs = (R.T @ d_cam).T
    origin = -R.T @ t
    return origin, dirs, d_cam[2]


def render(scene: Scene, K: np.ndarray, extrinsic: np.ndarray, height: int = 224,
           width: int = 224, ambient: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Render one view.

    Args:
        scene: the mesh and its face colours (world units).
        K: (3, 3) intrinsics in pixels.
        extrinsic: (3, 4) or (4, 4) world -> camera.
        height, width: image size in pixels.
        ambient: ambient light fraction in [0, 1].

    Returns:
        rgba: (H, W, 4) uint8; alpha 255 where a ray hits the mesh, else 0 (RGB 255 there).
        depth: (H, W) float64 camera-frame z in scene units; ``inf`` on the background.
    """
    origin, dirs, dirs_z = camera_rays(K, extrinsic, height, width)
    n = dirs.shape[0]
    origins = np.broadcast_to(origin, (n, 3))
    locs, ray_idx, tri_idx = scene.mesh.ray.intersects_location(
        origins, dirs, multiple_hits=False)
    depth = np.full(n, np.inf)
    rgb = np.ones((n, 3))
    alpha = np.zeros(n, dtype=np.uint8)
    if len(ray_idx):
        dist = np.linalg.norm(locs - origin, axis=1)
        depth[ray_idx] = dist * dirs_z[ray_idx]
        normals = scene.mesh.face_normals[tri_idx]
        view = -dirs[ray_idx]
        facing = np.sign(np.einsum("ij,ij->i", normals, view))
        normals = normals * np.where(facing == 0, 1.0, facing)[:, None]
        head = np.clip(np.einsum("ij,ij->i", normals, view), 0.0, 1.0)
        key = np.clip(normals @ KEY_LIGHT, 0.0, 1.0)
        shade = ambient + (1.0 - ambient) * (0.55 * head + 0.45 * key)
        col = scene.face_colors[tri_idx] * shade[:, None]
        # a touch of specular from the headlight for a less flat look
        col = col + 0.12 * head[:, None] ** 24
        rgb[ray_idx] = np.clip(col, 0.0, 1.0)
        alpha[ray_idx] = 255
    rgba = np.concatenate([np.round(rgb * 255).astype(np.uint8), alpha[:, None]], axis=1)
    return rgba.reshape(height, width, 4), depth.reshape(height, width)
