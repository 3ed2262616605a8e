"""Cars: sedan, hatchback, pickup or SUV: an extruded body and cabin, windows, head and tail lights,
four wheels and an optional spoiler.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

from data.shapes.primitives import (
    Add,
    _box,
    _cyl,
    _edge_z,
    _prism_zy,
    _sym,
)
from data.shapes.sampler import Sampler


def sample(s: Sampler) -> None:
    s.u("length", 3.8, 5.0)
    s.u("width", 1.65, 1.95)
    s.u("ground_clearance", 0.15, 0.26)
    s.u("body_height", 0.5, 0.75)
    s.u("cabin_height", 0.42, 0.58)
    s.u("wheel_radius", 0.3, 0.37)
    s.u("hood_length", 0.22, 0.32)  # fraction of length
    s.u("rear_length", 0.15, 0.24)  # trunk, fraction of length
    s.u("wheelbase", 0.56, 0.64)  # fraction of length
    s.u("windshield_slope", 0.8, 1.4)  # horizontal run per unit cabin height
    s.choice("body", ["sedan", "hatchback", "pickup", "suv"], p=[3, 2, 1.5, 2])
    s.choice("spoiler", [False, True], p=[4, 1])
    s.color("body", "paint")
    s.color("glass", "glass")
    s.color("tire", "rubber")
    s.color("hub", "metal")
    s.color("headlight", "light")
    s.color("taillight", "red")


def build(d: dict, v: dict, add: Add) -> None:
    kind = v["body"]
    L, W = d["length"], d["width"]
    clr, bh, ch, wr = d["ground_clearance"], d["body_height"], d["cabin_height"], d["wheel_radius"]
    if kind == "suv":
        clr, bh, ch, wr = clr * 1.3, bh * 1.15, ch * 1.15, wr * 1.1
    elif kind == "pickup":
        clr, bh, wr = clr * 1.2, bh * 1.1, wr * 1.08
    y0, y1 = clr, clr + bh
    rear_v = kind in ("hatchback", "suv", "pickup")
    body = [(L / 2 - 0.04 * L, y0), (L / 2, y0 + 0.45 * bh), (L / 2 - 0.05 * L, y1),
            (-L / 2 + (0.015 if rear_v else 0.03) * L, y1),
            (-L / 2, y1 - (0.15 if rear_v else 0.3) * bh), (-L / 2, y0 + 0.3 * bh),
            (-L / 2 + 0.04 * L, y0)]
    add(_prism_zy(body, -W / 2, W / 2), "body", "body")

    # cabin (greenhouse) side profile
    z_ws = L / 2 - d["hood_length"] * L
    run = d["windshield_slope"] * ch
    yb, yt = y1 - 0.02, y1 + ch
    if kind == "sedan":
        zr = -L / 2 + d["rear_length"] * L
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.9 * ch, yt), (zr, yb)]
    elif kind == "hatchback":
        zr = -L / 2 + 0.03 * L
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.45 * ch, yt), (zr, yb)]
    elif kind == "suv":
        zr = -L / 2 + 0.02 * L
        run *= 0.75
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.12 * ch, yt), (zr, yb)]
    else:
        zr = z_ws - 0.32 * L
        run *= 0.7
        cab = [(z_ws, yb), (z_ws - run, yt), (zr + 0.05 * ch, yt), (zr, yb)]
    wc = 0.9 * W
    add(_prism_zy(cab, -wc / 2, wc / 2), "body", "cabin")

    # windows: side glass (wide in x) and front/rear glass (protruding from the slopes)
    ga, gb = y1 + 0.1 * ch, y1 + 0.84 * ch
    pil = 0.1
    side = [(_edge_z(cab, ga, 1) - pil, ga), (_edge_z(cab, gb, 1) - pil, gb),
            (_edge_z(cab, gb, -1) + pil, gb), (_edge_z(cab, ga, -1) + pil, ga)]
    add(_prism_zy(side, -wc / 2 - 0.012, wc / 2 + 0.012), "glass", "side_windows")
    for name, sgn in (("windshield", 1), ("rear_window", -1)):
        za, zb = _edge_z(cab, ga, sgn), _edge_z(cab, gb, sgn)
        band = [(za + sgn * 0.015, ga), (zb + sgn * 0.015, gb), (zb - sgn * 0.45, gb),
                (za - sgn * 0.45, ga)]
        add(_prism_zy(band, -wc / 2 + 0.08, wc / 2 - 0.08), "glass", name)

    if kind == "pickup":
        wt, bed_h = 0.18, 0.4 * ch
        z_bed0, z_bed1 = -L / 2 + 0.015 * L, zr + 0.02
        for i, x in enumerate(_sym(W / 2 - wt / 2)):
            add(_box([x - wt / 2, y1 - 0.05, z_bed0], [x + wt / 2, y1 + bed_h, z_bed1]), "body",
                f"bed_wall_{i}")
        add(_box([-W / 2, y1 - 0.05, z_bed0], [W / 2, y1 + bed_h, z_bed0 + wt]), "body",
            "tailgate")
    if v["spoiler"] and kind in ("sedan", "hatchback"):
        zs = -L / 2 + 0.05 * L if kind == "sedan" else cab[2][0] - 0.05
        ys = y1 + 0.12 if kind == "sedan" else yt + 0.02
        add(_box([-0.45 * W, ys - 0.1, zs - 0.25], [0.45 * W, ys + 0.1, zs]), "body", "spoiler")

    # lights follow the body's front and rear faces
    for name, key, sgn in (("headlight", "headlight", 1), ("taillight", "taillight", -1)):
        la, lb = y0 + 0.45 * bh, y0 + 0.8 * bh
        za, zb = _edge_z(body, la, sgn), _edge_z(body, lb, sgn)
        prof = [(za + sgn * 0.02, la), (zb + sgn * 0.02, lb), (zb - sgn * 0.3, lb),
                (za - sgn * 0.3, la)]
        for i, x in enumerate(_sym(W / 2 - 0.24)):
            add(_prism_zy(prof, x - 0.18, x + 0.18), key, f"{name}_{i}")

    # wheels
    wb = d["wheelbase"] * L
    k = 0
    for z in _sym(wb / 2):
        for sx in (-1, 1):
            xo = sx * (W / 2 + 0.015)
            xi = sx * (W / 2 - 0.23)
            add(_cyl([xi, wr, z], [xo, wr, z], wr), "tire", f"wheel_{k}")
            add(_cyl([sx * (W / 2 - 0.17), wr, z], [sx * (W / 2 + 0.035), wr, z], 0.6 * wr), "hub",
                f"hub_{k}")
            k += 1
