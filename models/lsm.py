"""Learnt Stereo Machines: the voxel (V-LSM) and depth (D-LSM) models.

Shared trunk (weights shared across views; B models, V views each)::

    images [B, V, H, W, 3] -> ImageUNet per view      -> feats [B*V, H/2, W/2, c]
        -> ops.unproject (+ depth channel)             -> [B, V, N, N, N, c + 1]
        -> fuser over views (models.fusion, `rnn`)     -> [B, V, N, N, N, F]
        -> GridUNet per time step                      -> features [B, V, N, N, N, g],
                                                          logits   [B, V, N, N, N, 1]

(Inside, the grids stay views first, ``[V*B, ...]``, from the unprojection to the grid net's
outputs: see :meth:`_LSMBase.trunk`.)

V-LSM returns the logits: entry k is the prediction after views 0..k.
D-LSM projects the grid features of every time step t into every view v
(``ops.project.project_rays``), stacks the ``g x S`` ray samples as channels and decodes depth
with :class:`models.depth_nets.DepthNet`: ``[B, T, V, H, W, 1]`` with T = V, or T = 1 with
``last_step_only=True``. With ``depth_head="mask"`` (an extension, not in the release) the last
axis holds 2 channels, depth and a foreground logit; :meth:`DLSM.depth` (or
:func:`ops.depth_head.depth_from_head` of the output) gives the depth map for either head.

Both models are named ``"MVNet"`` by default so that their variable paths equal the release's
TF1 names (``MVNet/ImNet_UNet/conv1/weights``, ...); see :func:`release_variable_map`.

Configuration: the keys of part "model" of :data:`config.KEYS` (the release's args JSON names
plus width knobs), each with its default, type, choices and meaning, in the one table that the
arguments also read; ``python -c "from config import keys_of; print(keys_of(part='model'))"``
lists them. The 3D fuser is the key ``rnn``, a name of :data:`models.fusion.FUSERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping
from typing import Any

import keras
import numpy as np
from keras import ops
from tabulate import tabulate

from config import KEYS, Key, defaults
from models.depth_nets import DEPTH_HEADS, DepthNet
from models.fusion import make_fuser
from models.grid_nets import GRID_NETS, GridUNet
from models.image_nets import ImageUNet
from models.norms import canonical_norm
from models.precision import conv_dtype
from models.registry import build_model as build_registered
from models.registry import register_model
from ops.depth_head import depth_from_head
from ops.project import unit_on_rays
from ops.unproject import unproject_features, voxel_depth

#: The release defaults of every model key: the keys of part "model" of the one table,
#: :data:`config.KEYS` (which :class:`training.config.Args` reads too).
DEFAULT_CONFIG: dict[str, Any] = defaults("model")


def _registered(key: Key) -> Collection[Any]:
    """The names of the registry whose names are the choices of ``key`` (its dotted path,
    :attr:`config.Key.registry`, e.g. ``models.fusion.FUSERS``); the names the project ships
    (:attr:`config.Key.choices`) while the registry's module is not written."""
    module, _, attr = (key.registry or "").rpartition(".")
    try:
        return tuple(getattr(importlib.import_module(module), attr))
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise
        return key.choices or ()


def _checked(key: Key, value: Any) -> Any:
    """``value`` as the table types ``key`` (ints, floats, bools, tuples of floats from any
    numbers, e.g. a Keras config's lists), checked against its minimum and choices."""
    cast = key.type
    value = tuple(cast(v) for v in value) if key.is_list else cast(value)
    for v in value if key.is_list else (value,):
        if key.minimum is not None and v < key.minimum:
            raise ValueError(f"{key.name} must be >= {key.minimum}, got {v!r}")
    # the model's own rule for two keys: a norm's spelling (canonical_norm: "none" and null
    # are "None"), and any grid size its grid net can halve (below; the table's nvox choices
    # are the sizes of the data's voxels)
    if key.name in ("norm", "nvox"):
        return value
    allowed = _registered(key) if key.registry else key.choices
    if allowed is not None and value not in allowed:
        raise ValueError(f"{key.name} must be one of {list(allowed)}, got {value!r}")
    return value


