"""Rifles: receiver, barrel, a solid or skeleton stock, a pistol or traditional grip, a box, curved
or no magazine, an optional handguard and scope.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _about,
    _box,
    _cyl,
    _frustum,
    _hull,
    _prism_zy,
    _rot,
    _sym,
    _translate,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
    s.u("length", 0.9, 1.3)
    s.u("barrel_length", 0.3, 0.45)  # fraction of length
    s.u("barrel_radius", 0.02, 0.028)  # fraction of length
    s.u("stock_length", 0.25, 0.33)  # fraction of length
    s.u("stock_drop", 0.1, 0.17)  # butt height, fraction of length
    s.u("receiver_height", 0.07, 0.1)  # fraction of length
    s.u("magazine_length", 0.12, 0.22)  # fraction of length
    s.u("magazine_angle_deg", 0.0, 25.0)
    s.u("body_width", 0.045, 0.06)  # fraction of length
    s.choice("stock", ["solid", "skeleton"], p=[3, 1])
    s.choice("magazine", ["box", "curved", "none"], p=[3, 2, 2])
    s.choice("scope", [False, True])
    s.choice("grip", ["pistol", "traditional"])
    s.choice("handguard", [True, False])
    s.color("stock", "rifle_body")
    s.color("metal", "rifle_metal")
    if s.rng.uniform() < 0.5:
        s.same_color("handguard", "stock")
    else:
        s.color("handguard", "rifle_metal")
    s.color("scope", "rifle_metal")


def build(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    sl, bl = d["stock_length"] * L, d["barrel_length"] * L
    rh, w, br = d["receiver_height"] * L, d["body_width"] * L, d["barrel_radius"] * L
    drop = d["stock_drop"] * L
    z_rec0, z_rec1 = -L / 2 + sl, L / 2 - bl
    y_top, y_bot = 0.4 * rh, -0.6 * rh
    add(_box([-w / 2, y_bot, z_rec0 - 0.02], [w / 2, y_top, z_rec1]), "metal", "receiver")
    add(_cyl([0, 0, z_rec1 - 0.03], [0, 0, L / 2], br), "metal", "barrel")
    add(_cyl([0, 0, L / 2 - 0.04 * L], [0, 0, L / 2 + 0.01], 1.35 * br), "metal", "muzzle")
    add(_box([-0.3 * w, br * 0.5, L / 2 - 0.07 * L], [0.3 * w, 2.2 * br + 0.01, L / 2 - 0.04 * L]),
        "metal", "front_sight")

    zb = -L / 2
    if v["stock"] == "solid":
        prof = [(zb, y_top - 0.05 * rh), (zb, y_top - drop), (z_rec0 + 0.01, y_bot - 0.15 * rh),
                (z_rec0 + 0.01, y_top - 0.1 * rh)]
        if v["grip"] == "traditional":
            prof[2] = (z_rec0 + 0.05 * L, y_bot - 0.45 * rh)
        add(_prism_zy(prof, -w / 2, w / 2), "stock", "stock")
    else:
        bar = 0.45 * rh
        add(_box([-w / 2, y_top - 0.05 * rh - drop, zb], [w / 2, y_top - 0.05 * rh, zb + 0.04 * L]),
            "stock", "butt_plate")
        add(_box([-0.4 * w, y_top - 0.05 * rh - bar, zb], [0.4 * w, y_top - 0.05 * rh,
                                                            z_rec0 + 0.01]), "stock", "stock_bar")
        lo = [[x, y, zb + 0.02 * L] for x in _sym(0.4 * w)
              for y in (y_top - drop, y_top - drop + bar)]
        lo += [[x, y, z_rec0 + 0.01] for x in _sym(0.4 * w) for y in (y_bot, y_bot + bar)]
        add(_hull(lo), "stock", "stock_lower_bar")

    if v["grip"] == "pistol":
        g = _box([-0.45 * w, y_bot - 0.13 * L, -0.025 * L], [0.45 * w, y_bot + 0.01, 0.025 * L],
                 _about([0, y_bot, 0], _rot("x", 18.0)) @ _translate([0, 0, z_rec0 + 0.07 * L]))
        add(g, "stock", "grip")
    tg = [z_rec0 + 0.1 * L, z_rec0 + 0.18 * L]
    add(_box([-0.3 * w, y_bot - 0.045 * L, tg[0]], [0.3 * w, y_bot + 0.01, tg[1]]), "metal",
        "trigger_guard")

    if v["handguard"] or v["grip"] == "traditional":
        z_h1 = z_rec1 + 0.45 * bl if v["grip"] == "traditional" else z_rec1 + 0.35 * bl
        yb_h = y_bot if v["grip"] == "traditional" else -1.6 * br
        add(_box([-0.5 * w, yb_h, z_rec1 - 0.03], [0.5 * w, 1.6 * br, z_h1]), "handguard",
            "handguard")

    if v["magazine"] != "none":
        ml = d["magazine_length"] * L * (1.0 if v["magazine"] == "box" else 0.85)
        zm = z_rec1 - 0.09 * L
        ang = d["magazine_angle_deg"] * (1.0 if v["magazine"] == "box" else 0.5)
        piv = _about([0, y_bot, zm], _rot("x", -ang))
        hw, hd = 0.4 * w, 0.035 * L
        add(_box([-hw, y_bot - 0.5 * ml, zm - hd], [hw, y_bot + 0.01, zm + hd], piv), "metal",
            "magazine")
        if v["magazine"] == "curved":
            piv2 = piv @ _about([0, y_bot - 0.5 * ml, zm], _rot("x", -25.0))
            add(_box([-0.4 * w, y_bot - ml, zm - 0.035 * L], [0.4 * w, y_bot - 0.45 * ml,
                                                               zm + 0.035 * L], piv2),
                "metal", "magazine_lower")
    if v["scope"]:
        ys = y_top + 0.06 * L
        zs0, zs1 = z_rec0 + 0.01 * L, z_rec1 + 0.05 * L
        rs = 0.022 * L
        add(_cyl([0, ys, zs0 + 0.06 * L], [0, ys, zs1 - 0.06 * L], rs), "scope", "scope_tube")
        add(_frustum([0, ys, zs0], [0, ys, zs0 + 0.07 * L], 1.4 * rs, rs), "scope", "scope_eye")
        add(_frustum([0, ys, zs1], [0, ys, zs1 - 0.08 * L], 1.6 * rs, rs), "scope", "scope_obj")
        for i, z in enumerate((zs0 + 0.1 * L, zs1 - 0.12 * L)):
            add(_box([-0.4 * w, y_top - 0.01, z - 0.02 * L], [0.4 * w, ys, z + 0.02 * L]), "metal",
                f"scope_mount_{i}")
