"""Benchmark of ops.project_rays (proj_slice) at the D-LSM size.

Grid [B=2, T=4, 32, 32, 32, 32] projected into V = 4 views of 56 x 56 pixels with 64
samples per ray (output [2, 4, 4, 56, 56, 32, 64], 822 MB in float32). Times forward and
forward + backward (gradient with respect to the grid of ``sum(out^2) / 2``), eager and
compiled; memory is the peak-RSS delta of a fresh subprocess per (mode, pass), as in
``bm_unproject.py``.

Usage::

    python -m benchmarks.bm_project --backends tensorflow jax --repeats 3
"""

from __future__ import annotations

import numpy as np

from benchmarks.bm_unproject import main


def project_case():
    """``(fn, [grid, K, extrinsic])``: the D-LSM-size projection (module docstring)."""
    from geometry.camera import look_at as look_at_extrinsic
    from ops.project import project_rays

    rng = np.random.default_rng(0)
    batch, steps, views, nvox, channels = 2, 4, 4, 32, 32
    grid = rng.uniform(size=(batch, steps, nvox, nvox, nvox, channels)).astype(np.float32)
    ext = np.stack(
        [
            look_at_extrinsic(rng.uniform(0, 360), rng.uniform(-20, 40), 2.0)[:3]
            for _ in range(batch * views)
        ]
    ).reshape(batch, views, 3, 4)
    K = np.tile(np.array([[420.0, 0, 112], [0, 420.0, 112], [0, 0, 1]]), (batch, views, 1, 1))

    def fn(g, k, e):
        return project_rays(g, k, e, proj_x=4, samples=64)

    return fn, [grid, K.astype(np.float32), ext.astype(np.float32)]


if __name__ == "__main__":
    main(
        project_case,
        "project_rays: grid 2x4x32^3x32 -> 4 views x 56x56 x 64 samples (B=2, T=4), float32",
        "benchmarks.bm_project",
    )
