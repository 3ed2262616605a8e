"""The tf.data loader: batches of multi-view examples read from a release-layout root.

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

Design, by measurement (2-core CPU, see ``docs/speed.md``): PNGs are read and
decoded by TensorFlow ops inside a parallel ``map`` (~0.3 ms per render, ~0.6 ms per depth
map, outside the GIL). Cameras (~0.1 ms per ``.mat``) and voxels (~0.1 ms at 32^3, ~0.7 ms at
64^3) are read lazily by :mod:`data.io` in a ``tf.numpy_function``: pre-loading them would
cost ~1 minute of start-up and ~1 GB (32^3) to ~8 GB (64^3) on the full release.

Errors: construction checks that the split file exists and names only models present on disk
(with their voxel files); files that are missing or broken at read time raise
:class:`data.io.DataError` naming the file when iterated through :meth:`Loader.iterate` (the
raw ``tf.data`` dataset raises TensorFlow errors). Cameras and voxels are read and validated by
:mod:`data.io`. Before decoding, each PNG's bytes are checked in the graph: the signature, the
IHDR chunk (the ``render_hw`` size, 8-bit RGBA renders, 16-bit grey depth maps, since
``decode_png`` would otherwise convert other types silently) and the trailing ``IEND`` chunk
(truncation). The chunk CRCs are left to libpng, which fails on a bad CRC in a critical chunk
(IHDR, IDAT, IEND...) and drops an ancillary chunk with a bad CRC (harmless: the pixels are
right). When a batch fails, :meth:`Loader.iterate` re-reads that batch's files with the
:mod:`data.io` readers (which check every CRC) to name the bad file with the same message as
:class:`data.loaders.numpy_loader.NumpyLoader`; only if they all read does it fall back to
decoding each PNG with TensorFlow, then to the TensorFlow message.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from data.examples import eval_views
from data.io import DataError, read_camera, read_voxels
from data.layout import DataLayout
from data.loaders.base import LoaderBase, LoaderConfig, LoaderState
from geometry.depth import DEPTH_SCALE

logger = logging.getLogger(__name__)

#: Every PNG ends with an empty IEND chunk: length 0, type "IEND", CRC 0xAE426082.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
#: Every PNG starts with this signature.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
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


def _png_head(hw: tuple[int, int], bit_depth: int, colour_type: int) -> bytes:
    """The first 26 bytes of a PNG of one size and type: signature, IHDR length and type, width,
    height, bit depth and colour type (big-endian, as in the file)."""
    return (_PNG_SIGNATURE + struct.pack(">I", 13) + b"IHDR"
            + struct.pack(">IIBB", hw[1], hw[0], bit_depth, colour_type))


def _read_png(path: tf.Tensor, head: bytes, expected: str) -> tf.Tensor:
    """Read a PNG's bytes, checking before any decoding that it is a PNG, is not truncated and
    has the expected size and type; a failure names the path (in :data:`_ERR_TAG` form).

    Args:
        path: scalar string tensor.
        head: the file's expected first bytes (:func:`_png_head`).
        expected: the expected size and type in words, for the message.

    Returns:
        Scalar string tensor: the file's bytes.
    """
    raw = tf.io.read_file(path)
    n = tf.strings.length(raw)
    signed = tf.equal(tf.strings.substr(raw, 0, len(_PNG_SIGNATURE)), _PNG_SIGNATURE)
    check = tf.debugging.Assert(
        signed, [f"{_ERR_TAG} corrupt or truncated PNG (empty or not a PNG file):", path])
    with tf.control_dependencies([check]):
        # substr needs 0 <= pos <= length; a shorter result than asked for is fine.
        tail = tf.strings.substr(raw, tf.maximum(n - len(_PNG_END), 0), len(_PNG_END))
        check = tf.debugging.Assert(tf.equal(tail, _PNG_END),
                                    [f"{_ERR_TAG} corrupt or truncated PNG:", path])
    with tf.control_dependencies([check]):
        check = tf.debugging.Assert(
            tf.equal(tf.strings.substr(raw, 0, len(head)), head),
            [f"{_ERR_TAG} PNG of the wrong size or type (expected {expected}):", path])
    with tf.control_dependencies([check]):
        return tf.identity(raw)


class Loader(LoaderBase):
    """Batches of one split of a data root as a ``tf.data`` pipeline.

    Arguments, checks and errors are :class:`data.loaders.base.LoaderBase`'s.
    """

    def __init__(self, config: LoaderConfig, split: str = "train", **kwargs: Any) -> None:
        super().__init__(config, split, **kwargs)
        self._synsets = tf.constant([s for s, _ in self.models])
        self._model_ids = tf.constant([m for _, m in self.models])
        self._model_dirs = tf.constant(
            [self.layout.model_dir(s, m).as_posix() + "/" for s, m in self.models])
        self._render_pattern = _file_pattern(self.layout.render_path, self.layout)
        self._depth_pattern = _file_pattern(self.layout.depth_path, self.layout)
        h, w = self.render_hw
        self._render_head = (_png_head(self.render_hw, 8, 6), f"{w}x{h} 8-bit RGBA")
        self._depth_head = (_png_head(self.render_hw, 16, 0), f"{w}x{h} 16-bit grey")
        threads = int(config.prefetch_threads)
        self._parallel = threads if threads > 0 else tf.data.AUTOTUNE
        self._prefetch = max(1, math.ceil(config.queue_size / self.local_batch_size))
        self._eval_dataset: tf.data.Dataset | None = None
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
            Endless dataset for training; one pass otherwise (built once per loader and
            reused: each iteration re-reads the files, and repeated evaluations skip the
            ~60 ms of tracing).
        """
        start = self._start_step(start)
        if not self.training and self._eval_dataset is not None:
            return self._eval_dataset
        if self.training:
            ds = self._shard(self._train_index(start * self.batch_size))
        else:
            ds = tf.data.Dataset.from_tensor_slices(
                (np.arange(self.num_models, dtype=np.int64), self.eval_views()))
        ds = ds.map(self._load, num_parallel_calls=self._parallel, deterministic=True)
        ds = ds.batch(self.local_batch_size, drop_remainder=self.drop_remainder)
        ds = ds.prefetch(self._prefetch)
        if not self.training:
            self._eval_dataset = ds
        return ds

    def iterate(self, start: int | LoaderState = 0) -> Iterator[dict[str, tf.Tensor]]:
        """Iterate :meth:`dataset`, turning TensorFlow read errors into :class:`DataError`.

        Raises:
            DataError: a batch failed; the message names the bad file (see the module
                docstring for how it is found).
        """
        step = self._start_step(start)
        it = iter(self.dataset(step))
        while True:
            try:
                batch = next(it)
            except StopIteration:
                return
            except tf.errors.OpError as e:
                raise self._data_error(e, step) from e
            step += 1
            yield batch

    def batch_specs(self, step: int) -> list[tuple[int, np.ndarray]]:
        """``(model index, views)`` of the examples of batch ``step`` of :meth:`dataset`
        (0 for the first batch of an evaluation pass)."""
        b = self.batch_size
        if self.training:
            ds = self._shard(self._train_index(step * b).take(b))
            return [(int(m), v.numpy()) for m, v in ds]
        idx = range(step * b, min((step + 1) * b, self.num_models))
        return [(i, eval_views(*self.models[i], self.views, self.num_renders,
                               self.config.eval_seed)) for i in idx]

    def _data_error(self, error: tf.errors.OpError, step: int) -> DataError:
        """The :class:`DataError` to raise for a TensorFlow error in batch ``step``."""
        specs = self.batch_specs(step)
        found = self.find_bad_file(specs)
        if found is None:
            found = self._find_undecodable_png(specs)
        if found is not None:
            logger.debug("batch %d failed in TensorFlow: %s", step, error.message)
            return found
        return DataError(_clean_tf_message(error.message, self))

    def _find_undecodable_png(self, specs: list[tuple[int, np.ndarray]]) -> DataError | None:
        """Decode the PNGs of ``specs`` one by one with TensorFlow; the first failure, named."""
        for midx, views in specs:
            s, m = self.models[int(midx)]
            for v in views:
                paths = [self.layout.render_path(s, m, int(v))]
                if self.with_depth:
                    paths.append(self.layout.depth_path(s, m, int(v)))
                for path, dtype in zip(paths, (tf.uint8, tf.uint16), strict=False):
                    try:
                        tf.io.decode_png(tf.io.read_file(str(path)), dtype=dtype)
                    except tf.errors.OpError as e:
                        msg = " ".join(e.message.split())
                        msg = re.split(r"\s*(?:\[\[|\[Op:)", re.sub(r"\{\{[^}]*\}\}\s*", "", msg),
                                       maxsplit=1)[0]
                        return DataError(f"corrupt PNG: {path} (TensorFlow: {msg})")
        return None

    def __iter__(self) -> Iterator[dict[str, tf.Tensor]]:
        return self.iterate(0)

    # -- pipeline --------------------------------------------------------------------------
    def _seed(self, salt: tf.Tensor) -> tf.Tensor:
        return tf.stack([tf.constant(int(self.config.rng_seed), tf.int64),
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

    def _shard(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        """This process's part of every global batch of a stream that starts at a batch
        boundary (:meth:`LoaderBase.in_shard`); the whole stream with one shard."""
        if self.local_batch_size == self.batch_size:
            return ds
        lo = int(self.config.shard_index) * self.local_batch_size
        hi, b = lo + self.local_batch_size, self.batch_size
        ds = ds.enumerate().filter(lambda i, _: (i % b >= lo) & (i % b < hi))
        return ds.map(lambda _, example: example)

    def _read_meta(self, midx: np.ndarray, views: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes]:
        """numpy side: cameras and voxels of one example (runs in ``tf.numpy_function``).

        Returns:
            K (V, 3, 3) float32, extrinsic (V, 3, 4) float32, voxels (N, N, N) uint8 and an
            error message: empty, or the :class:`DataError` of a bad file (the arrays then
            hold zeros). The error is returned, not raised, so that TensorFlow does not log
            the Python traceback; the graph raises it with an assertion.
        """
        s, m = self.models[int(midx)]
        try:
            Ks, Es = zip(*(read_camera(self.layout.camera_path(s, m, int(v)), self.render_hw)
                           for v in views), strict=True)
            vox = read_voxels(self.layout.voxel_path(s, m, self.nvox), self.nvox)
        except DataError as e:
            n, v = self.nvox, len(views)
            return (np.zeros((v, 3, 3), np.float32), np.zeros((v, 3, 4), np.float32),
                    np.zeros((n, n, n), np.uint8), f"{_ERR_TAG} {e}".encode())
        return (np.stack(Ks).astype(np.float32), np.stack(Es)[:, :3, :].astype(np.float32),
                vox, b"")

    def _view_path(self, mdir: tf.Tensor, pattern: tuple[str, str], v: tf.Tensor) -> tf.Tensor:
        return tf.strings.join([mdir, pattern[0], tf.strings.as_string(v), pattern[1]])

    def _load(self, midx: tf.Tensor, views: tf.Tensor) -> dict[str, tf.Tensor]:
        """Graph side: one example (unbatched shapes of the module table)."""
        V, N = self.views, self.nvox
        H, W = self.im_hw
        mdir = tf.gather(self._model_dirs, midx)
        images, depths = [], []
        for i in range(V):
            rgba = tf.io.decode_png(_read_png(
                self._view_path(mdir, self._render_pattern, views[i]), *self._render_head),
                channels=4)
            images.append(rgba)
            if self.with_depth:
                raw = _read_png(self._view_path(mdir, self._depth_pattern, views[i]),
                                *self._depth_head)
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

        K, E, vox, err = tf.numpy_function(self._read_meta, [midx, views],
                                           [tf.float32, tf.float32, tf.uint8, tf.string],
                                           stateful=False)
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(err, ""), [err])]):
            K, E, vox = tf.identity(K), tf.identity(E), tf.identity(vox)
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


def make_dataset(config: LoaderConfig, split: str = "train", start: int | LoaderState = 0,
                 **kwargs: Any) -> tf.data.Dataset:
    """Shortcut for ``Loader(config, split, **kwargs).dataset(start)``."""
    return Loader(config, split, **kwargs).dataset(start)


__all__ = ["Loader", "make_dataset"]
