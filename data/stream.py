"""The input pipeline's TensorFlow-free half, and a numpy loader for machines without TensorFlow.

The GPU machines we train on have JAX but not TensorFlow, so everything a training or
evaluation run needs besides ``tf.data`` lives here and imports only numpy, PIL and the data
layer: the split and view choices (:func:`split_models`, :func:`eval_views`), the resumable
stream position (:class:`LoaderState`), the loader's shared front end (:class:`LoaderBase`: batch
sizes, split file, on-disk checks) and :class:`NumpyLoader`, which yields the same batch
dictionaries as :class:`data.loader.Loader` (see that module's table of keys) from a pool of
reader threads. :func:`make_loader` picks one by ``Args.loader``.

What the two loaders share exactly: evaluation batches (same models, order and views; images
agree to float rounding of the antialiased resize, depth maps and ``K`` exactly). What differs:
the *training* stream of :class:`NumpyLoader` draws its epoch orders and views with numpy
(``default_rng([rng_seed, 0, epoch])`` and ``default_rng([rng_seed, 1, example])``) instead of
TensorFlow's stateless ops, so it is a different sequence, but just as stateless: a pure
function of the position, resumable from a :class:`LoaderState` with nothing read to skip.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from data.io import DataError, read_camera, read_depth, read_render, read_splits, read_voxels
from data.layout import IM_SIZE, DataLayout, split_path

if TYPE_CHECKING:
    from training.config import Args

logger = logging.getLogger(__name__)


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


def _nearest(n0: int, n: int) -> np.ndarray:
    """Source pixel of each of ``n`` output pixels: ``floor((i + 0.5) * n0 / n)``, computed in
    float32 as TensorFlow's nearest-neighbour resize does (float64 rounds some ties down)."""
    x = (np.arange(n, dtype=np.float32) + np.float32(0.5)) * np.float32(n0 / n)
    return np.minimum(np.floor(x).astype(np.int64), n0 - 1)


