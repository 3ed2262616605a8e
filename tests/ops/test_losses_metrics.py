"""Tests for ops.losses and ops.metrics against loop references and pinned values."""

from __future__ import annotations

import numpy as np
import pytest

from ops.losses import depth_l1_loss, voxel_cross_entropy
from ops.metrics import depth_error, voxel_iou
from tests.ops.conftest import grad, to_numpy
from tests.ops.reference import depth_error_ref, iou_ref, sigmoid_ce_ref


def test_voxel_cross_entropy_matches_reference(rng):
    logits = rng.normal(scale=3.0, size=(2, 3, 4, 4, 4, 1))
    voxels = (rng.uniform(size=(2, 4, 4, 4, 1)) > 0.6).astype(np.float64)
    out = float(to_numpy(voxel_cross_entropy(logits, voxels)))
    assert out == pytest.approx(sigmoid_ce_ref(logits, voxels), rel=1e-10)


def test_voxel_cross_entropy_stable_and_pinned():
    logits = np.array([0.0, 1000.0, -1000.0]).reshape(1, 1, 1, 1, 3, 1)
    voxels = np.array([1.0, 1.0, 1.0]).reshape(1, 1, 1, 3, 1)
    out = float(to_numpy(voxel_cross_entropy(logits, voxels)))
    assert out == pytest.approx((np.log(2.0) + 0.0 + 1000.0) / 3)


def test_voxel_cross_entropy_gradient_is_sigmoid_minus_label(rng):
    logits = rng.normal(size=(1, 2, 2, 2, 2, 1))
    voxels = (rng.uniform(size=(1, 2, 2, 2, 1)) > 0.5).astype(np.float64)
    g = grad(lambda x: voxel_cross_entropy(x, voxels), [logits], 0)
    expected = (1 / (1 + np.exp(-logits)) - voxels[:, None]) / logits.size
    np.testing.assert_allclose(g, expected, atol=1e-12)


def test_depth_l1_loss(rng):
    pred = rng.uniform(1, 3, size=(2, 3, 2, 5, 4, 1))
    gt = rng.uniform(1, 3, size=(2, 2, 5, 4, 1))
    gt[..., :2, :] = 10.0
    out = float(to_numpy(depth_l1_loss(pred, gt)))
    assert out == pytest.approx(np.abs(pred - gt[:, None]).mean())
    mask = gt < 10
    masked = float(to_numpy(depth_l1_loss(pred, gt, mask)))
    total, count = 0.0, 0
    for b in range(2):
        for t in range(3):
            for v in range(2):
                sel = mask[b, v]
                total += np.abs(pred[b, t, v] - gt[b, v])[sel].sum()
                count += sel.sum()
    assert masked == pytest.approx(total / count)


def test_voxel_iou_matches_reference_and_shapes(rng):
    probs = rng.uniform(size=(3, 2, 4, 4, 4, 1))
    voxels = (rng.uniform(size=(3, 4, 4, 4, 1)) > 0.5).astype(np.float32)
    th = (0.3, 0.4, 0.5)
    per = to_numpy(voxel_iou(probs, voxels, th, per_example=True))
    ref = iou_ref(probs, voxels, th)
    assert per.shape == (3, 2, 3)
    np.testing.assert_allclose(per, ref, atol=1e-6)
    np.testing.assert_allclose(to_numpy(voxel_iou(probs, voxels, th)), ref.mean(0), atol=1e-6)


def test_voxel_iou_pinned_values():
    gt = np.zeros((1, 2, 2, 2, 1))
    gt[0, 0, 0, :] = 1  # two occupied voxels
    probs = np.zeros((1, 2, 2, 2, 2, 1))
    probs[0, 0, 0, 0, 0] = 0.9  # step 0: one of the two -> 1/2
    probs[0, 1, 0, 0, :] = 0.9
    probs[0, 1, 1, 1, 1] = 0.5  # step 1 at 0.4: both plus one extra -> 2/3; at 0.6: 2/2
    iou = to_numpy(voxel_iou(probs, gt, (0.4, 0.6)))
    np.testing.assert_allclose(iou, [[0.5, 0.5], [2 / 3, 1.0]], atol=1e-7)
    empty = to_numpy(voxel_iou(np.zeros((1, 1, 2, 2, 2, 1)), np.zeros((1, 2, 2, 2, 1))))
    np.testing.assert_allclose(empty, [[1.0]])  # both empty: defined as 1


def test_depth_error_matches_reference(rng):
    pred = rng.uniform(1, 3, size=(2, 2, 3, 6, 5, 1))
    gt = rng.uniform(1, 3, size=(2, 3, 6, 5, 1))
    gt[rng.uniform(size=gt.shape) > 0.6] = 10.0
    gt[1, 2] = 10.0  # an image without foreground
    out = to_numpy(depth_error(pred, gt))
    ref = depth_error_ref(pred[..., 0], gt[..., 0])
    assert out.shape == (2, 2, 3)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    assert np.isnan(out[1, :, 2]).all()


@pytest.mark.parametrize(
    "call, name",
    [
        (
            lambda: voxel_cross_entropy(np.zeros((1, 2, 4, 4, 4)), np.zeros((1, 4, 4, 4, 1))),
            "logits",
        ),
        (
            lambda: voxel_cross_entropy(np.zeros((1, 2, 4, 4, 4, 1)), np.zeros((1, 3, 4, 4, 1))),
            "voxels",
        ),
        (lambda: depth_l1_loss(np.zeros((1, 2, 2, 4, 4, 1)), np.zeros((1, 3, 4, 4, 1))), "gt"),
        (
            lambda: depth_l1_loss(
                np.zeros((1, 2, 2, 4, 4, 1)), np.zeros((1, 2, 4, 4, 1)), np.zeros((1, 2, 4, 1))
            ),
            "mask",
        ),
        (lambda: voxel_iou(np.zeros((2, 2, 4, 4, 4, 1)), np.zeros((1, 4, 4, 4, 1))), "probs"),
        (
            lambda: voxel_iou(np.zeros((1, 2, 4, 4, 4, 1)), np.zeros((1, 4, 4, 4, 1)), ()),
            "thresholds",
        ),
        (lambda: depth_error(np.zeros((1, 2, 2, 4, 4)), np.zeros((1, 2, 4, 4, 1))), "pred"),
    ],
)
def test_shape_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()
