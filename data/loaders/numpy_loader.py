"""The numpy loader: the batches of the tf.data loader read by a pool of threads, no TensorFlow.

The GPU machines we train on have JAX but not TensorFlow: :class:`NumpyLoader` yields the same
batch dictionaries as :class:`data.loaders.tf_loader.Loader` (see that module's table of keys)
and imports only numpy, PIL and the data layer.

What the two loaders share exactly: evaluation batches (same models, order and views; images
agree to float rounding of the antialiased resize, depth maps and ``K`` exactly). What differs:
the *training* stream of :class:`NumpyLoader` draws its epoch orders and views with numpy
(``default_rng([rng_seed, 0, epoch])`` and ``default_rng([rng_seed, 1, example])``) instead of
TensorFlow's stateless ops, so it is a different sequence, but just as stateless: a pure
function of the position, resumable from a :class:`LoaderState` with nothing read to skip.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from data.examples import load_example, resize_views
from data.loaders.base import LoaderBase, LoaderConfig, LoaderState


class NumpyLoader(LoaderBase):
    """Batches of numpy arrays read by a pool of threads; no TensorFlow (JAX-only machines).

    Same arguments, keys, shapes and errors as :class:`data.loaders.tf_loader.Loader` (see
    :class:`LoaderBase`); strings come as numpy ``str`` arrays. Files are read and decoded by
    ``prefetch_threads`` threads (PIL releases the GIL while decoding), ``queue_size`` examples
    ahead of the consumer, in order. A missing or corrupt file raises :class:`DataError` naming
    it when its batch is reached.
    """

    def __init__(self, config: LoaderConfig, split: str = "train", **kwargs: Any) -> None:
        super().__init__(config, split, **kwargs)
        self._threads = int(config.prefetch_threads) or (os.cpu_count() or 1)
        self._ahead = max(int(config.queue_size), self.local_batch_size)
        self._log_ready("numpy")

    def train_views(self, index: int) -> np.ndarray:
        """Views of the ``index``-th example of the training stream: (V,) int32."""
        rng = np.random.default_rng([int(self.config.rng_seed), 1, int(index)])
        return rng.permutation(self.num_renders)[: self.views].astype(np.int32)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Model indices of training epoch ``epoch``: a permutation of (num_models,)."""
        rng = np.random.default_rng([int(self.config.rng_seed), 0, int(epoch)])
        return rng.permutation(self.num_models)

    def _specs(self, start: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(model index, views)`` of every example from batch ``start`` on (of this
        process's shard of every global batch, see :meth:`LoaderBase.in_shard`)."""
        if not self.training:
            yield from zip(range(self.num_models), self.eval_views(), strict=True)
            return
        g = start * self.batch_size
        epoch, offset = divmod(g, self.num_models)
        while True:
            order = self.epoch_order(epoch)
            for i in range(offset, self.num_models):
                if self.in_shard(g % self.batch_size):
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
                    n = min(self.local_batch_size, len(pending))
                    if n == 0 or (n < self.local_batch_size and self.drop_remainder):
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


__all__ = ["NumpyLoader"]
