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

import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from data.io import (
    DataError,
    read_camera,
    read_depth,
    read_render,
    read_splits,
    read_voxels,
)
from data.layout import DEPTH_SCALE, DataLayout, split_path

if TYPE_CHECKING:
    from training.config import Args

logger = logging.getLogger(__name__)

#: Every PNG ends with an empty IEND chunk: length 0, type "IEND", CRC 0xAE426082.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
#: Marker that :meth:`Loader.iterate` looks for to recover a file name from a TF error.
_ERR_TAG = "LSM-DATA-ERROR:"
#: Number of epochs of the (endless) training stream; large enough to be endless.
_MAX_EPOCHS = 2**40


@dataclass(frozen=True)
class LoaderState:
    """Position of a training stream, saved with a checkpoint to resume the same sequence.

    Attributes:
        step: batches already consumed.
        rng_seed: seed of the stream.
        batch_size: models per batch.
        im_batch: views per model.
        num_models: models in the split when the state was taken.
    """

    step: int
    rng_seed: int
    batch_size: int
    im_batch: int
    num_models: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoaderState:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: int(d[k]) for k in cls.__dataclass_fields__})


def stable_hash(text: str) -> int:
    """A 63-bit hash of ``text`` that is the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(),
                          "little") >> 1


def eval_views(synset: str, model: str, nviews: int, num_renders: int,
               seed: int) -> np.ndarray:
    """The fixed views evaluated for one model.

    Args:
        synset: synset id.
        model: model id.
        nviews: views wanted, ``<= num_renders``.
        num_renders: renders available per model.
        seed: evaluation seed (``Args.eval_seed``).

    Returns:
        (nviews,) int32 distinct view ids in [0, num_renders): the first ``nviews`` of a
        permutation seeded by ``(seed, stable_hash("synset/model"))``.
    """
    rng = np.random.default_rng([int(seed), stable_hash(f"{synset}/{model}")])
    return rng.permutation(int(num_renders))[: int(nviews)].astype(np.int32)


def split_models(split_file: str | Path, split: str) -> list[tuple[str, str]]:
    """``(synset, model_id)`` pairs of one split, synsets sorted, models in file order.

    Raises:
        DataError: missing/invalid split file, or ``split`` absent from it (names the file).
    """
    path = Path(split_file)
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    splits = read_splits(path)
    if split not in splits:
        raise DataError(f"split file {path} has no split '{split}' (has {sorted(splits)})")
    return [(s, m) for s in sorted(splits[split]) for m in splits[split][s]]


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


class Loader:
    """Batches of one split of a data root, driven by :class:`training.config.Args`.

    Args:
        args: uses ``data_root``, ``split_file`` (or ``val_split_file`` / ``test_split_file``),
            ``nvox``, ``im_h``, ``im_w``, ``num_renders``, ``prefetch_threads``,
            ``queue_size``, ``rng_seed`` (training), ``eval_seed`` (evaluation) and the batch
            sizes: ``batch_size`` / ``im_batch`` for training, ``val_batch_size`` /
            ``val_im_batch`` for "val", ``test_batch_size`` / ``test_im_batch`` otherwise.
        split: "train", "val" or "test".
        training: endless shuffled stream with random views (default: ``split == "train"``)
            or one deterministic pass with fixed views.
        batch_size: models per batch (overrides the args).
        views: views per model ``V`` (overrides the args).
        drop_remainder: drop a last smaller batch (default: ``training``).
        with_depth: also read depth maps (skip them for V-LSM to save ~40% of decoding).

    Raises:
        DataError: the split file is missing or lacks ``split``, the split is empty, or it names
            models (or voxel files) missing under the data root.
    """

    def __init__(self, args: Args, split: str = "train", *, training: bool | None = None,
                 batch_size: int | None = None, views: int | None = None,
                 drop_remainder: bool | None = None, with_depth: bool = True) -> None:
        self.args = args
        self.split = split
        self.training = split == "train" if training is None else bool(training)
        if self.training:
            default_bs, default_v = args.batch_size, args.im_batch
        elif split == "val":
            default_bs, default_v = args.val_batch_size, args.val_im_batch
        else:
            default_bs, default_v = args.test_batch_size, args.test_im_batch
        self.batch_size = int(batch_size or default_bs)
        self.views = int(views or default_v)
        self.num_renders = int(args.num_renders)
        if not 1 <= self.views <= self.num_renders:
            raise ValueError(f"views must be in [1, {self.num_renders}], got {self.views}")
        self.drop_remainder = self.training if drop_remainder is None else bool(drop_remainder)
        self.with_depth = with_depth
        self.nvox = int(args.nvox)
        self.im_hw = (int(args.im_h), int(args.im_w))
        self.layout = DataLayout(Path(args.data_root))
        self.split_file = split_path(args.split_file_for(split))
        self.models = split_models(self.split_file, split)
        if not self.models:
            raise DataError(f"split '{split}' of {self.split_file} is empty")
        self._check_on_disk()

        self._synsets = tf.constant([s for s, _ in self.models])
        self._model_ids = tf.constant([m for _, m in self.models])
        self._model_dirs = tf.constant(
            [self.layout.model_dir(s, m).as_posix() + "/" for s, m in self.models])
        self._render_pattern = _file_pattern(self.layout.render_path, self.layout)
        self._depth_pattern = _file_pattern(self.layout.depth_path, self.layout)
        threads = int(args.prefetch_threads)
        self._parallel = threads if threads > 0 else tf.data.AUTOTUNE
        self._prefetch = max(1, math.ceil(args.queue_size / self.batch_size))
        logger.info("loader %s: %d models from %s (%s), %d x %d views per batch, %s",
                    split, len(self.models), self.split_file, self.layout.root,
                    self.batch_size, self.views, "training" if self.training else "fixed views")

    # -- validation ------------------------------------------------------------------------
    def _check_on_disk(self) -> None:
        missing = []
        for s, m in self.models:
            if not self.layout.has_model(s, m):
                missing.append(f"{s}/{m} (no {self.layout.model_dir(s, m)})")
            elif not self.layout.voxel_path(s, m, self.nvox).is_file():
                missing.append(f"{s}/{m} (no {self.layout.voxel_path(s, m, self.nvox)})")
        if missing:
            shown = "; ".join(missing[:5]) + (f"; ... {len(missing) - 5} more"
                                              if len(missing) > 5 else "")
            raise DataError(
                f"split file {self.split_file} ('{self.split}') names {len(missing)} model(s) "
                f"not on disk under data root {self.layout.root}: {shown}")

    # -- public ----------------------------------------------------------------------------
    @property
    def num_models(self) -> int:
        """Models in the split."""
        return len(self.models)

    @property
    def steps_per_epoch(self) -> int:
        """Batches per pass over the split (the number of evaluation batches)."""
        if self.drop_remainder:
            return self.num_models // self.batch_size
        return math.ceil(self.num_models / self.batch_size)

    def state(self, step: int) -> LoaderState:
        """The :class:`LoaderState` after ``step`` batches, to store in a checkpoint."""
        return LoaderState(step=int(step), rng_seed=int(self.args.rng_seed),
                           batch_size=self.batch_size, im_batch=self.views,
                           num_models=self.num_models)

    def train_views(self, index: int) -> np.ndarray:
        """Views of the ``index``-th example of the training stream: (V,) int32."""
        return self._stream_views(tf.constant(index, tf.int64)).numpy()

    def eval_views(self) -> np.ndarray:
        """Fixed evaluation views of every model of the split: (num_models, V) int32."""
        return np.stack([eval_views(s, m, self.views, self.num_renders, self.args.eval_seed)
                         for s, m in self.models])

    def dataset(self, start: int | LoaderState = 0) -> tf.data.Dataset:
        """The ``tf.data.Dataset`` of batches (see the module docstring for the keys).

        Args:
            start: training only: batches to skip (the global step), or a saved
                :class:`LoaderState`. Skipping is free: no data is read.

        Returns:
            Endless dataset for training; one pass otherwise.
        """
        if isinstance(start, LoaderState):
            expected = self.state(start.step)
            if start != expected:
                logger.warning("resuming loader from %s but this loader is %s: the sequence "
                               "will differ from the interrupted run", start, expected)
            start = start.step
        start = int(start)
        if self.training:
            ds = self._train_index(start * self.batch_size)
        else:
            if start:
                raise ValueError("start is only supported for the training stream")
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


def load_example(layout: DataLayout, synset: str, model: str, views: Sequence[int],
                 nvox: int) -> dict[str, Any]:
    """Read one example with plain numpy (demos, tests); no resizing.

    Args:
        layout: the data root.
        synset: synset id.
        model: model id.
        views: V view ids.
        nvox: voxel resolution N.

    Returns:
        The unbatched keys of the module table as numpy arrays: images (V, H0, W0, 3) float32,
        K (V, 3, 3) float32, extrinsic (V, 3, 4) float32, voxels (N, N, N, 1) float32,
        depth (V, H0, W0, 1) float32, view_ids (V,) int32; synset and model_id as str.

    Raises:
        DataError: a file is missing or malformed (the message names it).
    """
    views = [int(v) for v in views]
    cams = [read_camera(layout.camera_path(synset, model, v)) for v in views]
    return {
        "images": np.stack([read_render(layout.render_path(synset, model, v)) for v in views]),
        "K": np.stack([k for k, _ in cams]).astype(np.float32),
        "extrinsic": np.stack([e[:3] for _, e in cams]).astype(np.float32),
        "voxels": read_voxels(layout.voxel_path(synset, model, nvox), nvox)
        .astype(np.float32)[..., None],
        "depth": np.stack([read_depth(layout.depth_path(synset, model, v)) for v in views])
        [..., None],
        "view_ids": np.asarray(views, np.int32),
        "synset": synset,
        "model_id": model,
    }


__all__ = [
    "Loader",
    "LoaderState",
    "eval_views",
    "load_example",
    "make_dataset",
    "split_models",
    "stable_hash",
]