def resize_views(images: np.ndarray, K: np.ndarray, size: tuple[int, int],
                 depth: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Resize views to the network's image size and scale their intrinsics, as the loaders do.

    Args:
        images: (V, H0, W0, 3) float32 RGB in [0, 1].
        K: (V, 3, 3) intrinsics in pixels of the H0 x W0 image.
        size: (H, W) wanted.
        depth: optional (V, H0, W0, 1) depth in scene units.

    Returns:
        ``(images (V, H, W, 3) float32, K (V, 3, 3) float32, depth (V, H, W, 1) or None)``:
        images resized bilinearly with antialiasing (PIL's triangle filter widened by the
        scale, as ``tf.image.resize(..., antialias=True)``) and clipped to [0, 1]; depth by
        nearest neighbour at pixel centres (source index ``floor((i + 0.5) * H0 / H)`` in
        float32), so object and background depths never mix; ``K`` scaled by
        ``diag(W / W0, H / H0, 1)`` (no half-pixel shift, :func:`ops.camera.scale_intrinsics`).
    """
    H, W = (int(s) for s in size)
    H0, W0 = images.shape[1:3]
    K = np.asarray(K, np.float32)
    if (H0, W0) == (H, W):
        return images.astype(np.float32), K, depth
    out = np.empty((images.shape[0], H, W, 3), np.float32)
    for v in range(images.shape[0]):
        for c in range(3):
            im = Image.fromarray(np.ascontiguousarray(images[v, :, :, c], np.float32), mode="F")
            out[v, :, :, c] = np.asarray(im.resize((W, H), Image.Resampling.BILINEAR))
    np.clip(out, 0.0, 1.0, out=out)
    scale = np.array([W / W0, H / H0, 1.0], np.float32)[:, None]
    if depth is not None:
        depth = depth[:, _nearest(H0, H)][:, :, _nearest(W0, W)]
    return out, K * scale, depth


def load_example(layout: DataLayout, synset: str, model: str, views: Sequence[int],
                 nvox: int, with_depth: bool = True,
                 size: tuple[int, int] | None = (IM_SIZE, IM_SIZE)) -> dict[str, Any]:
    """Read one example with plain numpy; no resizing.

    Every file is validated by its :mod:`data.io` reader (PNG CRCs and types, camera geometry,
    voxel values).

    Args:
        layout: the data root.
        synset: synset id.
        model: model id.
        views: V view ids.
        nvox: voxel resolution N.
        with_depth: also read the depth maps.
        size: the renders' and depth maps' required ``(H0, W0)`` in pixels (the release's
            ``IM_SIZE`` square), or None to accept any size common to all views. Given a
            size, each camera must also see the world origin inside it.

    Returns:
        The unbatched keys of the loader table as numpy arrays: images (V, H0, W0, 3) float32,
        K (V, 3, 3) float32, extrinsic (V, 3, 4) float32, voxels (N, N, N, 1) float32,
        depth (V, H0, W0, 1) float32 (if ``with_depth``), view_ids (V,) int32; synset and
        model_id as str.

    Raises:
        DataError: a file is missing or malformed (the message names it).
    """
    views = [int(v) for v in views]
    cams = [read_camera(layout.camera_path(synset, model, v), size) for v in views]
    images = []
    for v in views:
        images.append(read_render(layout.render_path(synset, model, v), size))
        size = images[-1].shape[:2]  # size None: all views (and depth maps) like the first
    out = {
        "images": np.stack(images),
        "K": np.stack([k for k, _ in cams]).astype(np.float32),
        "extrinsic": np.stack([e[:3] for _, e in cams]).astype(np.float32),
        "voxels": read_voxels(layout.voxel_path(synset, model, nvox), nvox)
        .astype(np.float32)[..., None],
        "view_ids": np.asarray(views, np.int32),
        "synset": synset,
        "model_id": model,
    }
    if with_depth:
        out["depth"] = np.stack([read_depth(layout.depth_path(synset, model, v), size)
                                 for v in views])[..., None]
    return out


class LoaderBase:
    """What every loader shares: batch sizes, the split's models, checks, stream positions.

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

    Attributes:
        render_hw: the ``(H, W)`` every render and depth map must have on disk (the release's
            ``IM_SIZE`` square); images are then resized to ``(im_h, im_w)``.

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
        self.render_hw = (IM_SIZE, IM_SIZE)
        self.layout = DataLayout(Path(args.data_root))
        self.split_file = split_path(args.split_file_for(split))
        self.models = split_models(self.split_file, split)
        if not self.models:
            raise DataError(f"split '{split}' of {self.split_file} is empty")
        self._check_on_disk()

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

    def find_bad_file(self, specs: Sequence[tuple[int, Sequence[int]]]) -> DataError | None:
        """Read examples with the numpy readers to find a file that fails to read or validate.

        Used to name the file behind an error that does not (e.g. a TensorFlow decoder's).

        Args:
            specs: ``(model index, views)`` of the examples to check.

        Returns:
            The :class:`DataError` of the first bad file, or None if every file reads.
        """
        for midx, views in specs:
            s, m = self.models[int(midx)]
            try:
                load_example(self.layout, s, m, views, self.nvox, with_depth=self.with_depth,
                             size=self.render_hw)
            except DataError as e:
                return e
        return None

    def _log_ready(self, kind: str) -> None:
        logger.info("%s loader %s: %d models from %s (%s), %d x %d views per batch, %s", kind,
                    self.split, len(self.models), self.split_file, self.layout.root,
                    self.batch_size, self.views, "training" if self.training else "fixed views")

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

    def eval_views(self) -> np.ndarray:
        """Fixed evaluation views of every model of the split: (num_models, V) int32."""
        return np.stack([eval_views(s, m, self.views, self.num_renders, self.args.eval_seed)
                         for s, m in self.models])

    def _start_step(self, start: int | LoaderState) -> int:
        """Batches to skip, from a step or a saved state (warns if the state is another's)."""
        if isinstance(start, LoaderState):
            expected = self.state(start.step)
            if start != expected:
                logger.warning("resuming loader from %s but this loader is %s: the sequence "
                               "will differ from the interrupted run", start, expected)
            start = start.step
        start = int(start)
        if start and not self.training:
            raise ValueError("start is only supported for the training stream")
        return start


class NumpyLoader(LoaderBase):
    """Batches of numpy arrays read by a pool of threads; no TensorFlow (JAX-only machines).

    Same arguments, keys, shapes and errors as :class:`data.loader.Loader` (see
    :class:`LoaderBase`); strings come as numpy ``str`` arrays. Files are read and decoded by
    ``prefetch_threads`` threads (PIL releases the GIL while decoding), ``queue_size`` examples
    ahead of the consumer, in order. A missing or corrupt file raises :class:`DataError` naming
    it when its batch is reached.
    """

    def __init__(self, args: Args, split: str = "train", **kwargs: Any) -> None:
        super().__init__(args, split, **kwargs)
        self._threads = int(args.prefetch_threads) or (os.cpu_count() or 1)
        self._ahead = max(int(args.queue_size), self.batch_size)
        self._log_ready("numpy")

    def train_views(self, index: int) -> np.ndarray:
        """Views of the ``index``-th example of the training stream: (V,) int32."""
        rng = np.random.default_rng([int(self.args.rng_seed), 1, int(index)])
        return rng.permutation(self.num_renders)[: self.views].astype(np.int32)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Model indices of training epoch ``epoch``: a permutation of (num_models,)."""
        rng = np.random.default_rng([int(self.args.rng_seed), 0, int(epoch)])
        return rng.permutation(self.num_models)

    def _specs(self, start: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(model index, views)`` of every example from batch ``start`` on."""
        if not self.training:
            yield from zip(range(self.num_models), self.eval_views(), strict=True)
            return
        g = start * self.batch_size
        epoch, offset = divmod(g, self.num_models)
        while True:
            order = self.epoch_order(epoch)
            for i in range(offset, self.num_models):
                yield int(order[i]), self.train_views(g)
                g += 1
            epoch, offset = epoch + 1, 0

    def load(self, midx: int, views: np.ndarray) -> dict[str, Any]:
        """One example (unbatched keys), resized to ``(im_h, im_w)``."""
        s, m = self.models[midx]
        ex = load_example(self.layout, s, m, views, self.nvox, with_depth=self.with_depth,
                          size=self.render_hw)
        ex["images"], ex["K"], depth = resize_views(ex["images"], ex["K"], self.im_hw,
                                                    ex.get("depth"))
        if depth is not None:
            ex["depth"] = depth
        return ex

    def iterate(self, start: int | LoaderState = 0) -> Iterator[dict[str, np.ndarray]]:
        """Batches from ``start`` (training: batches to skip, or a :class:`LoaderState`).

        Yields:
            dicts of the module table's keys with a leading batch axis (numpy arrays).
        """
        specs = self._specs(self._start_step(start))
        pending: deque[Future[dict[str, Any]]] = deque()
        with ThreadPoolExecutor(self._threads, thread_name_prefix="lsm-data") as pool:
            try:
                while True:
                    while len(pending) < self._ahead:
                        spec = next(specs, None)
                        if spec is None:
                            break
                        pending.append(pool.submit(self.load, *spec))
                    n = min(self.batch_size, len(pending))
                    if n == 0 or (n < self.batch_size and self.drop_remainder):
                        return
                    examples = [pending.popleft().result() for _ in range(n)]
                    yield {k: np.stack([e[k] for e in examples]) if k not in ("synset",
                                                                              "model_id")
                           else np.array([e[k] for e in examples]) for k in examples[0]}
            finally:
                for f in pending:
                    f.cancel()

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self.iterate(0)


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def make_loader(args: Args, split: str = "train", **kwargs: Any) -> LoaderBase:
    """The loader ``args.loader`` asks for: :class:`data.loader.Loader` (tf.data) or
    :class:`NumpyLoader`; "auto" takes tf.data when TensorFlow is installed.

    Both iterate with ``.iterate(start)``; keyword arguments are :class:`LoaderBase`'s.

    Raises:
        DataError: as the loaders' constructors.
        ValueError: ``args.loader`` is "tf" but TensorFlow is not installed.
    """
    kind = args.loader
    if kind == "auto":
        kind = "tf" if tensorflow_available() else "numpy"
    if kind == "tf":
        if not tensorflow_available():
            raise ValueError("--loader tf: TensorFlow is not installed here; use --loader numpy")
        from data.loader import Loader

        return Loader(args, split, **kwargs)
    return NumpyLoader(args, split, **kwargs)


__all__ = [
    "LoaderBase",
    "LoaderState",
    "NumpyLoader",
    "eval_views",
    "load_example",
    "make_loader",
    "resize_views",
    "split_models",
    "stable_hash",
    "tensorflow_available",
]
