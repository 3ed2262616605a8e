"""Loading a trained network and running it on one set of views.

:func:`load_lsm` reads a run folder (``pretrained/vlsm_cpu``, any training run, or the
release's TF1 folder, converted once into ``log/release/``; only that conversion needs
TensorFlow) through :mod:`training.checkpoint`, :mod:`training.config`, :mod:`training.loop`,
:mod:`training.release` and :mod:`training.tasks`; :func:`predict` returns occupancy
probabilities (V-LSM) or depth maps (D-LSM) per number of views seen. Runs on any Keras
backend.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from demo.datasets import REPO_ROOT, repo_path

if TYPE_CHECKING:
    import keras

    from training.config import Args


@dataclass
class LSM:
    """A trained network ready to predict.

    Attributes:
        kind: "vlsm" or "dlsm".
        args: the run's arguments (``args.json``).
        model: the Keras model.
        checkpoint: the restored checkpoint folder (``<run>/mvnet-<iteration>``).
    """

    kind: str
    args: Args
    model: keras.Model
    checkpoint: Path

    @property
    def image_size(self) -> tuple[int, int]:
        """(h, w) pixels of the images the network reads."""
        return int(self.args.im_h), int(self.args.im_w)

    def __repr__(self) -> str:
        a = self.args
        return (f"{self.kind.upper()} {self.checkpoint} ({a.im_h}x{a.im_w} px images, "
                f"{a.nvox}^3 grid, {self.model.count_params():,} parameters)")


def load_lsm(model_dir: str | os.PathLike, ckpt: str | None = None,
             kind: str | None = None) -> LSM:
    """Load a trained run folder (e.g. ``pretrained/vlsm_cpu``).

    Args:
        model_dir: a run folder holding ``args.json`` and ``mvnet-<iteration>`` checkpoints
            (relative paths are also looked up under the repository), or a release model
            folder (``models_lsm_v1/vlsm-release/train``: TF1 checkpoints, converted once into
            ``log/release/``, see :mod:`training.release`).
        ckpt: checkpoint name or iteration; None means the folder's latest checkpoint.
        kind: "vlsm" or "dlsm"; None reads it from the checkpoint's ``state.json``.

    Returns:
        The loaded :class:`LSM`.

    Raises:
        FileNotFoundError: no ``args.json`` in ``model_dir``.
        training.checkpoint.CheckpointError: no such checkpoint, or it does not fit the args.
    """
    from training.checkpoint import resolve_checkpoint
    from training.loop import load_trained
    from training.release import ensure_converted, is_release_folder
    from training.tasks import task_for

    run_dir = repo_path(model_dir)
    if is_release_folder(run_dir):  # the release's TF1 folder: convert once into log/release
        run_dir, ckpt = ensure_converted(run_dir, ckpt, kind, REPO_ROOT / "log")
    args = _run_args(run_dir)
    path = resolve_checkpoint(ckpt if ckpt is not None else run_dir, run_dir)
    kind = kind or _kind_of(args, path)
    model, path = load_trained(args, task_for(kind), run_dir, path)
    return LSM(kind=kind, args=args, model=model, checkpoint=path)


def _run_args(run_dir: Path) -> Args:
    from training.config import load_args

    if not (run_dir / "args.json").is_file():
        raise FileNotFoundError(f"{run_dir} has no args.json (is it a training run folder?)")
    return load_args(run_dir / "args.json")


def _kind_of(args: Args, checkpoint: Path) -> str:
    """"vlsm" or "dlsm" from a checkpoint's ``state.json`` (older runs: from the loss)."""
    from training.checkpoint import checkpoint_task

    return checkpoint_task(json.loads((checkpoint / "state.json").read_text()), args.loss)


def model_kind(model_dir: str | os.PathLike, ckpt: str | None = None) -> str:
    """"vlsm" or "dlsm": which network a run folder (e.g. ``pretrained/dlsm_cpu``) trained,
    without building it (reads ``args.json`` and the checkpoint's ``state.json``).

    Raises:
        FileNotFoundError: no ``args.json`` in ``model_dir``.
        training.checkpoint.CheckpointError: no such checkpoint.
    """
    from training.checkpoint import resolve_checkpoint

    run_dir = repo_path(model_dir)
    args = _run_args(run_dir)
    return _kind_of(args, resolve_checkpoint(ckpt if ckpt is not None else run_dir, run_dir))


def predict(lsm: LSM, images: np.ndarray, K: np.ndarray, extrinsic: np.ndarray) -> np.ndarray:
    """Run the network on one set of views.

    Args:
        lsm: the loaded network.
        images: (V, h, w, 3) RGB in [0, 1] at ``lsm.image_size``.
        K: (V, 3, 3) intrinsics in pixels of the h x w images.
        extrinsic: (V, 3, 4) world -> camera.

    Returns:
        V-LSM: (T, N, N, N) occupancy probabilities, T = V, entry t after views 0..t.
        D-LSM: (T, V, h, w) depth in scene units; entry [t, v] is view v's depth from the grid
        after views 0..t.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:3] != lsm.image_size:
        raise ValueError(f"images must be (V, {lsm.image_size[0]}, {lsm.image_size[1]}, 3) "
                         f"(see data.examples.resize_views), got {images.shape}")
    inputs = {"images": images[None], "K": np.asarray(K, np.float32)[None],
              "extrinsic": np.asarray(extrinsic, np.float32)[None, :, :3, :]}
    from training.tasks import task_for

    # D-LSM: the depth map of either depth head (ops.depth_head.depth_from_head)
    task = task_for(lsm.kind)
    out = task.prediction(lsm.model(inputs, training=False))[0, ..., 0]
    if task.head == "voxels":
        return expit(out.astype(np.float64)).astype(np.float32)
    return out.astype(np.float32)

