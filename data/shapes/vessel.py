"""Vessels: sailboats, motorboats and ships on a hull lofted between a deck outline and a keel.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np

from data.shapes.primitives import (
    Add,
    _box,
    _cyl,
    _edge_z,
    _frustum,
    _hull,
    _prism_zy,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
    s.u("length", 0.9, 1.1)
    s.u("beam", 0.22, 0.34)  # fraction of length
    s.u("hull_depth", 0.08, 0.14)  # fraction of length
    s.u("bow_length", 0.25, 0.45)  # tapered part, fraction of length
    s.u("keel_width", 0.2, 0.5)  # bottom width / beam
    s.u("sheer", 0.0, 0.05)  # bow rise, fraction of length
    s.u("cabin_length", 0.18, 0.35)  # fraction of length
    s.u("cabin_height", 0.05, 0.1)  # fraction of length
    s.u("mast_height", 0.8, 1.25)  # fraction of length
    kind = s.choice("kind", ["sailboat", "motorboat", "ship"])
    s.choice("count", [1, 2], p=[2, 1] if kind != "ship" else [1, 1])
    s.choice("stern", ["transom", "round"], p=[3, 1])
    s.color("hull", "hull")
    s.color("deck", "wood")
    s.color("cabin", "aircraft")
    s.color("sail", "sail")
    s.color("mast", "metal")
    s.color("window", "glass")
    s.color("funnel", "accent")


def build(d: dict, v: dict, add: Add) -> None:
    L = d["length"]
    B = d["beam"] * L
    Dh = d["hull_depth"] * L
    bow = d["bow_length"] * L
    kind = v["kind"]
    if kind == "ship":
        B *= 0.75
        Dh *= 1.2
    sheer = d["sheer"] * L
    z_wide = L / 2 - bow
    stern_w = 0.85 if v["stern"] == "transom" else 0.45

    def half_width(z: float) -> float:
        if z >= z_wide:
            u = (z - z_wide) / bow
            return max(B / 2 * (1 - u**1.6), 0.004 * L)
        u = (z_wide - z) / (z_wide + L / 2)
        return B / 2 * (1 - (1 - stern_w) * u**2)

    zs = np.linspace(-L / 2, L / 2, 17)
    deck_y = [Dh + sheer * ((z + L / 2) / L) ** 2 for z in zs]
    deck = [[sx * half_width(z), y, z] for z, y in zip(zs, deck_y, strict=True)
            for sx in (-1, 1)]
    kz = np.linspace(-L / 2 + 0.06 * L, L / 2 - 0.7 * bow, 9)
    keel = [[sx * half_width(z) * d["keel_width"], 0.0, z] for z in kz for sx in (-1, 1)]
    add(_hull(deck + keel), "hull", "hull")
    inner = [[0.93 * x, y + 0.004 * L, z * 0.97] for x, y, z in deck]
    inner += [[0.93 * x, y - 0.05 * L, z * 0.97] for x, y, z in deck]
    add(_hull(inner), "deck", "deck")

    yd = Dh
    if kind == "sailboat":
        cl, chh = d["cabin_length"] * L * 0.8, d["cabin_height"] * L * 0.7
        zc0 = -0.28 * L
        cw = 0.55 * B
        prof = [(zc0, yd - 0.02 * L), (zc0 + cl, yd - 0.02 * L), (zc0 + cl - 0.3 * chh, yd + chh),
                (zc0 + 0.1 * cl, yd + chh)]
        add(_prism_zy(prof, -cw / 2, cw / 2), "cabin", "cabin")
        mh = d["mast_height"] * L
        masts = [0.08 * L] if v["count"] == 1 else [0.12 * L, -0.22 * L]
        for i, zm in enumerate(masts):
            h = mh if i == 0 else 0.7 * mh
            rm = 0.018 * L
            add(_cyl([0, yd - 0.03 * L, zm], [0, yd + h, zm], rm), "mast", f"mast_{i}")
            boom = (0.42 if i == 0 else 0.3) * L
            yb = yd + 0.1 * L
            add(_cyl([0, yb, zm], [0, yb, zm - boom], 0.7 * rm), "mast", f"boom_{i}")
            st = 0.02 * L
            sail = [(zm - rm * 0.5, yb + 0.01), (zm - rm * 0.5, yd + 0.96 * h),
                    (zm - boom + 0.01, yb + 0.01)]
            add(_prism_zy(sail, -st / 2, st / 2), "sail", f"mainsail_{i}")
            if i == 0:
                zbow = L / 2 - 0.06 * L
                jib = [(zm + rm * 0.5, yd + 0.85 * h), (zbow, yd + 0.03 * L),
                       (zm + rm * 0.5, yd + 0.04 * L)]
                add(_prism_zy(jib, -st / 2, st / 2), "sail", "jib")
    elif kind == "motorboat":
        cl, chh = d["cabin_length"] * L, d["cabin_height"] * L
        zc0 = -0.1 * L
        cw = 0.75 * B
        prof = [(zc0, yd - 0.02 * L), (zc0 + cl, yd - 0.02 * L), (zc0 + 0.5 * cl, yd + chh),
                (zc0, yd + chh)]
        add(_prism_zy(prof, -cw / 2, cw / 2), "cabin", "cabin")
        ya, yb = yd + 0.2 * chh, yd + 0.85 * chh
        za, zb = _edge_z(prof, ya, 1), _edge_z(prof, yb, 1)
        band = [(za + 0.004, ya), (zb + 0.004, yb), (zb - 0.05 * L, yb), (za - 0.05 * L, ya)]
        add(_prism_zy(band, -cw / 2 + 0.02 * L, cw / 2 - 0.02 * L), "window", "windshield")
        zr = zc0 + 0.03 * L
        side = [(zb - 0.02 * L, yb), (za - 0.02 * L, ya), (zr, ya), (zr, yb)]
        add(_prism_zy(side, -cw / 2 - 0.003, cw / 2 + 0.003), "window", "side_windows")
        zt = -L / 2
        for i, x in enumerate([0.0] if v["count"] == 1 else list(_sym(0.12 * B + 0.03 * L))):
            add(_box([x - 0.035 * L, yd - 0.08 * L, zt - 0.07 * L],
                     [x + 0.035 * L, yd + 0.06 * L, zt + 0.02 * L]), "mast", f"outboard_{i}")
    else:
        zc0 = -L / 2 + 0.08 * L
        cl = d["cabin_length"] * L * 1.1
        chh = d["cabin_height"] * L
        cw = 0.85 * B
        y = yd - 0.02 * L
        for t in range(3):
            w = cw * (1 - 0.12 * t)
            length = cl * (1 - 0.22 * t)
            add(_box([-w / 2, y, zc0 + 0.04 * L * t], [w / 2, y + chh + 0.02 * L,
                                                       zc0 + 0.04 * L * t + length]),
                "cabin", f"deck_house_{t}")
            y += chh
        z0t, z1t = zc0 + 0.08 * L, zc0 + 0.08 * L + cl * (1 - 0.44)  # top tier
        add(_box([-cw * 0.38, y - 0.65 * chh, z1t - 0.1 * L], [cw * 0.38, y - 0.2 * chh,
                                                                z1t + 0.004]),
            "window", "bridge_windows")
        # funnels rise from the tier below the top one, through the top tier
        for i in range(v["count"]):
            z = z0t + 0.045 * L + 0.085 * L * i
            add(_frustum([0, y - chh - 0.01 * L, z], [0, y + 0.09 * L, z - 0.01 * L], 0.04 * L,
                         0.034 * L), "funnel", f"funnel_{i}")
        add(_cyl([0, y - 0.02 * L, zc0 + 0.6 * cl], [0, y + 0.18 * L, zc0 + 0.6 * cl], 0.012 * L),
            "mast", "mast")
        # cargo boxes on the foredeck
        zc = zc0 + cl + 0.05 * L
        while zc + 0.1 * L < L / 2 - 0.45 * bow:
            add(_box([-0.3 * B, yd - 0.02 * L, zc], [0.3 * B, yd + 0.05 * L, zc + 0.09 * L]),
                "funnel", f"cargo_{int(round((zc - zc0) * 100))}")
            zc += 0.1 * L
