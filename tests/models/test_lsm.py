"""VLSM / DLSM: parameter counts and release names, shapes, causality, configs, gradients."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from models.lsm import (
    DEFAULT_CONFIG,
    DLSM,
    VLSM,
    build_model,
    lsm_config,
    parameter_table,
    release_variable_map,
)
from tests.models._helpers import SMALL, loss_and_grads, make_inputs, run, to_numpy

# The release checkpoints' trainable variables (lsm-facts section 5). V-LSM: first 38 rows.
RELEASE_VARIABLES = [
    ("MVNet/ImNet_UNet/conv1/weights", (5, 5, 3, 32)),
    ("MVNet/ImNet_UNet/conv1/InstanceNorm/bias", (32,)),
    ("MVNet/ImNet_UNet/conv2/weights", (3, 3, 32, 64)),
    ("MVNet/ImNet_UNet/conv2/InstanceNorm/bias", (64,)),
    ("MVNet/ImNet_UNet/conv3/weights", (3, 3, 64, 128)),
    ("MVNet/ImNet_UNet/conv3/InstanceNorm/bias", (128,)),
    ("MVNet/ImNet_UNet/conv4/weights", (3, 3, 128, 256)),
    ("MVNet/ImNet_UNet/conv4/InstanceNorm/bias", (256,)),
    ("MVNet/ImNet_UNet/deconv1/weights", (3, 3, 128, 256)),
    ("MVNet/ImNet_UNet/deconv1/InstanceNorm/bias", (128,)),
    ("MVNet/ImNet_UNet/deconv2/weights", (3, 3, 64, 256)),
    ("MVNet/ImNet_UNet/deconv2/InstanceNorm/bias", (64,)),
    ("MVNet/ImNet_UNet/deconv3/weights", (3, 3, 32, 128)),
    ("MVNet/ImNet_UNet/deconv3/InstanceNorm/bias", (32,)),
    ("MVNet/ImNet_UNet/deconv4/weights", (5, 5, 32, 64)),
    ("MVNet/ImNet_UNet/deconv4/bias", (32,)),
    ("MVNet/rnn/ConvGRUCell/Gates/kernel", (3, 3, 3, 65, 64)),
    ("MVNet/rnn/ConvGRUCell/Gates/LayerNorm/beta", (32,)),
    ("MVNet/rnn/ConvGRUCell/Gates/LayerNorm/gamma", (32,)),
    ("MVNet/rnn/ConvGRUCell/Gates/LayerNorm_1/beta", (32,)),
    ("MVNet/rnn/ConvGRUCell/Gates/LayerNorm_1/gamma", (32,)),
    ("MVNet/rnn/ConvGRUCell/Output/kernel", (3, 3, 3, 65, 32)),
    ("MVNet/rnn/ConvGRUCell/Output/LayerNorm/beta", (32,)),
    ("MVNet/rnn/ConvGRUCell/Output/LayerNorm/gamma", (32,)),
    ("MVNet/Grid_Unet/conv1/weights", (4, 4, 4, 32, 32)),
    ("MVNet/Grid_Unet/conv1/InstanceNorm/bias", (32,)),
    ("MVNet/Grid_Unet/conv2/weights", (4, 4, 4, 32, 64)),
    ("MVNet/Grid_Unet/conv2/InstanceNorm/bias", (64,)),
    ("MVNet/Grid_Unet/conv3/weights", (4, 4, 4, 64, 128)),
    ("MVNet/Grid_Unet/conv3/InstanceNorm/bias", (128,)),
    ("MVNet/Grid_Unet/deconv1/weights", (4, 4, 4, 64, 128)),
    ("MVNet/Grid_Unet/deconv1/InstanceNorm/bias", (64,)),
    ("MVNet/Grid_Unet/deconv2/weights", (4, 4, 4, 32, 128)),
    ("MVNet/Grid_Unet/deconv2/InstanceNorm/bias", (32,)),
    ("MVNet/Grid_Unet/deconv3/weights", (4, 4, 4, 32, 64)),
    ("MVNet/Grid_Unet/deconv3/InstanceNorm/bias", (32,)),
    ("MVNet/Grid_Unet/out/weights", (4, 4, 4, 1, 32)),
    ("MVNet/Grid_Unet/out/bias", (1,)),
    ("MVNet/DepthNet/conv1/depth_weights", (3, 3, 2048, 1)),
    ("MVNet/DepthNet/conv1/pt_weights", (1, 1, 2048, 512)),
    ("MVNet/DepthNet/conv1/InstanceNorm/bias", (512,)),
    ("MVNet/DepthNet/conv2/depth_weights", (3, 3, 512, 1)),
    ("MVNet/DepthNet/conv2/pt_weights", (1, 1, 512, 64)),
    ("MVNet/DepthNet/conv2/InstanceNorm/bias", (64,)),
    ("MVNet/DepthNet/upconv1/weights", (3, 3, 128, 32)),
    ("MVNet/DepthNet/upconv1/InstanceNorm/bias", (32,)),
    ("MVNet/DepthNet/upconv2/weights", (3, 3, 64, 32)),
    ("MVNet/DepthNet/upconv2/InstanceNorm/bias", (32,)),
    ("MVNet/DepthNet/upconv3/weights", (3, 3, 32, 1)),
    ("MVNet/DepthNet/upconv3/bias", (1,)),
]

ARGS_VLSM = {  # the release's args_vlsm (model and training keys together)
    "batch_size": 8,
    "im_batch": 4,
    "lr": 0.001,
    "beta1": 0.9,
    "niters": 100000,
    "im_net": "unet",
    "grid_net": "unet32",
    "rnn": "gru",
    "norm": "IN",
    "nvox": 32,
    "im_h": 224,
    "im_w": 224,
    "logdir": "./log",
    "split_file": "data/splits.json",
    "rng_seed": 0,
}
ARGS_DLSM = {
    **ARGS_VLSM,
    "batch_size": 2,
    "niters": 200000,
    "ray_samples": 64,
    "proj_x": 4,
    "sepup": True,
    "im_skip": True,
}


@pytest.fixture(scope="module")
def release_vlsm() -> VLSM:
    return build_model("vlsm", ARGS_VLSM)


@pytest.fixture(scope="module")
def release_dlsm() -> DLSM:
    return build_model("dlsm", ARGS_DLSM)


# ----------------------------------------------------------------------------- release config


@pytest.mark.slow_on_jax
def test_vlsm_parameter_count(release_vlsm: VLSM) -> None:
    print("\n" + parameter_table(release_vlsm))
    assert len(release_vlsm.trainable_variables) == 38
    assert release_vlsm.count_params() == 2_730_113
    assert sum(int(np.prod(v.shape)) for v in release_vlsm.trainable_variables) == 2_730_113


def test_dlsm_parameter_count(release_dlsm: DLSM) -> None:
    print("\n" + parameter_table(release_dlsm))
    assert len(release_dlsm.trainable_variables) == 50
    assert release_dlsm.count_params() == 3_890_722


def test_release_variable_map_vlsm(release_vlsm: VLSM) -> None:
    mapping = release_variable_map(release_vlsm)
    assert [(k, tuple(v.shape)) for k, v in mapping.items()] == RELEASE_VARIABLES[:38]


def test_release_variable_map_dlsm(release_dlsm: DLSM) -> None:
    mapping = release_variable_map(release_dlsm)
    assert [(k, tuple(v.shape)) for k, v in mapping.items()] == RELEASE_VARIABLES
    # the map holds the model's own variables: assigning through it changes the model
    var = mapping["MVNet/Grid_Unet/out/bias"]
    var.assign(np.array([0.25], np.float32))
    assert float(to_numpy(release_dlsm.grid_net.out.bias)[0]) == 0.25


@pytest.mark.slow_on_jax
def test_release_variable_map_other_model_name() -> None:
    model = VLSM(SMALL, name="vlsm_small")
    names = list(release_variable_map(model))
    assert names[0] == "MVNet/ImNet_UNet/conv1/weights"
    assert len(names) == 38


def test_release_variable_map_batch_norm_includes_moving_stats() -> None:
    model = VLSM({**SMALL, "norm": "BN"})
    names = set(release_variable_map(model))
    assert "MVNet/ImNet_UNet/conv1/BatchNorm/beta" in names
    assert "MVNet/ImNet_UNet/conv1/BatchNorm/moving_mean" in names
    assert "MVNet/ImNet_UNet/conv1/BatchNorm/moving_variance" in names


# ------------------------------------------------------------------------------ small configs


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    return make_inputs(batch=2, views=3, size=32, seed=0)


@pytest.fixture(scope="module")
def small_vlsm() -> VLSM:
    keras.utils.set_random_seed(0)
    return VLSM(SMALL)


@pytest.fixture(scope="module")
def small_dlsm() -> DLSM:
    keras.utils.set_random_seed(1)
    return DLSM(SMALL)


@pytest.mark.slow_on_jax
def test_vlsm_shapes(small_vlsm: VLSM, inputs: dict) -> None:
    logits = to_numpy(run(small_vlsm, inputs))
    assert logits.shape == (2, 3, 16, 16, 16, 1)
    assert np.isfinite(logits).all()
    trunk = small_vlsm.trunk(inputs)
    assert tuple(trunk["unprojected"].shape) == (2, 3, 16, 16, 16, SMALL["im_channels"] + 1)
    assert tuple(trunk["fused"].shape) == (2, 3, 16, 16, 16, SMALL["rnn_channels"])
    assert tuple(trunk["features"].shape) == (2, 3, 16, 16, 16, SMALL["grid_channels"])


@pytest.mark.slow_on_jax
def test_dlsm_shapes_and_last_step(small_dlsm: DLSM, inputs: dict) -> None:
    depth = to_numpy(run(small_dlsm, inputs))
    assert depth.shape == (2, 3, 3, 32, 32, 1)
    assert np.isfinite(depth).all()
    last = to_numpy(run(small_dlsm, inputs, last_step_only=True))
    assert last.shape == (2, 1, 3, 32, 32, 1)
    np.testing.assert_allclose(last[:, 0], depth[:, -1], atol=1e-4)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize(
    "overrides",
    [
        {"grid_net": "unet64", "nvox": 32, "rnn": "lstm"},
        {"norm": "BN", "im_h": 48, "im_w": 64},
        {"norm": "None", "rnn_layer_norm": False},
    ],
)
def test_vlsm_variants(overrides: dict) -> None:
    cfg = {**SMALL, **overrides}
    model = VLSM(cfg)
    x = make_inputs(1, 2, size=32, seed=3)
    if "im_h" in overrides:
        x["images"] = np.random.default_rng(0).random((1, 2, 48, 64, 3), dtype=np.float32)
    n = cfg["nvox"]
    assert tuple(run(model, x, training=True).shape) == (1, 2, n, n, n, 1)


@pytest.mark.slow_on_jax
@pytest.mark.parametrize(
    ("proj_x", "sepup", "im_skip"), [(8, True, True), (4, False, True), (8, False, False)]
)
def test_dlsm_variants(proj_x: int, sepup: bool, im_skip: bool) -> None:
    model = DLSM({**SMALL, "proj_x": proj_x, "sepup": sepup, "im_skip": im_skip})
    depth = run(model, make_inputs(1, 2, size=32, seed=4))
    assert tuple(depth.shape) == (1, 2, 2, 32, 32, 1)


def _perturb_last_view(x: dict) -> dict:
    y = {k: v.copy() for k, v in x.items()}
    other = make_inputs(2, 3, size=32, seed=99)
    y["images"][:, 2] = other["images"][:, 2]
    y["extrinsic"][:, 2] = other["extrinsic"][:, 2]
    return y


def test_vlsm_is_causal_over_views(small_vlsm: VLSM, inputs: dict) -> None:
    a = to_numpy(run(small_vlsm, inputs))
    b = to_numpy(run(small_vlsm, _perturb_last_view(inputs)))
    np.testing.assert_allclose(a[:, :2], b[:, :2], atol=1e-5)
    assert np.abs(a[:, 2] - b[:, 2]).max() > 1e-4


def test_dlsm_is_causal_over_views(small_dlsm: DLSM, inputs: dict) -> None:
    a = to_numpy(run(small_dlsm, inputs))
    b = to_numpy(run(small_dlsm, _perturb_last_view(inputs)))
    np.testing.assert_allclose(a[:, :2, :2], b[:, :2, :2], atol=1e-4)
    assert np.abs(a[:, 2] - b[:, 2]).max() > 1e-5


@pytest.mark.slow_on_jax
def test_views_do_not_mix_across_batch(small_vlsm: VLSM, inputs: dict) -> None:
    a = to_numpy(run(small_vlsm, inputs))
    one = to_numpy(run(small_vlsm, {k: v[1:] for k, v in inputs.items()}))
    np.testing.assert_allclose(a[1:], one, atol=1e-5)


# ---------------------------------------------------------------------------- config & saving


def test_get_config_round_trip(small_dlsm: DLSM, inputs: dict) -> None:
    config = small_dlsm.get_config()
    json.dumps(config)  # serialisable
    clone = DLSM.from_config(config)
    assert clone.lsm_config == small_dlsm.lsm_config
    clone.set_weights(small_dlsm.get_weights())
    np.testing.assert_allclose(
        to_numpy(run(clone, inputs, last_step_only=True)),
        to_numpy(run(small_dlsm, inputs, last_step_only=True)),
        atol=1e-5,
    )


def test_keras_file_round_trip(small_vlsm: VLSM, inputs: dict, tmp_path) -> None:
    path = tmp_path / "vlsm.keras"
    small_vlsm.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VLSM)
    assert len(loaded.weights) == len(small_vlsm.weights)
    np.testing.assert_allclose(
        to_numpy(run(loaded, inputs)), to_numpy(run(small_vlsm, inputs)), atol=1e-5
    )


def test_lsm_config_filters_and_validates() -> None:
    cfg = lsm_config(ARGS_DLSM)
    assert set(cfg) == set(DEFAULT_CONFIG)
    assert cfg["ray_samples"] == 64 and cfg["sepup"] is True
    assert lsm_config(None, nvox=64, grid_net="unet64")["nvox"] == 64
    for bad in (
        {"norm": "GN"},
        {"grid_net": "unet16"},
        {"rnn": "rnn"},
        {"proj_x": 2},
        {"im_h": 100},
        {"nvox": 20},
        {"nvox": 40, "grid_net": "unet64"},
        {"im_net": "resnet"},
        {"ray_samples": 0},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            lsm_config(bad)
    with pytest.raises(ValueError, match="unknown model 'xlsm'.*dlsm.*vlsm"):
        build_model("xlsm")


def test_input_checks(small_vlsm: VLSM, inputs: dict) -> None:
    with pytest.raises(ValueError, match="images"):
        small_vlsm({**inputs, "images": inputs["images"][:, :, :16]})
    with pytest.raises(ValueError, match="K"):
        small_vlsm({**inputs, "K": inputs["K"][..., :2]})
    with pytest.raises(ValueError, match="dict"):
        small_vlsm({"images": inputs["images"]})


# --------------------------------------------------------------------------------- gradients


def _check_grads(model: keras.Model, grads: list, unused: tuple[str, ...] = ()) -> None:
    """Every gradient finite and nonzero, except variables under ``unused`` (no gradient)."""
    assert len(grads) == len(model.trainable_variables)
    for v, g in zip(model.trainable_variables, grads, strict=True):
        if any(v.path.startswith(u) for u in unused):
            assert g is None or not np.any(g), v.path
            continue
        assert g is not None, v.path
        assert g.shape == tuple(v.shape), v.path
        assert np.isfinite(g).all(), v.path
        assert np.abs(g).max() > 0, v.path


@pytest.mark.slow_on_jax
def test_vlsm_gradients_finite(inputs: dict) -> None:
    keras.utils.set_random_seed(5)
    model = VLSM(SMALL)
    target = (np.random.default_rng(0).random((2, 1, 16, 16, 16, 1)) > 0.7).astype(np.float32)

    def loss_fn(logits):
        tiled = keras.ops.broadcast_to(target, logits.shape)
        return keras.ops.mean(keras.ops.binary_crossentropy(tiled, logits, from_logits=True))

    loss, grads = loss_and_grads(model, inputs, loss_fn)
    assert np.isfinite(loss)
    _check_grads(model, grads)


@pytest.mark.slow_on_jax
def test_dlsm_gradients_finite(inputs: dict) -> None:
    keras.utils.set_random_seed(6)
    model = DLSM(SMALL)

    def loss_fn(depth):
        return keras.ops.mean(keras.ops.abs(depth - 2.0))

    loss, grads = loss_and_grads(model, inputs, loss_fn)
    assert np.isfinite(loss)
    # the voxel output layer exists in D-LSM (release checkpoints hold it) but depth ignores it
    _check_grads(model, grads, unused=("MVNet/Grid_Unet/out/",))
