"""Slow, loop-based numpy references for the ops (written from the maths, not the ops code).

Each function walks voxels, pixels and samples one at a time so that it is obviously
correct; tests call them on small inputs.
"""

from __future__ import annotations

import math

import numpy as np


def centre(i, nvox, vmin=-0.5, vmax=0.5):
    return vmin + (i + 0.5) * (vmax - vmin) / nvox


def unproject_ref(feats, K, ext, nvox, im_size=(224, 224), grid_range=(-0.5, 0.5)):
    """proj_splat: ``feats [B*V, h, w, C]`` -> ``[B, V, N, N, N, C + 1]``."""
    B, V = K.shape[:2]
    _, h, w, C = feats.shape
    out = np.zeros((B, V, nvox, nvox, nvox, C + 1))
    for b in range(B):
        for v in range(V):
            fmap = feats[b * V + v]
            P = K[b, v] @ ext[b, v]
            for i in range(nvox):
                for j in range(nvox):
                    for k in range(nvox):
                        X = np.array(
                            [
                                centre(i, nvox, *grid_range),
                                centre(j, nvox, *grid_range),
                                centre(k, nvox, *grid_range),
                                1.0,
                            ]
                        )
                        p = P @ X
                        u = p[0] / p[2] * w / im_size[1]
                        r = p[1] / p[2] * h / im_size[0]
                        u = min(max(u, 0.0), w - 1.0)
                        r = min(max(r, 0.0), h - 1.0)
                        u0, r0 = math.floor(u), math.floor(r)
                        val = np.zeros(C)
                        for du in (0, 1):
                            for dr in (0, 1):
                                wu = (u - u0) if du else (u0 + 1 - u)
                                wr = (r - r0) if dr else (r0 + 1 - r)
                                if wu * wr == 0.0:
                                    continue  # corner may lie outside the map; weight 0
                                val += wu * wr * fmap[r0 + dr, u0 + du]
                        out[b, v, i, j, k, :C] = val
                        out[b, v, i, j, k, C] = p[2]
    return out


def unproject_feats_grad_ref(upstream, feats_shape, K, ext, nvox, im_size=(224, 224)):
    """d(sum(out[..., :C] * upstream)) / d feats, by scattering the bilinear weights."""
    B, V = K.shape[:2]
    _, h, w, C = feats_shape
    g = np.zeros(feats_shape)
    for b in range(B):
        for v in range(V):
            P = K[b, v] @ ext[b, v]
            for i in range(nvox):
                for j in range(nvox):
                    for k in range(nvox):
                        X = np.array([centre(i, nvox), centre(j, nvox), centre(k, nvox), 1.0])
                        p = P @ X
                        u = min(max(p[0] / p[2] * w / im_size[1], 0.0), w - 1.0)
                        r = min(max(p[1] / p[2] * h / im_size[0], 0.0), h - 1.0)
                        u0, r0 = math.floor(u), math.floor(r)
                        for du in (0, 1):
                            for dr in (0, 1):
                                wu = (u - u0) if du else (u0 + 1 - u)
                                wr = (r - r0) if dr else (r0 + 1 - r)
                                if wu * wr == 0.0:
                                    continue
                                g[b * V + v, r0 + dr, u0 + du] += wu * wr * upstream[b, v, i, j, k]
    return g


def project_rays_ref(
    grid,
    K,
    ext,
    im_size=(224, 224),
    proj_x=4,
    samples=64,
    z_range=(1.0, 3.0),
    grid_range=(-0.5, 0.5),
    rounding="release",
):
    """proj_slice: ``grid [B, T, N, N, N, C]`` -> ``([B, T, V, h, w, C, S], margin)``.

    ``margin [B, V, h, w, S]`` is each sample's distance (in cells) to the nearest rounding
    boundary, so tests can skip samples a float round-off could flip.
    """
    B, T, N = grid.shape[:3]
    C = grid.shape[-1]
    V = K.shape[1]
    h, w = im_size[0] // proj_x, im_size[1] // proj_x
    vmin, vmax = grid_range
    zs = np.linspace(z_range[0], z_range[1], samples)
    out = np.zeros((B, T, V, h, w, C, samples))
    margin = np.full((B, V, h, w, samples), np.inf)
    for b in range(B):
        for v in range(V):
            Kinv = np.linalg.inv(K[b, v])
            R, t = ext[b, v, :, :3], ext[b, v, :, 3]
            for row in range(h):
                for col in range(w):
                    pix = np.array([(col + 0.5) * proj_x, (row + 0.5) * proj_x, 1.0])
                    ray = Kinv @ pix
                    for s, z in enumerate(zs):
                        X = R.T @ (ray * z / ray[2] - t)
                        g = (X - vmin) / (vmax - vmin) * N
                        if rounding == "release":
                            idx = [int(np.round(a)) for a in g]  # half to even, as tf.round
                            frac = np.abs(g - np.floor(g) - 0.5)
                        else:
                            idx = [math.floor(a) for a in g]
                            frac = np.abs(g - np.round(g))
                        margin[b, v, row, col, s] = frac.min()
                        if all(0 <= a < N for a in idx):
                            for t_ in range(T):
                                out[b, t_, v, row, col, :, s] = grid[b, t_, idx[0], idx[1], idx[2]]
    return out, margin


