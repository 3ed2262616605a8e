"""CSG solids: a rounded box, cylinder, ball or torus, combined with a second primitive (union,
intersection or smooth union) and drilled by through holes and bites: shapes with holes
(genus > 0) that part-based families rarely make.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes import implicit
from data.shapes.implicit import Field
from data.shapes.primitives import Add
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern

PRIMITIVES = ["box", "cylinder", "sphere", "torus"]


def _sample_primitive(s: Sampler, k: int) -> None:
    s.choice(f"prim{k}", PRIMITIVES, p=[3, 2, 2, 1])
    for ax in "xyz":
        s.u(f"size{k}_{ax}", 0.2, 0.5)
        s.u(f"rot{k}_{ax}", -45.0, 45.0)
        s.u(f"off{k}_{ax}", -0.25, 0.25)
    s.u(f"round{k}", 0.0, 0.5)


def sample(s: Sampler) -> None:
    _sample_primitive(s, 0)
    _sample_primitive(s, 1)
    s.choice("combine", ["none", "union", "intersection", "smooth_union"], p=[1, 2, 1, 2])
    n = s.choice("holes", [0, 1, 2, 3], p=[1, 3, 2, 1])
    for k in range(n):
        s.choice(f"hole{k}", ["drill", "bite"], p=[2, 1])
        s.choice(f"hole{k}_axis", [0, 1, 2])
        s.u(f"hole{k}_r", 0.06, 0.18)
        for ax in "xyz":
            s.u(f"hole{k}_{ax}", -0.25, 0.25)
    s.any_color("body")
    sample_pattern(s)


def _primitive(d: dict, v: dict, k: int) -> Field:
    sx, sy, sz = (d[f"size{k}_{ax}"] for ax in "xyz")
    kind = v[f"prim{k}"]
    if kind == "box":
        f = implicit.box([sx, sy, sz], rounding=d[f"round{k}"] * min(sx, sy, sz))
    elif kind == "cylinder":
        f = implicit.cylinder(min(sx, sz), sy)
    elif kind == "sphere":
        f = implicit.sphere(max(sx, sy, sz))
    else:
        f = implicit.torus(max(sx, sz), max(0.35 * min(sx, sz), 0.08))
    c = [0.0, 0.0, 0.0] if k == 0 else [d[f"off{k}_{ax}"] for ax in "xyz"]
    return implicit.local(f, c, implicit.rotation([d[f"rot{k}_{ax}"] for ax in "xyz"]))


def field(d: dict, v: dict) -> Field:
    """The solid's signed field (object units)."""
    a, b = _primitive(d, v, 0), _primitive(d, v, 1)
    f = {"none": a, "union": implicit.union(a, b), "intersection": implicit.intersection(a, b),
         "smooth_union": implicit.smooth_union(a, b, 0.1)}[v["combine"]]
    if v["combine"] == "intersection":  # keep some volume: intersect with a grown copy
        f = implicit.intersection(a, lambda p: b(p) - 0.15)
    holes = []
    for k in range(v["holes"]):
        c = [d[f"hole{k}_{ax}"] for ax in "xyz"]
        r = d[f"hole{k}_r"]
        if v[f"hole{k}"] == "drill":
            holes.append(implicit.local(implicit.cylinder(r, 2.0, axis=v[f"hole{k}_axis"]), c))
        else:
            holes.append(implicit.local(implicit.sphere(1.6 * r), c))
    return implicit.difference(f, *holes) if holes else f


def build(d: dict, v: dict, add: Add) -> None:
    try:
        mesh = implicit.mesh_from_field(field(d, v), [-0.9] * 3, [0.9] * 3, res=56)
    except ValueError:  # the holes ate everything: the first primitive alone
        mesh = implicit.mesh_from_field(_primitive(d, v, 0), [-0.9] * 3, [0.9] * 3, res=56)
    add(mesh, "body", "body")
