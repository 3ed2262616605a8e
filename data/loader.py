"""The tf.data input pipeline: batches of multi-view examples read from a release-layout root.

One example is one model seen from ``V`` of its ``R`` (= ``num_renders``, 20) renders. A batch
is a dict of tensors (``B`` models, ``V`` views, ``H x W`` = ``im_h x im_w`` pixels,
``N`` = ``nvox``):

============  ==================  =========  ==============================================
key           shape               dtype      meaning
============  ==================  =========  ==============================================
images        (B, V, H, W, 3)     float32    RGB in [0, 1], RGBA composited on white
K             (B, V, 3, 3)        float32    intrinsics in pixels of the H x W image
extrinsic     (B, V, 3, 4)        float32    world -> camera [R | t], OpenCV axes
voxels        (B, N, N, N, 1)     float32    occupancy {0, 1}, indexed world [x, y, z]
depth         (B, V, H, W, 1)     float32    camera z, scene units; background 10
view_ids      (B, V)              int32      which renders (0 .. R-1)
synset        (B,)                string     ShapeNet synset id
model_id      (B,)                string     model id
============  ==================  =========  ==============================================

If ``(im_h, im_w)`` differs from the render size, images are resized (bilinear, antialiased),
depth maps by nearest neighbour (no mixing of object and background depth), and ``K`` is
scaled by ``diag(im_w / W0, im_h / H0, 1)`` with no half-pixel shift, the convention of
:func:`ops.camera.scale_intrinsics`.

Training stream (``training=True``, the default for the "train" split): every epoch visits
all models of the split in a fresh random order, and each visit draws ``V`` distinct random
views; the stream repeats forever. All randomness is *stateless*: the order of epoch ``e`` is
a function of ``(rng_seed, e)`` and the views of the ``g``-th example of the stream a function
of ``(rng_seed, g)``. The stream is thus a pure function of the position, and
``Loader.dataset(start_step=k)`` (or a saved :class:`LoaderState`) yields exactly the batches
that iterating ``k`` steps from the start would have yielded next, with no data read to skip.

Evaluation (val/test, ``training=False``): one pass over the split in file order (synsets
sorted, models as listed), no shuffling, the last batch smaller unless ``drop_remainder``.
The views of a model are the first ``V`` entries of a permutation of its renders drawn from
``numpy.random.default_rng([eval_seed, blake2b(synset/model)])``, stable across runs,
processes and machines (no Python ``hash()``), and prefix-consistent: asking for 2 views gives
the first 2 of the 4-view choice.

Design, by measurement (2-core CPU, see ``docs/benchmarks_loader.md``): PNGs are read and
decoded by TensorFlow ops inside a parallel ``map`` (~0.3 ms per render, ~0.6 ms per depth
map, outside the GIL). Cameras (~0.1 ms per ``.mat``) and voxels (~0.1 ms at 32^3, ~0.7 ms at
64^3) are read lazily by :mod:`data.io` in a ``tf.numpy_function``: pre-loading them would
cost ~1 minute of start-up and ~1 GB (32^3) to ~8 GB (64^3) on the full release.

Errors: construction checks that the split file exists and names only models present on disk
(with their voxel files); files that are missing or broken at read time raise
:class:`data.io.DataError` naming the file when iterated through :meth:`Loader.iterate` (the
raw ``tf.data`` dataset raises TensorFlow errors carrying the same message). Truncated PNGs are
caught before decoding by checking the trailing ``IEND`` chunk.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from data.io import DataError, read_camera, read_voxels
from data.layout import DEPTH_SCALE, DataLayout
from data.stream import (
    LoaderBase,
    LoaderState,
    eval_views,
    load_example,
    split_models,
    stable_hash,
)

if TYPE_CHECKING:
    from training.config import Args

logger = logging.getLogger(__name__)

#: Every PNG ends with an empty IEND chunk: length 0, type "IEND", CRC 0xAE426082.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
#: Marker that :meth:`Loader.iterate` looks for to recover a file name from a TF error.
_ERR_TAG = "LSM-DATA-ERROR:"
#: Number of epochs of the (endless) training stream; large enough to be endless.
_MAX_EPOCHS = 2**40


def _file_pattern(path_fn: Callable[[str, str, int], Path],
                  layout: DataLayout) -> tuple[str, str]:
    """(prefix, suffix) of a per-view file name, derived from :class:`DataLayout` itself."""
    probe = 987654321
    name = path_fn("S", "M", probe).relative_to(layout.model_dir("S", "M")).as_posix()
    prefix, sep, suffix = name.partition(str(probe))
    if not sep:
        raise RuntimeError(f"cannot derive a per-view file pattern from {name}")
    return prefix, suffix


def _read_png(path: tf.Tensor) -> tf.Tensor:
    """Read a PNG's bytes; fail with the path in the message if it is truncated."""
    raw = tf.io.read_file(path)
    ok = tf.logical_and(tf.strings.length(raw) >= len(_PNG_END),
                        tf.equal(tf.strings.substr(raw, -len(_PNG_END), len(_PNG_END)),
                                 _PNG_END))
    check = tf.debugging.Assert(ok, [f"{_ERR_TAG} corrupt or truncated PNG:", path])
    with tf.control_dependencies([check]):
        return tf.identity(raw)


