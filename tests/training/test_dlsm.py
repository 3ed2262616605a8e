"""D-LSM on the shared loop: learning, the depth-error protocols, the three depth scripts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.training.test_loop import REPO, TINY, _run_script, script_flags
from training import checkpoint as ck
from training.config import load_args
from training.loop import train
from training.tasks import DLSM_TASK, depth_error_by_views

#: The tiny V-LSM of test_loop plus a small depth network (8x8 rays of 16 samples).
TINY_D = {**TINY, "depth_channels": 4, "ray_samples": 16}


def tiny_dlsm_args(root, logdir, **kw):
    return load_args(REPO / "args" / "args_dlsm.json",
                     {**TINY_D, "data_root": str(root), "split_file": str(root / "splits.json"),
                      "logdir": str(logdir), **kw})


@pytest.mark.slow
def test_tiny_dlsm_loss_falls(tiny_root, tmp_path):
    res = train(tiny_dlsm_args(tiny_root, tmp_path, niters=40, lr=1e-2), DLSM_TASK,
                progress=False)
    first, last = np.mean(res.losses[:5]), np.mean(res.losses[-10:])
    assert len(res.losses) == 40 and all(np.isfinite(res.losses))
    assert last < 0.6 * first, (first, last)


@pytest.mark.slow
def test_tiny_dlsm_mask_head_loss_falls_and_tests(tiny_root, tmp_path):
    """The "mask" depth head (an extension): training (with summaries) and the test script."""
    args = tiny_dlsm_args(tiny_root, tmp_path, niters=40, lr=1e-2, depth_head="mask",
                          sum_iters=20)
    res = train(args, DLSM_TASK, progress=False)
    first, last = np.mean(res.losses[:5]), np.mean(res.losses[-10:])
    assert len(res.losses) == 40 and all(np.isfinite(res.losses))
    assert last < 0.6 * first, (first, last)
    assert json.loads((res.run_dir / "args.json").read_text())["depth_head"] == "mask"
    # the test script rebuilds the mask model from the run's args and scores its depth maps
    r = _run_script("depth/test_dlsm.py", "--log", str(res.run_dir), "--ckpt", "mvnet-40",
                    "--test_split_file", str(tiny_root / "splits.json"), "--no_hull",
                    "--save_preds", "1", "--contact_sheet", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    name = f"mvnet-40_test_{tiny_root.name}-splits"
    out = json.loads((res.run_dir / f"test_{name}.json").read_text())
    assert all(np.isfinite(out["results"]["seen_views"]["lsm"]["mean"]))
    (npz,) = (res.run_dir / f"preds_{name}").glob("*.npz")
    depth = np.load(npz)["depth"]  # (T, V, H, W): the composite, background exactly 10
    assert depth.shape == (2, 2, 32, 32)
    assert np.all((depth == 10.0) | (depth < 10.0 - 1e-3))


def test_depth_head_is_a_cli_flag():
    from training.config import parse_cli

    args, _ = parse_cli(["--argsjs", str(REPO / "args" / "args_dlsm_quick.json"),
                         "--depth_head", "mask"])
    assert args.depth_head == "mask" and args.depth_channels == 16
    args, _ = parse_cli(["--argsjs", str(REPO / "args" / "args_dlsm_quick.json")])
    assert args.depth_head == "release"
    with pytest.raises(SystemExit):
        parse_cli(["--depth_head", "soft"])


def test_depth_error_by_views_averages_seen_and_all_views():
    err = np.array([[[1.0, 3.0, 5.0],
                     [2.0, 4.0, 6.0],
                     [0.5, np.nan, 2.5]]])  # (B=1, T=3, V=3)
    out = depth_error_by_views(err)
    assert out.shape == (1, 3, 2)
    np.testing.assert_allclose(out[0, :, 0], [1.0, 3.0, 1.5])  # views 0..t
    np.testing.assert_allclose(out[0, :, 1], [3.0, 4.0, 1.5])  # all views
    nan = depth_error_by_views(np.full((2, 1, 2), np.nan))
    assert np.isnan(nan).all()
    with pytest.raises(ValueError, match="B, T, V"):
        depth_error_by_views(np.zeros((2, 3)))


@pytest.mark.slow
def test_depth_scripts_train_validate_and_test(tiny_root, tmp_path):
    flags = script_flags(TINY_D, tiny_root, tmp_path / "log")
    r = _run_script("depth/train_dlsm.py", "--argsjs", "args/args_dlsm.json", *flags,
                    "--niters", "2", "--ckpt_iters", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    run = next((tmp_path / "log").glob("*/train"))
    assert [p.name for _, p in ck.list_checkpoints(run)] == ["mvnet-2"]
    r = _run_script("depth/val_dlsm.py", "--log", str(run), "--once")
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(json.loads((run / "val_done.json").read_text())["mvnet-2"]) == 2
    r = _run_script("depth/test_dlsm.py", "--log", str(run), "--ckpt", "mvnet-2",
                    "--test_split_file", str(tiny_root / "splits.json"), "--save_preds", "1",
                    "--contact_sheet", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "views seen so far" in r.stdout and "all input views" in r.stdout
    assert "LSM chamfer" in r.stdout and "VH chamfer" in r.stdout
    name = f"mvnet-2_test_{tiny_root.name}-splits"
    res = json.loads((run / f"test_{name}.json").read_text())
    assert res["num_models"] == 13 and res["metric"] == "depth_error"
    for protocol in ("seen_views", "all_views"):
        for who in ("lsm", "visual_hull"):
            curve = res["results"][protocol][who]["mean"]
            assert len(curve) == 2 and all(np.isfinite(curve))
    # with one view seen, both protocols score view 0 only for "seen" and all views for "all"
    hull = res["results"]
    assert hull["seen_views"]["visual_hull"]["mean"][-1] == pytest.approx(
        hull["all_views"]["visual_hull"]["mean"][-1])
    clouds = res["point_clouds"]["visual_hull"]["mean"]
    assert 0 < clouds["accuracy"] < 0.2 and 0 < clouds["fscore"] <= 1
    assert (run / f"sheet_{name}.png").exists()
    assert list((run / f"preds_{name}").glob("*_fused.ply"))


@pytest.mark.slow
def test_init_from_a_vlsm_copies_the_trunk(tiny_root, tmp_path):
    from tests.training.test_loop import tiny_args
    from training.checkpoint import CheckpointError, copy_matching_weights, latest_checkpoint
    from training.tasks import VLSM_TASK

    v = train(tiny_args(tiny_root, tmp_path / "v", niters=1), VLSM_TASK, progress=False)
    args = tiny_dlsm_args(tiny_root, tmp_path / "d", niters=1, init_from=str(v.run_dir))
    res = train(args, DLSM_TASK, progress=False)
    assert res.iteration == 1
    # the copy itself, before any training step
    vlsm = VLSM_TASK.build_model(load_args(v.run_dir / "args.json"))
    ck.load_checkpoint(latest_checkpoint(v.run_dir), vlsm)
    dlsm = DLSM_TASK.build_model(args)
    src = {w.path: np.asarray(w.value) for w in vlsm.weights}
    before = {w.path: np.asarray(w.value).copy() for w in dlsm.weights}
    copied, kept = copy_matching_weights(latest_checkpoint(v.run_dir), dlsm,
                                         json.loads((v.run_dir / "args.json").read_text()))
    assert len(copied) == len(vlsm.weights) == 38 and len(kept) == 12
    assert all(p.startswith("MVNet/DepthNet/") for p in kept)
    for w in dlsm.weights:
        if w.path in copied:
            np.testing.assert_array_equal(np.asarray(w.value), src[w.path])
        else:
            np.testing.assert_array_equal(np.asarray(w.value), before[w.path])
    other = dict(json.loads((v.run_dir / "args.json").read_text()), im_channels=8)
    with pytest.raises(CheckpointError, match="does not match"):
        copy_matching_weights(latest_checkpoint(v.run_dir), dlsm, other)


def test_release_depth_error_is_a_masked_median():
    from training.tasks import release_depth_error

    gt = np.full((1, 1, 2, 3), 10.0)  # (B, V, H, W): background 10
    gt[0, 0, 0] = [2.0, 2.0, 2.0]
    pred = np.full((1, 2, 1, 2, 3), 10.0)  # (B, T, V, H, W)
    pred[0, 0, 0, 0] = [2.1, 2.5, 9.0]  # 9.0: predicted background, outside 2 +- sqrt(3)/2
    pred[0, 1, 0, 0] = [2.1, 1.7, 1.0]  # 1.0 is outside the range too
    out = release_depth_error(pred, gt)
    assert out.shape == (1, 2, 1)
    np.testing.assert_allclose(out[0, :, 0], [np.median([0.1, 0.5]), np.median([0.1, 0.3])])
    pred[0, :, 0, 0] = 9.0  # nothing in range -> NaN
    assert np.isnan(release_depth_error(pred, gt)).all()
    with pytest.raises(ValueError, match="disagree"):
        release_depth_error(pred, gt[:, :, :1])
