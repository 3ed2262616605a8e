"""What every loader shares: its configuration, the stream position, the split and the checks.

:class:`LoaderConfig` holds the few arguments the loaders read (built from a run's arguments by
:meth:`LoaderConfig.from_args`), :class:`LoaderState` the position of a training stream saved
with a checkpoint, and :class:`LoaderBase` the front end of both loaders: batch sizes, the
split's models, the on-disk checks, the fixed evaluation views and naming a bad file.

Numpy and the data layer only: the numpy loader (:mod:`data.loaders.numpy_loader`) and the
tf.data loader (:mod:`data.loaders.tf_loader`) build on it; it imports neither.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from config import KEYS, keys_of, table_dataclass
from data.examples import eval_views, load_example, split_models
from data.io import DataError
from data.layout import IM_SIZE, DataLayout, split_path

logger = logging.getLogger(__name__)

#: The loader kinds :func:`data.loaders.make_loader` knows: the choices of the key ``loader``.
LOADER_KINDS: tuple[str, ...] = KEYS["loader"].choices or ()


@table_dataclass(keys_of("loader"), rename={"loader": "kind"}, with_defaults=False,
                 kw_only=True)
class LoaderConfig:
    """The arguments a loader reads; :meth:`from_args` takes them from a run's arguments.

    Its fields are the table's keys of part "loader" (:func:`config.keys_of` ``("loader")``,
    each documented in :data:`config.KEYS`: the data root and split files, the image and grid
    sizes, the batch sizes of each split, the seeds, the reader threads and queue), every one
    required, with the key ``loader`` held as ``kind``: "tf" (tf.data), "numpy" (threads, no
    TensorFlow) or "auto" (tf when TensorFlow is installed), read by
    :func:`data.loaders.make_loader` only. Then its own:

    Attributes:
        num_shards: processes the *training* stream is split between (data-parallel
            training over several processes, :mod:`training.distribute`): each global batch
            of ``batch_size`` models is cut into ``num_shards`` equal, consecutive parts.
        shard_index: the part this process reads (0 .. ``num_shards`` - 1).
    """

    num_shards: int = 1
    shard_index: int = 0

    def __post_init__(self) -> None:
        if self.kind not in LOADER_KINDS:
            raise ValueError(f"loader kind must be one of {list(LOADER_KINDS)}, "
                             f"got {self.kind!r}")
        if not 0 <= self.shard_index < self.num_shards:
            raise ValueError(f"shard_index must be in [0, num_shards = {self.num_shards}), "
                             f"got {self.shard_index}")
        if self.batch_size % self.num_shards:
            raise ValueError(f"batch_size {self.batch_size} (the global batch) does not split "
                             f"evenly between {self.num_shards} processes")

    @classmethod
    def from_args(cls, args: Any) -> LoaderConfig:
        """The loader's keys of a run's arguments (:class:`training.config.Args`, or anything
        with the same attributes): every table field from the key it holds; one process reads
        the whole stream (``num_shards`` 1)."""
        return cls(**{f.name: getattr(args, f.metadata["key"]) for f in dataclasses.fields(cls)
                      if "key" in f.metadata})

    def replace(self, **changes: Any) -> LoaderConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def split_file_for(self, split: str) -> str:
        """The split file used for ``split`` ("train", "val" or "test")."""
        if split == "val" and self.val_split_file is not None:
            return self.val_split_file
        if split == "test" and self.test_split_file is not None:
            return self.test_split_file
        return self.split_file

    def batch_for(self, split: str, training: bool) -> tuple[int, int]:
        """``(models per batch, views per model)`` of a stream: the training sizes when
        ``training``, else the "val" sizes for "val" and the test sizes for any other split."""
        if training:
            return self.batch_size, self.im_batch
        if split == "val":
            return self.val_batch_size, self.val_im_batch
        return self.test_batch_size, self.test_im_batch


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


class LoaderBase:
    """What every loader shares: batch sizes, the split's models, checks, stream positions.

    Args:
        config: the :class:`LoaderConfig` (every field but ``kind``): the split file of
            ``split`` (:meth:`LoaderConfig.split_file_for`) and the batch sizes of
            :meth:`LoaderConfig.batch_for`: ``batch_size`` / ``im_batch`` for training,
            ``val_batch_size`` / ``val_im_batch`` for "val", ``test_batch_size`` /
            ``test_im_batch`` otherwise.
        split: "train", "val" or "test".
        training: endless shuffled stream with random views (default: ``split == "train"``)
            or one deterministic pass with fixed views.
        batch_size: models per batch (overrides the config).
        views: views per model ``V`` (overrides the config).
        drop_remainder: drop a last smaller batch (default: ``training``).
        with_depth: also read depth maps (skip them for V-LSM to save ~40% of decoding).

    Attributes:
        batch_size: models per batch of the whole stream (the global batch in training).
        local_batch_size: models per batch this loader yields: ``batch_size /
            config.num_shards`` in training (this process's consecutive part of every global
            batch: examples ``shard_index * b`` .. ``(shard_index + 1) * b - 1`` of it), else
            ``batch_size``.
        render_hw: the ``(H, W)`` every render and depth map must have on disk (the release's
            ``IM_SIZE`` square); images are then resized to ``(im_h, im_w)``.

    Raises:
        TypeError: ``config`` is not a :class:`LoaderConfig` (e.g. a run's ``Args``: convert it
            with :meth:`LoaderConfig.from_args`).
        DataError: the split file is missing or lacks ``split``, the split is empty, or it names
            models (or voxel files) missing under the data root.
    """

    def __init__(self, config: LoaderConfig, split: str = "train", *,
                 training: bool | None = None, batch_size: int | None = None,
                 views: int | None = None, drop_remainder: bool | None = None,
                 with_depth: bool = True) -> None:
        if not isinstance(config, LoaderConfig):
            raise TypeError(f"a loader takes a LoaderConfig, got {type(config).__name__} "
                            "(build one with LoaderConfig.from_args(args))")
        self.config = config
        self.split = split
        self.training = split == "train" if training is None else bool(training)
        default_bs, default_v = config.batch_for(split, self.training)
        self.batch_size = int(batch_size or default_bs)
        shards = int(config.num_shards) if self.training else 1
        if self.batch_size % shards:
            raise ValueError(f"batch_size {self.batch_size} does not split evenly between "
                             f"{shards} processes")
        self.local_batch_size = self.batch_size // shards
        self.views = int(views or default_v)
        self.num_renders = int(config.num_renders)
        if not 1 <= self.views <= self.num_renders:
            raise ValueError(f"views must be in [1, {self.num_renders}], got {self.views}")
        self.drop_remainder = self.training if drop_remainder is None else bool(drop_remainder)
        self.with_depth = with_depth
        self.nvox = int(config.nvox)
        self.im_hw = (int(config.im_h), int(config.im_w))
        self.render_hw = (IM_SIZE, IM_SIZE)
        self.layout = DataLayout(Path(config.data_root))
        self.split_file = split_path(config.split_file_for(split))
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
        return LoaderState(step=int(step), rng_seed=int(self.config.rng_seed),
                           batch_size=self.batch_size, im_batch=self.views,
                           num_models=self.num_models)

    def in_shard(self, position: int) -> bool:
        """Whether the ``position``-th example of a global training batch (0 .. ``batch_size``
        - 1) is this process's to read."""
        if not self.training:
            return True
        return position // self.local_batch_size == int(self.config.shard_index)

    def eval_views(self) -> np.ndarray:
        """Fixed evaluation views of every model of the split: (num_models, V) int32."""
        return np.stack([eval_views(s, m, self.views, self.num_renders, self.config.eval_seed)
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


__all__ = ["LOADER_KINDS", "LoaderBase", "LoaderConfig", "LoaderState"]
