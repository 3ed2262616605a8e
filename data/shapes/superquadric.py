"""Superquadrics: one to three superellipsoids (box-like to star-like), rotated and overlapping.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes import implicit
from data.shapes.primitives import Add
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern


def sample(s: Sampler) -> None:
    n = s.choice("count", [1, 2, 3], p=[3, 2, 1])
    for k in range(n):
        for ax in "xyz":
            s.u(f"r{k}_{ax}", 0.15, 0.5)
            s.u(f"rot{k}_{ax}", -90.0, 90.0)
            s.u(f"off{k}_{ax}", -0.3, 0.3)
        s.u(f"e1_{k}", 0.15, 1.8)
        s.u(f"e2_{k}", 0.15, 1.8)
        s.any_color(f"body{k}")
    sample_pattern(s)


def build(d: dict, v: dict, add: Add) -> None:
    for k in range(v["count"]):
        r = [d[f"r{k}_{ax}"] for ax in "xyz"]
        c = [0.0, 0.0, 0.0] if k == 0 else [d[f"off{k}_{ax}"] for ax in "xyz"]
        f = implicit.local(implicit.superellipsoid(r, d[f"e1_{k}"], d[f"e2_{k}"]), c,
                           implicit.rotation([d[f"rot{k}_{ax}"] for ax in "xyz"]))
        m = max(r) * 1.05
        add(implicit.mesh_from_field(f, [x - m for x in c], [x + m for x in c], res=40),
            f"body{k}", f"superquadric_{k}")
