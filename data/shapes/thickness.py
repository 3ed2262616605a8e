"""The minimum part thickness of the synthetic objects: every part survives a 32^3 voxelisation."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import trimesh

from data.shapes.primitives import Part

log = logging.getLogger(__name__)

#: Thinnest allowed part extent, as a fraction of the object's bounding-box diagonal (enforced).
MIN_THICKNESS_FRAC = 0.037


def object_diagonal(parts: Sequence[Part]) -> float:
    """Length of the diagonal of the axis-aligned bounding box of all parts (object units)."""
    bounds = np.array([p.mesh.bounds for p in parts])
    return float(np.linalg.norm(bounds[:, 1].max(axis=0) - bounds[:, 0].min(axis=0)))


def part_min_extent(mesh: trimesh.Trimesh) -> float:
    """Smallest extent of the mesh's minimum-volume oriented bounding box (object units)."""
    return float(np.min(mesh.bounding_box_oriented.primitive.extents))


def _surely_thick(mesh: trimesh.Trimesh, tmin: float) -> bool:
    """Cheap sufficient test that every OBB extent of ``mesh`` is at least ``tmin``.

    A ball of radius r around the hull's centre of mass fits in the convex hull (r is the
    distance to the nearest hull face plane), so the hull, and any box around it, is at least
    2 r wide in every direction.
    """
    hull = mesh.convex_hull
    dist = np.einsum("ij,ij->i", hull.face_normals, hull.triangles[:, 0] - hull.center_mass)
    return bool(2.0 * dist.min() >= tmin)


def enforce_min_thickness(parts: list[Part], frac: float = MIN_THICKNESS_FRAC) -> None:
    """Scale every part that is thinner than ``frac`` x object diagonal along its thin OBB axes.

    The scaling is about the part's own OBB centre, so parts only grow and stay connected.
    """
    for _ in range(3):  # growing parts can grow the diagonal a little: later passes settle it
        tmin = frac * object_diagonal(parts)
        changed = False
        for p in parts:
            if _surely_thick(p.mesh, tmin):
                continue
            obb = p.mesh.bounding_box_oriented.primitive
            ext = np.asarray(obb.extents, dtype=float)
            if ext.min() >= tmin:
                continue
            scale = np.where(ext < tmin, tmin / np.maximum(ext, 1e-9), 1.0)
            frame = np.asarray(obb.transform, dtype=float)
            p.mesh.apply_transform(frame @ np.diag([*scale, 1.0]) @ np.linalg.inv(frame))
            log.debug("thickened part %s by %s", p.name, np.round(scale, 3))
            changed = True
        if not changed:
            break