class Loader(LoaderBase):
    """Batches of one split of a data root as a ``tf.data`` pipeline.

    Arguments, checks and errors are :class:`data.stream.LoaderBase`'s.
    """

    def __init__(self, args: Args, split: str = "train", **kwargs: Any) -> None:
        super().__init__(args, split, **kwargs)
        self._synsets = tf.constant([s for s, _ in self.models])
        self._model_ids = tf.constant([m for _, m in self.models])
        self._model_dirs = tf.constant(
            [self.layout.model_dir(s, m).as_posix() + "/" for s, m in self.models])
        self._render_pattern = _file_pattern(self.layout.render_path, self.layout)
        self._depth_pattern = _file_pattern(self.layout.depth_path, self.layout)
        threads = int(args.prefetch_threads)
        self._parallel = threads if threads > 0 else tf.data.AUTOTUNE
        self._prefetch = max(1, math.ceil(args.queue_size / self.batch_size))
        self._log_ready("tf.data")

    # -- public ----------------------------------------------------------------------------
    def train_views(self, index: int) -> np.ndarray:
        """Views of the ``index``-th example of the training stream: (V,) int32."""
        return self._stream_views(tf.constant(index, tf.int64)).numpy()

    def dataset(self, start: int | LoaderState = 0) -> tf.data.Dataset:
        """The ``tf.data.Dataset`` of batches (see the module docstring for the keys).

        Args:
            start: training only: batches to skip (the global step), or a saved
                :class:`LoaderState`. Skipping is free: no data is read.

        Returns:
            Endless dataset for training; one pass otherwise.
        """
        start = self._start_step(start)
        if self.training:
            ds = self._train_index(start * self.batch_size)
        else:
            ds = tf.data.Dataset.from_tensor_slices(
                (np.arange(self.num_models, dtype=np.int64), self.eval_views()))
        ds = ds.map(self._load, num_parallel_calls=self._parallel, deterministic=True)
        ds = ds.batch(self.batch_size, drop_remainder=self.drop_remainder)
        return ds.prefetch(self._prefetch)

    def iterate(self, start: int | LoaderState = 0) -> Iterator[dict[str, tf.Tensor]]:
        """Iterate :meth:`dataset`, turning TensorFlow read errors into :class:`DataError`."""
        it = iter(self.dataset(start))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except tf.errors.OpError as e:
                raise DataError(_clean_tf_message(e.message, self)) from e
            yield batch

    def __iter__(self) -> Iterator[dict[str, tf.Tensor]]:
        return self.iterate(0)

    # -- pipeline --------------------------------------------------------------------------
    def _seed(self, salt: tf.Tensor) -> tf.Tensor:
        return tf.stack([tf.constant(int(self.args.rng_seed), tf.int64),
                         tf.cast(salt, tf.int64)])

    def _stream_views(self, index: tf.Tensor) -> tf.Tensor:
        u = tf.random.stateless_uniform([self.num_renders], seed=self._seed(index))
        return tf.cast(tf.argsort(u)[: self.views], tf.int32)

    def _train_index(self, start_example: int) -> tf.data.Dataset:
        """Endless ``(model index, views)`` stream from example ``start_example`` on."""
        n = self.num_models
        first_epoch, offset = divmod(start_example, n)

        def epoch(e: tf.Tensor) -> tf.data.Dataset:
            # Epoch seeds use negative salts, example seeds non-negative ones: no overlap.
            order = tf.argsort(tf.random.stateless_uniform([n], seed=self._seed(-1 - e)))
            index = e * n + tf.range(n, dtype=tf.int64)
            return tf.data.Dataset.from_tensor_slices((tf.cast(order, tf.int64), index))

        ds = tf.data.Dataset.range(first_epoch, _MAX_EPOCHS).flat_map(epoch).skip(offset)
        return ds.map(lambda m, g: (m, self._stream_views(g)))

    def _read_meta(self, midx: np.ndarray, views: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """numpy side: cameras and voxels of one example (runs in ``tf.numpy_function``)."""
        s, m = self.models[int(midx)]
        try:
            Ks, Es = zip(*(read_camera(self.layout.camera_path(s, m, int(v))) for v in views),
                         strict=True)
            vox = read_voxels(self.layout.voxel_path(s, m, self.nvox), self.nvox)
        except DataError as e:
            raise DataError(f"{_ERR_TAG} {e}") from e
        return (np.stack(Ks).astype(np.float32), np.stack(Es)[:, :3, :].astype(np.float32),
                vox)

    def _view_path(self, mdir: tf.Tensor, pattern: tuple[str, str], v: tf.Tensor) -> tf.Tensor:
        return tf.strings.join([mdir, pattern[0], tf.strings.as_string(v), pattern[1]])

    def _load(self, midx: tf.Tensor, views: tf.Tensor) -> dict[str, tf.Tensor]:
        """Graph side: one example (unbatched shapes of the module table)."""
        V, N = self.views, self.nvox
        H, W = self.im_hw
        mdir = tf.gather(self._model_dirs, midx)
        images, depths = [], []
        for i in range(V):
            rgba = tf.io.decode_png(
                _read_png(self._view_path(mdir, self._render_pattern, views[i])), channels=4)
            images.append(rgba)
            if self.with_depth:
                raw = _read_png(self._view_path(mdir, self._depth_pattern, views[i]))
                depths.append(tf.io.decode_png(raw, channels=1, dtype=tf.uint16))
        rgba = tf.stack(images)  # (V, H0, W0, 4) uint8
        src_hw = tf.shape(rgba)[1:3]
        x = tf.cast(rgba, tf.float32) * np.float32(1.0 / 255.0)
        # On white: c a + (1 - a) = 1 - a (1 - c), which stays in [0, 1] in float arithmetic
        # and measured ~2x faster than the first form.
        rgb = 1.0 - x[..., 3:4] * (1.0 - x[..., :3])
        same = tf.reduce_all(tf.equal(src_hw, tf.constant([H, W])))
        rgb = tf.cond(same, lambda: rgb, lambda: tf.clip_by_value(
            tf.image.resize(rgb, (H, W), antialias=True), 0.0, 1.0))
        rgb = tf.ensure_shape(rgb, (V, H, W, 3))

        K, E, vox = tf.numpy_function(self._read_meta, [midx, views],
                                      [tf.float32, tf.float32, tf.uint8], stateful=False)
        src = tf.cast(src_hw, tf.float32)
        scale = tf.stack([W / src[1], H / src[0], tf.constant(1.0)])[:, None]
        K = tf.ensure_shape(K, (V, 3, 3)) * scale
        out = {
            "images": rgb,
            "K": K,
            "extrinsic": tf.ensure_shape(E, (V, 3, 4)),
            "voxels": tf.cast(tf.ensure_shape(vox, (N, N, N)), tf.float32)[..., None],
            "view_ids": tf.cast(views, tf.int32),
            "synset": tf.gather(self._synsets, midx),
            "model_id": tf.gather(self._model_ids, midx),
        }
        if self.with_depth:
            d = tf.cast(tf.stack(depths), tf.float32) * np.float32(DEPTH_SCALE)
            d = tf.cond(same, lambda: d,
                        lambda: tf.image.resize(d, (H, W), method="nearest"))
            out["depth"] = tf.ensure_shape(d, (V, H, W, 1))
        return out


def _clean_tf_message(message: str, loader: Loader) -> str:
    """Reduce a TensorFlow error message to the data error it carries, naming the file."""
    flat = " ".join(message.split())
    i = flat.find(_ERR_TAG)
    if i >= 0:
        text = flat[i + len(_ERR_TAG):]
        text = re.split(r"\s*(?:\[\[|Traceback|\{\{)", text, maxsplit=1)[0]
        text = text.replace("] [", " ").strip(" []'\"")
        return text
    where = (f"while reading split '{loader.split}' of {loader.split_file} from "
             f"{loader.layout.root}")
    missing = re.search(r"(\S+); No such file or directory", flat)
    if missing:
        return f"missing file: {missing.group(1)} ({where})"
    return f"error {where}: {flat}"


def make_dataset(args: Args, split: str = "train", start: int | LoaderState = 0,
                 **kwargs: Any) -> tf.data.Dataset:
    """Shortcut for ``Loader(args, split, **kwargs).dataset(start)``."""
    return Loader(args, split, **kwargs).dataset(start)


__all__ = [
    "Loader",
    "LoaderState",
    "eval_views",
    "load_example",
    "make_dataset",
    "split_models",
    "stable_hash",
]