def lsm_config(args: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """Model configuration from an args mapping (e.g. a release args JSON) plus overrides.

    Keys not in :data:`DEFAULT_CONFIG` (batch_size, lr, logdir, ...) are ignored; missing keys
    take the release defaults. Values are typed and checked as the table says (its type,
    minimum and choices; ``rnn``: the registered fusers), then the model's structural rules.

    Returns:
      A new dict with exactly the keys of :data:`DEFAULT_CONFIG`.

    Raises:
      ValueError: on an unsupported value (the message names the key).
    """
    merged = {**(dict(args) if args else {}), **overrides}
    merged["norm"] = canonical_norm(merged.get("norm", DEFAULT_CONFIG["norm"]))
    cfg = {k: _checked(KEYS[k], merged.get(k, v)) for k, v in DEFAULT_CONFIG.items()}
    for k in ("im_h", "im_w"):
        if cfg[k] % 16:
            raise ValueError(f"{k} must be a positive multiple of 16, got {cfg[k]}")
    div = 2 ** GRID_NETS[cfg["grid_net"]]
    if cfg["nvox"] <= 0 or cfg["nvox"] % div:
        raise ValueError(
            f"nvox must be a positive multiple of {div} for {cfg['grid_net']}, got {cfg['nvox']}"
        )
    return cfg


class _LSMBase(keras.Model):
    """Shared trunk of V-LSM and D-LSM (module docstring). Weights are built on construction."""

    def __init__(
        self, config: Mapping[str, Any] | None = None, name: str = "MVNet", **kwargs: Any
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.lsm_config = lsm_config(config)
        c = self.lsm_config
        self.im_net = ImageUNet(c["im_channels"], c["norm"])
        self.grid_dtype = conv_dtype()  # the unprojection writes its grids in it
        # The 3D fusion, picked by name from the registry (models.fusion); the trailing
        # channel of its input is the voxel depth, a function of the cameras: no gradient.
        self.rnn = make_fuser(c["rnn"], filters=c["rnn_channels"], kernel_size=c["rnn_kernel"],
                              layer_norm=c["rnn_layer_norm"], constant_channels=1, name="rnn")
        self.grid_net = GridUNet(c["grid_net"], c["grid_channels"], c["norm"])
        self._make_heads()
        self.build()

    def _make_heads(self) -> None:
        """Create model-specific layers (D-LSM's DepthNet)."""

    def build(self, input_shape: Any = None) -> None:
        """Create all weights from the configuration (``input_shape`` is ignored; idempotent)."""
        if self.built:
            return
        c = self.lsm_config
        n = c["nvox"]
        self.im_net.build((None, c["im_h"], c["im_w"], 3))
        self.rnn.build((None, None, n, n, n, c["im_channels"] + 1))  # features + depth
        self.grid_net.build((None, n, n, n, c["rnn_channels"]))
        self._build_heads()

    def _build_heads(self) -> None:
        """Create the weights of model-specific layers."""

    def build_from_config(self, config: Mapping[str, Any]) -> None:
        """Weights already exist after construction; nothing to do (used by Keras loading)."""
        self.build()

    def _check_inputs(self, inputs: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        c = self.lsm_config
        try:
            images, K, extrinsic = inputs["images"], inputs["K"], inputs["extrinsic"]
        except (KeyError, TypeError) as e:
            raise ValueError("inputs must be a dict with 'images', 'K' and 'extrinsic'") from e
        shape = tuple(images.shape)
        if len(shape) != 5 or tuple(shape[2:]) != (c["im_h"], c["im_w"], 3):
            raise ValueError(f"images must be [B, V, {c['im_h']}, {c['im_w']}, 3], got {shape}")
        if shape[1] is None:
            raise ValueError("the view axis of images must be static")
        if tuple(K.shape[-2:]) != (3, 3) or len(K.shape) != 4:
            raise ValueError(f"K must be [B, V, 3, 3], got {tuple(K.shape)}")
        if tuple(extrinsic.shape[-2:]) != (3, 4) or len(extrinsic.shape) != 4:
            raise ValueError(f"extrinsic must be [B, V, 3, 4], got {tuple(extrinsic.shape)}")
        return images, K, extrinsic

    def trunk(self, inputs: Mapping[str, Any], training: bool | None = None) -> dict[str, Any]:
        """Run the shared trunk.

        Args:
          inputs: ``{"images": [B, V, H, W, 3] in [0, 1], "K": [B, V, 3, 3],
            "extrinsic": [B, V, 3, 4]}`` (K in pixels of the H x W image; extrinsic world ->
            camera ``[R | t]``).
          training: forwarded to batch norm.

        Returns:
          ``{"im": image-UNet dict (``[B*V, ...]``), "unprojected": [B, V, N, N, N, c+1],
          "fused": [B, V, N, N, N, F], "features": [B, V, N, N, N, g],
          "logits": [B, V, N, N, N, 1]}``.
        """
        c = self.lsm_config
        images, K, extrinsic = self._check_inputs(inputs)
        views, n = images.shape[1], c["nvox"]
        im = self.im_net(ops.reshape(images, (-1, c["im_h"], c["im_w"], 3)), training=training)

        def model_major(x: Any) -> Any:
            """``[V*B, N, N, N, C]`` views first -> ``[B, V, N, N, N, C]``."""
            x = ops.reshape(x, (views, -1, *x.shape[1:]))
            return ops.transpose(x, (1, 0, 2, 3, 4, 5))

        def views_first(x: Any) -> Any:
            """``[B, V, N, N, N, C]`` -> ``[V*B, N, N, N, C]`` views first."""
            return ops.reshape(ops.transpose(x, (1, 0, 2, 3, 4, 5)), (-1, *x.shape[2:]))

        # The grids are made views first, in the convolutions' compute dtype, and the grid net
        # (which treats every step's grid alone) reads them views first: each transpose to
        # [B, V] order meets its inverse in the fuser's fast form, which a compiled graph
        # cancels; only the outputs asked for are put back in [B, V] order.
        geometry = {"nvox": n, "grid_range": c["grid_range"], "views_first": True}
        grids = unproject_features(im["features"], K, extrinsic, im_size=(c["im_h"], c["im_w"]),
                                   dtype=self.grid_dtype, **geometry)
        depth = voxel_depth(K, extrinsic, **geometry)  # a function of the cameras only
        unprojected = model_major(ops.concatenate(
            [grids, ops.cast(ops.stop_gradient(depth), grids.dtype)], axis=-1))
        fused = self.rnn(unprojected)  # [B, V, N, N, N, F]: output v after views 0..v
        out = self.grid_net(views_first(fused), training=training)

        return {
            "im": im,
            "unprojected": ops.cast(unprojected, "float32"),
            "fused": ops.cast(fused, "float32"),
            "features": model_major(ops.cast(out["features"], "float32")),
            "logits": model_major(out["logits"]),
        }

    def get_config(self) -> dict[str, Any]:
        return {"config": dict(self.lsm_config), "name": self.name, "trainable": self.trainable}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> _LSMBase:
        return cls(**config)


@register_model("vlsm", head="voxels")
@keras.saving.register_keras_serializable(package="lsm")
class VLSM(_LSMBase):
    """Voxel LSM: ``call(inputs) -> occupancy logits [B, V, N, N, N, 1]`` (one per step).

    Args:
      config: model configuration or a whole args mapping (see :func:`lsm_config`).
      name: model name; keep ``"MVNet"`` for release-named variable paths.
    """

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        """``inputs`` as :meth:`trunk`; returns logits ``[B, V, N, N, N, 1]``; entry k is the
        prediction after views 0..k."""
        return self.trunk(inputs, training=training)["logits"]


@register_model("dlsm", head="depth")
@keras.saving.register_keras_serializable(package="lsm")
class DLSM(_LSMBase):
    """Depth LSM: ``call(inputs) -> depth [B, T, V, H, W, 1]`` (T = V, or 1 if last_step_only).

    With ``depth_head="mask"`` the last axis has 2 channels (depth, foreground logit); use
    :meth:`depth` or :func:`ops.depth_head.depth_from_head` for the depth map.

    Args:
      config: model configuration or a whole args mapping (see :func:`lsm_config`).
      name: model name; keep ``"MVNet"`` for release-named variable paths.
    """

    def _make_heads(self) -> None:
        c = self.lsm_config
        self.depth_net = DepthNet(
            c["proj_x"],
            c["sepup"],
            c["im_skip"],
            c["depth_channels"],
            c["norm"],
            out_channels=DEPTH_HEADS[c["depth_head"]],
        )

    def _build_heads(self) -> None:
        c = self.lsm_config
        p = c["proj_x"]
        im_shapes = self.im_net.compute_output_shape((None, c["im_h"], c["im_w"], 3))
        self.depth_net.build(
            (None, c["im_h"] // p, c["im_w"] // p, c["grid_channels"] * c["ray_samples"]),
            [im_shapes[k] for k in self.depth_net.skip_names],
        )

    def call(
        self, inputs: Mapping[str, Any], training: bool | None = None, last_step_only: bool = False
    ) -> Any:
        """``inputs`` as :meth:`trunk`. Returns depth ``[B, T, V, H, W, 1]`` (``[..., 2]``, depth
        and foreground logit, with the mask head): entry ``[b, t, v]`` is view v's depth
        predicted from the grid after views 0..t (T = V), or only from the grid after all views
        if ``last_step_only`` (T = 1)."""
        c = self.lsm_config
        tr = self.trunk(inputs, training=training)
        feats = tr["features"]
        views = feats.shape[1]
        if last_step_only:
            feats = feats[:, -1:]
        steps = feats.shape[1]
        # The paper's depth decoder: the grid features of every step sampled along the rays
        # of every view (S samples of g channels per pixel of the H/p x W/p image, stacked as
        # g*S channels), the depth net's first unit on them (one op, ops.project), then the
        # rest of the depth net with the image encoder's features as skips.
        x = unit_on_rays(
            self.depth_net.encoder[0],
            feats,
            inputs["K"],
            inputs["extrinsic"],
            training=training,
            im_size=(c["im_h"], c["im_w"]),
            proj_x=c["proj_x"],
            samples=c["ray_samples"],
            z_range=c["z_range"],
            grid_range=c["grid_range"],
            rounding=c["proj_rounding"],
        )
        skips = []
        for name in self.depth_net.skip_names:
            f = tr["im"][name]
            fh, fw, fc = f.shape[1:]
            f = ops.repeat(ops.reshape(f, (-1, 1, views, fh, fw, fc)), steps, axis=1)
            skips.append(ops.reshape(f, (-1, fh, fw, fc)))
        depth = self.depth_net.decode(x, skips, training=training)
        out_channels = self.depth_net.out_channels
        return ops.reshape(depth, (-1, steps, views, c["im_h"], c["im_w"], out_channels))

    def depth(
        self, inputs: Mapping[str, Any], training: bool | None = None, last_step_only: bool = False
    ) -> Any:
        """The depth map ``[B, T, V, H, W, 1]`` (scene units) for either ``depth_head``: the
        output of :meth:`call` through :func:`ops.depth_head.depth_from_head` (identity for the
        release head)."""
        return depth_from_head(self(inputs, training=training, last_step_only=last_step_only))


def build_model(kind: str, config: Mapping[str, Any] | None = None,
                **overrides: Any) -> keras.Model:
    """Build the model registered as ``kind`` (``"vlsm"``, ``"dlsm"``, ...) from an args mapping
    plus overrides: :func:`models.registry.build_model` (kept under this name for callers).

    See :func:`lsm_config` for the LSM keys; keys a model does not know are ignored.
    """
    return build_registered(kind, config, **overrides)


def release_variable_map(model: keras.Model) -> dict[str, keras.Variable]:
    """Map the release's TF1 variable names to ``model``'s variables.

    Our variable paths are the release names with the model's name in place of ``MVNet``
    (``MVNet/ImNet_UNet/deconv1/weights``, ``MVNet/rnn/ConvGRUCell/Gates/LayerNorm_1/beta``,
    ``MVNet/DepthNet/conv1/pt_weights``, ...). Every kernel, including the transposed-conv
    kernels (``[k, .., k, out, in]`` in both TF1 and Keras), is stored in the release layout,
    so release arrays load with ``variable.assign(array)`` and no transposition. With
    ``norm="BN"`` the map also holds ``BatchNorm/moving_mean`` and ``moving_variance``.

    Returns:
      ``{release_name: variable}`` for every variable of ``model``.
    """
    prefix = model.name + "/"
    out: dict[str, keras.Variable] = {}
    for v in model.variables:
        path = v.path
        if not path.startswith(prefix):
            raise ValueError(f"variable {path!r} is not under the model scope {prefix!r}")
        name = "MVNet/" + path[len(prefix) :]
        if name in out:
            raise ValueError(f"duplicate variable name {name!r}")
        out[name] = v
    return out


def parameter_table(model: keras.Model) -> str:
    """A table of ``model``'s trainable variables (name, shape, count) with a total row."""
    rows = []
    for v in model.trainable_variables:
        rows.append((v.path, "x".join(str(d) for d in v.shape), int(np.prod(v.shape))))
    total = sum(r[2] for r in rows)
    rows.append((f"total ({len(rows)} variables)", "", total))
    return tabulate(rows, headers=("variable", "shape", "parameters"), intfmt=",")
