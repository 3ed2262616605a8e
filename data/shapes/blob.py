"""Blobby shapes: smooth implicit surfaces of two to seven metaballs along a random walk, from
pebbles and potatoes to dumbbells and snowmen.

``sample`` draws the parameters, ``build`` turns them into parts (see :mod:`data.shapes`).
"""

from __future__ import annotations

import numpy as np

from data.shapes import implicit
from data.shapes.primitives import Add
from data.shapes.sampler import Sampler
from data.shapes.texture import sample_pattern

MAX_BALLS = 7


def sample(s: Sampler) -> None:
    s.choice("balls", list(range(2, MAX_BALLS + 1)))
    for k in range(MAX_BALLS):
        s.u(f"r{k}", 0.12, 0.35)
        s.u(f"az{k}", 0.0, 360.0)
        s.u(f"el{k}", -80.0, 80.0)
        s.u(f"step{k}", 0.7, 1.4)
    s.u("iso", 0.35, 0.6)
    s.any_color("body")
    sample_pattern(s)


def centres(d: dict, v: dict) -> tuple[np.ndarray, np.ndarray]:
    """Ball centres (K, 3) and radii (K,) (object units): a random walk."""
    c = [np.zeros(3)]
    r = [d["r0"]]
    for k in range(1, v["balls"]):
        az, el = np.radians(d[f"az{k}"]), np.radians(d[f"el{k}"])
        step = d[f"step{k}"] * (r[-1] + d[f"r{k}"]) * 0.7
        c.append(c[-1] + step * np.array([np.cos(el) * np.cos(az), np.sin(el),
                                          np.cos(el) * np.sin(az)]))
        r.append(d[f"r{k}"])
    return np.array(c), np.array(r)


def build(d: dict, v: dict, add: Add) -> None:
    c, r = centres(d, v)
    iso = d["iso"]

    def field(p: np.ndarray) -> np.ndarray:
        s = sum(np.exp(-np.sum((p - ck) ** 2, axis=1) / (rk * rk)) for ck, rk in zip(c, r,
                                                                                     strict=True))
        return (iso - s) * 0.3

    lo, hi = (c - 1.6 * r[:, None]).min(axis=0), (c + 1.6 * r[:, None]).max(axis=0)
    add(implicit.mesh_from_field(field, lo, hi, res=48), "body", "body")
