"""Tables: dining or coffee tables with a rectangular or round top on four legs (optional apron and
shelf), one or two pedestals or trestles.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import math

from data.shapes.primitives import (
    Add,
    _box,
    _cbox,
    _cyl,
    _frustum,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
    s.u("length", 0.8, 2.0)
    s.u("width_ratio", 0.5, 1.0)
    s.u("height", 0.68, 0.8)
    s.u("coffee_height", 0.35, 0.5)
    s.u("top_thickness", 0.03, 0.07)
    s.u("leg_thickness", 0.05, 0.1)
    s.u("leg_inset", 0.02, 0.12)
    s.u("apron_height", 0.06, 0.12)
    top = s.choice("top", ["rect", "round"], p=[3, 1.5])
    if top == "round":  # trestles only under rectangular tops
        s.choice("base", ["four_legs", "pedestal"], p=[5, 3])
    else:
        s.choice("base", ["four_legs", "pedestal", "trestle"], p=[5, 2, 1.5])
    s.choice("apron", [True, False])
    s.choice("kind", ["dining", "coffee"], p=[3, 1])
    s.choice("shelf", [False, True], p=[3, 1])
    s.color("top", "wood" if s.rng.uniform() < 0.7 else "plastic")
    if s.rng.uniform() < 0.5:
        s.same_color("legs", "top")
    else:
        s.color("legs", "metal" if s.rng.uniform() < 0.5 else "wood")


def build(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    Wd = L * d["width_ratio"]
    H = d["height"] if v["kind"] == "dining" else d["coffee_height"]
    tt, lt, ins = d["top_thickness"], d["leg_thickness"], d["leg_inset"]
    round_top = v["top"] == "round"
    # feet and rails at least as thick as the enforced minimum, so nothing sinks into the floor
    fh = max(0.06, 0.04 * math.sqrt(L**2 + Wd**2 + H**2))
    if round_top:
        R = 0.5 * min(L, 1.5) * (0.7 + 0.3 * d["width_ratio"])
        add(_cyl([0, H - tt, 0], [0, H, 0], R), "top", "top")
        hx = hz = R * 0.68 - ins * 0.5
    else:
        add(_box([-L / 2, H - tt, -Wd / 2], [L / 2, H, Wd / 2]), "top", "top")
        hx, hz = L / 2 - ins - lt / 2, Wd / 2 - ins - lt / 2
    y_top0 = H - tt + 0.005
    base = v["base"]
    if base == "four_legs":
        corners = [(x, z) for x in _sym(hx) for z in _sym(hz)]
        for k, (x, z) in enumerate(corners):
            add(_cbox([x, y_top0 / 2, z], [lt, y_top0, lt]), "legs", f"leg_{k}")
        if v["apron"]:
            ah = min(d["apron_height"], 0.3 * H)
            a0 = 0.7 * lt
            for i, x in enumerate(_sym(hx)):
                add(_box([x - a0 / 2, y_top0 - ah, -hz], [x + a0 / 2, y_top0, hz]), "legs",
                    f"apron_x_{i}")
            for i, z in enumerate(_sym(hz)):
                add(_box([-hx, y_top0 - ah, z - a0 / 2], [hx, y_top0, z + a0 / 2]), "legs",
                    f"apron_z_{i}")
        if v["shelf"]:
            add(_box([-hx, 0.2 * H, -hz], [hx, 0.2 * H + lt * 0.6, hz]), "top", "shelf")
    elif base == "pedestal":
        n = 2 if (not round_top and L > 1.4) else 1
        xs = [0.0] if n == 1 else list(_sym(L * 0.28))
        for i, x in enumerate(xs):
            rc = max(1.2 * lt, 0.06)
            add(_cyl([x, 0.5 * fh, 0], [x, y_top0, 0], rc), "legs", f"column_{i}")
            if v["shelf"] or round_top:
                fr = min(hz + lt, 0.7 * (Wd / 2 if not round_top else hx))
                add(_frustum([x, 0, 0], [x, fh, 0], fr, 0.8 * fr), "legs", f"foot_{i}")
            else:
                reach = min(Wd / 2 - 0.05, 0.45)
                add(_box([x - lt * 0.6, 0, -reach], [x + lt * 0.6, fh, reach]), "legs",
                    f"foot_{i}_z")
                add(_box([x - reach * 0.6, 0, -lt * 0.6], [x + reach * 0.6, fh, lt * 0.6]),
                    "legs", f"foot_{i}_x")
            add(_box([x - 0.3 * hx / n, y_top0 - fh, -0.3 * hz], [x + 0.3 * hx / n, y_top0,
                                                                       0.3 * hz]),
                "legs", f"bracket_{i}")
    else:
        zr = hz + lt / 2
        for i, x in enumerate(_sym(hx)):
            add(_box([x - lt / 2, 0.05, -0.35 * zr], [x + lt / 2, y_top0, 0.35 * zr]), "legs",
                f"trestle_{i}")
            add(_box([x - lt / 2, 0, -zr], [x + lt / 2, fh, zr]), "legs", f"trestle_foot_{i}")
            add(_box([x - lt / 2, y_top0 - fh, -zr], [x + lt / 2, y_top0, zr]), "legs",
                f"trestle_top_{i}")
        add(_box([-hx, 0.3 * H, -lt / 2], [hx, 0.3 * H + lt, lt / 2]), "legs", "stretcher")
