"""The unseen-category protocol in test tables: means over seen and unseen classes."""

from __future__ import annotations

import numpy as np

from training.evaluate import EvalResult


def _result(seen):
    # 3 classes x 2 models, 2 views, 1 threshold; IoU values chosen by hand
    models = [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2"), ("c", "1"), ("c", "2")]
    scores = np.array([[0.2, 0.4], [0.4, 0.6], [0.5, 0.5], [0.7, 0.9], [0.1, 0.3], [0.3, 0.1]])
    hull = scores / 2
    return EvalResult(task="vlsm", metric="iou", thresholds=(0.4,), models=models,
                      scores=scores[..., None], hull=hull[..., None], seen=seen)


def test_seen_and_unseen_means_numpy_reference():
    res = _result(frozenset({"a", "c", "zz"}))  # zz: trained on but not tested
    assert res.seen_unseen() == (["a", "c"], ["b"])
    class_means = {"a": [0.3, 0.5], "b": [0.6, 0.7], "c": [0.2, 0.2]}
    np.testing.assert_allclose(res.group_mean(["a", "c"]), [0.25, 0.35])
    np.testing.assert_allclose(res.group_mean(["b"], "hull"), [0.3, 0.35])
    out = res.to_json()["results"]["thresh_0.4"]
    np.testing.assert_allclose(out["lsm"]["mean_seen"], [0.25, 0.35])
    np.testing.assert_allclose(out["lsm"]["mean_unseen"], class_means["b"])
    np.testing.assert_allclose(out["visual_hull"]["mean_unseen"], [0.3, 0.35])
    assert res.to_json()["unseen_classes"] == ["b"]
    lines = res.table().splitlines()
    names = [ln.split()[0] for ln in lines[3:]]
    assert names[:3] == ["a", "c", "b"]  # seen classes first
    seen_row = next(ln for ln in lines if ln.startswith("mean seen (2)")).split()[3:]
    np.testing.assert_allclose([float(x) for x in seen_row], [25.0, 35.0, 12.5, 17.5])
    assert any(ln.startswith("mean unseen (1)") for ln in lines)


def test_no_group_rows_when_every_class_was_seen_or_unknown():
    for seen in (None, frozenset({"a", "b", "c"}), frozenset({"x"})):
        res = _result(seen)
        assert res.seen_unseen() is None
        assert "mean seen" not in res.table()
        assert "mean_seen" not in res.to_json()["results"]["thresh_0.4"]["lsm"]
