"""Extrusions: a star-shaped section (regular polygon, star, rounded blob or gear) swept along a
straight axis with taper and twist, standing or lying.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np
import trimesh

from data.shapes.primitives import Add, _rot, _xf
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern


def sample(s: Sampler) -> None:
    s.choice("section", ["polygon", "star", "blob", "gear"])
    s.choice("sides", [3, 4, 5, 6, 8])
    s.u("depth", 0.2, 0.6)  # star / gear depth as a fraction of the radius
    for i in range(4):
        s.u(f"wave_{i}", -0.25, 0.25)
    s.u("length", 0.3, 1.5)
    s.u("radius", 0.25, 0.6)
    s.u("taper", 0.0, 0.8)
    s.u("twist", 0.0, 120.0)
    s.choice("pose", ["standing", "lying"])
    s.any_color("body")
    sample_pattern(s)


def section_radius(d: dict, v: dict, theta: np.ndarray) -> np.ndarray:
    """Radius (T,) of the section at angles ``theta`` (T,) (radians), in units of ``radius``."""
    k = v["sides"]
    if v["section"] == "polygon":
        a = np.pi / k
        return np.cos(a) / np.cos((theta % (2 * a)) - a)
    if v["section"] == "star":
        tri = np.abs(((theta * k / np.pi) % 2) - 1)  # 1 at the tips, 0 between
        return 1 - d["depth"] * (1 - tri)
    if v["section"] == "gear":
        return np.where(np.cos(k * 2 * theta) > 0, 1.0, 1 - 0.5 * d["depth"])
    return 1 + sum(d[f"wave_{i}"] * np.cos((i + 2) * theta + i) for i in range(4)) * 0.8


def build(d: dict, v: dict, add: Add) -> None:
    n_t, n_l = 96, 16
    theta = np.linspace(0, 2 * np.pi, n_t, endpoint=False)
    r = section_radius(d, v, theta) * d["radius"]
    verts = []
    for j in range(n_l):
        s = j / (n_l - 1)
        a = theta + np.radians(d["twist"]) * s
        rr = r * (1 - d["taper"] * s)
        verts.append(np.column_stack([rr * np.cos(a), np.full(n_t, s * d["length"]),
                                      rr * np.sin(a)]))
    verts = np.concatenate(verts + [[[0, 0, 0]], [[0, d["length"], 0]]])
    bottom, top = n_t * n_l, n_t * n_l + 1
    faces = []
    for j in range(n_l - 1):
        for i in range(n_t):
            a, b = j * n_t + i, j * n_t + (i + 1) % n_t
            faces += [[a, b + n_t, b], [a, a + n_t, b + n_t]]
    for i in range(n_t):
        faces.append([bottom, i, (i + 1) % n_t])
        o = (n_l - 1) * n_t
        faces.append([top, o + (i + 1) % n_t, o + i])
    mesh = trimesh.Trimesh(verts, np.array(faces), process=True)
    add(_xf(mesh, _rot("z", 90.0) if v["pose"] == "lying" else None), "body", "body")
