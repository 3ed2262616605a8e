"""Random assemblies: three to eight boxes, cylinders, ellipsoids and capsules, each attached to
one placed before it, in one or two colours (like procedurally generated grasping objects).

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np

from data.shapes.primitives import Add, _capsule, _cbox, _cyl, _ellipsoid, _rot, _xf
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern

MAX_PARTS = 8
KINDS = ["box", "cylinder", "ellipsoid", "capsule"]


def sample(s: Sampler) -> None:
    s.choice("parts", list(range(3, MAX_PARTS + 1)))
    for k in range(MAX_PARTS):
        s.choice(f"kind{k}", KINDS)
        s.choice(f"parent{k}", list(range(max(k, 1))))
        for ax in "xyz":
            s.u(f"size{k}_{ax}", 0.05, 0.35)
            s.u(f"dir{k}_{ax}", -1.0, 1.0)
        s.u(f"rot{k}", 0.0, 180.0)
        s.choice(f"color{k}", ["a", "b"])
    s.any_color("a")
    s.any_color("b")
    sample_pattern(s)


def build(d: dict, v: dict, add: Add) -> None:
    centres: list[np.ndarray] = []
    for k in range(v["parts"]):
        size = np.array([d[f"size{k}_{ax}"] for ax in "xyz"])
        if k == 0:
            c = np.zeros(3)
        else:  # on the surface of the parent's bounding ellipsoid, along a random direction
            p = v[f"parent{k}"]
            u = np.array([d[f"dir{k}_{ax}"] for ax in "xyz"])
            u = u / max(float(np.linalg.norm(u)), 1e-6)
            psize = np.array([d[f"size{p}_{ax}"] for ax in "xyz"])
            c = centres[p] + 0.5 * u * psize
        centres.append(c)
        kind = v[f"kind{k}"]
        if kind == "box":
            mesh = _cbox([0, 0, 0], size)
        elif kind == "cylinder":
            mesh = _cyl([0, -size[1] / 2, 0], [0, size[1] / 2, 0], 0.5 * min(size[0], size[2]))
        elif kind == "ellipsoid":
            mesh = _ellipsoid([0, 0, 0], size / 2)
        else:
            r = 0.25 * min(size[0], size[2])
            mesh = _capsule([0, -size[1] / 2 + r, 0], [0, size[1] / 2 - r, 0], r)
        angle = d[f"rot{k}"]
        m = _rot("y", angle) @ _rot("x", angle * 0.5)
        m[:3, 3] = c
        add(_xf(mesh, m), v[f"color{k}"], f"{kind}_{k}")
