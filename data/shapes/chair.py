"""Chairs: a seat and a solid or slatted back on four legs (square or round), a five-spoke pedestal
or a sled base, with optional armrests.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _cbox,
    _cyl,
    _ellipsoid,
    _rot,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
    s.u("seat_width", 0.42, 0.6)
    s.u("seat_depth", 0.4, 0.55)
    s.u("seat_height", 0.4, 0.5)
    s.u("seat_thickness", 0.04, 0.1)
    s.u("back_height", 0.32, 0.62)
    s.u("back_tilt_deg", 0.0, 18.0)
    s.u("back_thickness", 0.04, 0.08)
    s.u("leg_thickness", 0.04, 0.065)
    s.u("arm_height", 0.18, 0.26)
    s.choice("base", ["four_legs", "pedestal", "sled"], p=[5, 2, 1.5])
    s.choice("legs_round", [False, True])
    s.choice("back", ["solid", "slats"], p=[3, 2])
    s.choice("arms", [False, True], p=[3, 2])
    fabric = s.rng.uniform() < 0.5
    s.color("seat", "fabric" if fabric else "wood")
    if s.rng.uniform() < 0.6:
        s.same_color("back", "seat")
    else:
        s.color("back", "fabric" if fabric else "wood")
    s.color("frame", "metal" if s.rng.uniform() < 0.5 else "wood")


def build(d: dict, v: dict, add: Add) -> None:
    W, D, H = d["seat_width"], d["seat_depth"], d["seat_height"]
    st, bt, lt = d["seat_thickness"], d["back_thickness"], d["leg_thickness"]
    bh = d["back_height"]
    y_s0 = H - st
    add(_box([-W / 2, y_s0, -D / 2], [W / 2, H, D / 2]), "seat", "seat")

    zb = -D / 2 + bt / 2
    tilt = _about([0, y_s0, zb], _rot("x", -d["back_tilt_deg"]))
    if v["back"] == "solid":
        add(_box([-W / 2, y_s0 + 0.01, zb - bt / 2], [W / 2, H + bh, zb + bt / 2], tilt), "back",
            "back")
    else:
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, y_s0 + 0.01, zb - bt / 2], [x + lt / 2, H + bh, zb + bt / 2],
                     tilt), "frame" if v["base"] != "pedestal" else "back", f"back_post_{i}")
        add(_box([-W / 2, H + 0.72 * bh, zb - bt / 2], [W / 2, H + bh, zb + bt / 2], tilt), "back",
            "top_rail")
        n = 3
        for i, x in enumerate(np.linspace(-W / 4, W / 4, n)):
            add(_box([x - 0.025, H - 0.01, zb - bt / 3], [x + 0.025, H + 0.74 * bh, zb + bt / 3],
                     tilt), "back", f"back_slat_{i}")

    if v["base"] == "four_legs":
        k = 0
        for x in _sym(W / 2 - lt / 2 - 0.01):
            for z in _sym(D / 2 - lt / 2 - 0.01):
                if v["legs_round"]:
                    add(_cyl([x, 0, z], [x, y_s0 + 0.01, z], lt / 2), "frame", f"leg_{k}")
                else:
                    add(_cbox([x, (y_s0 + 0.01) / 2, z], [lt, y_s0 + 0.01, lt]), "frame",
                        f"leg_{k}")
                k += 1
        add(_cbox([0, 0.25 * H, D / 2 - lt / 2 - 0.01], [W - 0.04, 0.7 * lt, 0.7 * lt]),
            "frame", "stretcher")
    elif v["base"] == "pedestal":
        yc = 0.09
        add(_cyl([0, yc, 0], [0, y_s0 + 0.01, 0], 0.03), "frame", "column")
        add(_cyl([0, yc - 0.03, 0], [0, y_s0 - 0.1, 0], 0.045), "frame", "column_sleeve")
        reach = 0.62 * max(W, D)
        for i in range(5):
            rot = _rot("y", 72.0 * i)
            add(_box([-0.025, yc - 0.02, 0], [0.025, yc + 0.03, reach], rot), "frame",
                f"spoke_{i}")
            caster = rot @ np.array([0.0, 0.035, reach - 0.02, 1.0])
            add(_ellipsoid(caster[:3], [0.035, 0.035, 0.035], subdiv=1), "frame", f"caster_{i}")
    else:
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, 0, -D / 2 - 0.02], [x + lt / 2, lt, D / 2 + 0.02]), "frame",
                f"runner_{i}")
            for j, z in enumerate((D / 2 - lt, -D / 2 + lt)):
                lean = 8.0 if j == 0 else -8.0
                post = _box([x - lt / 2, 0, z - lt / 2], [x + lt / 2, y_s0 + 0.01, z + lt / 2],
                            _about([x, 0, z], _rot("x", lean)))
                add(post, "frame", f"sled_post_{i}_{j}")

    if v["arms"]:
        ah = d["arm_height"]
        for i, x in enumerate(_sym(W / 2 - lt / 2)):
            add(_box([x - lt / 2, H - 0.01, D / 2 - 0.06 - lt], [x + lt / 2, H + ah, D / 2 - 0.06]),
                "frame", f"arm_post_{i}")
            add(_box([x - 0.035, H + ah - 0.01, -D / 2 + 0.02], [x + 0.035, H + ah + 0.04,
                                                                  D / 2 - 0.02]), "frame",
                f"armrest_{i}")