def visual_hull_ref(masks, K, ext, nvox, threshold=0.5):
    """Cumulative hulls ``[B, V, N, N, N]`` and each centre's distance to a pixel edge."""
    B, V, H, W = masks.shape
    out = np.zeros((B, V, nvox, nvox, nvox))
    margin = np.full((B, nvox, nvox, nvox), np.inf)
    for b in range(B):
        for i in range(nvox):
            for j in range(nvox):
                for k in range(nvox):
                    alive = True
                    X = np.array([centre(i, nvox), centre(j, nvox), centre(k, nvox)])
                    for v in range(V):
                        xc = ext[b, v, :, :3] @ X + ext[b, v, :, 3]
                        if xc[2] <= 0:
                            alive = False
                        else:
                            u = K[b, v, 0] @ xc / xc[2]
                            r = K[b, v, 1] @ xc / xc[2]
                            margin[b, i, j, k] = min(
                                margin[b, i, j, k], abs(u - round(u)), abs(r - round(r))
                            )
                            col, row = math.floor(u), math.floor(r)
                            if not (0 <= col < W and 0 <= row < H):
                                alive = False
                            elif not masks[b, v, row, col] > threshold:
                                alive = False
                        out[b, v, i, j, k] = float(alive)
    return out, margin


def sigmoid_ce_ref(logits, voxels):
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1]):
            for x, y in zip(logits[b, t].ravel(), voxels[b].ravel(), strict=True):
                p = 1.0 / (1.0 + math.exp(-x))
                total += -(y * math.log(p) + (1 - y) * math.log(1 - p))
                count += 1
    return total / count


def iou_ref(probs, voxels, thresholds):
    B, T = probs.shape[:2]
    out = np.zeros((B, T, len(thresholds)))
    for b in range(B):
        for t in range(T):
            for n, th in enumerate(thresholds):
                inter = union = 0
                for p, y in zip(probs[b, t].ravel(), voxels[b].ravel(), strict=True):
                    a, g = p > th, y > 0.5
                    inter += a and g
                    union += a or g
                out[b, t, n] = inter / union if union else 1.0
    return out


def depth_error_ref(pred, gt, background=10.0):
    B, T, V = pred.shape[:3]
    out = np.zeros((B, T, V))
    for b in range(B):
        for t in range(T):
            for v in range(V):
                errs = [
                    abs(p - g)
                    for p, g in zip(pred[b, t, v].ravel(), gt[b, v].ravel(), strict=True)
                    if g < background
                ]
                out[b, t, v] = sum(errs) / len(errs) if errs else np.nan
    return out


def splat_ref(g, i00, fu, fv, w, rows):
    """Scatter-add of the four corner-weighted gradients (the adjoint of the bilinear read):
    ``g`` ``[n, m, C]``, ``i00`` ``[n, m]`` top-left rows of a ``[rows, C]`` table with ``w``
    rows per image row, ``fu``, ``fv`` ``[n, m, 1]`` right-hand and lower weights."""
    c = g.shape[-1]
    out = np.zeros((rows, c))
    weights = ((1 - fu) * (1 - fv), fu * (1 - fv), (1 - fu) * fv, fu * fv)
    for off, wt in zip((0, 1, w, w + 1), weights, strict=True):
        np.add.at(out, (i00 + off).reshape(-1), (g * wt).reshape(-1, c))
    return out
