"""TensorBoard event files, with or without TensorFlow.

:class:`SummaryWriter` writes scalars and images into a run folder. With TensorFlow installed it
uses ``tf.summary`` (what the loop always did); without it (JAX-only GPU machines) it writes the
same event files with TensorBoard's own writer and protocol buffers (the ``tensorboard``
package, a requirement anyway), so curves from both kinds of machines open side by side.
"""

from __future__ import annotations

import importlib.util
import io
import os
import time
from typing import Any

import numpy as np
from PIL import Image


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def _png(image: np.ndarray) -> bytes:
    """(H, W, C) float in [0, 1] or uint8, C in {1, 3, 4} -> PNG bytes."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.round(np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
    if a.shape[-1] == 1:
        a = a[..., 0]
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


class SummaryWriter:
    """Scalars and images for TensorBoard in ``logdir``.

    Args:
        logdir: folder of the event file (created if missing).
        use_tf: force (True) or avoid (False) TensorFlow; None: use it when installed.
    """

    def __init__(self, logdir: str | os.PathLike, use_tf: bool | None = None) -> None:
        self.logdir = str(logdir)
        self.use_tf = tensorflow_available() if use_tf is None else use_tf
        if self.use_tf:
            import tensorflow as tf

            self._tf = tf
            self._writer: Any = tf.summary.create_file_writer(self.logdir)
        else:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self._event, self._summary = event_pb2, summary_pb2
            self._writer = EventFileWriter(self.logdir)

    def _add(self, step: int, values: list[Any]) -> None:
        summary = self._summary.Summary(value=values)
        self._writer.add_event(self._event.Event(wall_time=time.time(), step=int(step),
                                                 summary=summary))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Write ``{tag: value}`` at ``step``."""
        if self.use_tf:
            with self._writer.as_default(step=int(step)):
                for k, v in values.items():
                    self._tf.summary.scalar(k, float(v))
            return
        self._add(step, [self._summary.Summary.Value(tag=k, simple_value=float(v))
                         for k, v in values.items()])

    def images(self, step: int, values: dict[str, np.ndarray]) -> None:
        """Write ``{tag: (N, H, W, C) images}`` (float in [0, 1] or uint8) at ``step``."""
        if self.use_tf:
            with self._writer.as_default(step=int(step)):
                for k, v in values.items():
                    self._tf.summary.image(k, v, max_outputs=v.shape[0])
            return
        out = []
        for k, batch in values.items():
            for i, im in enumerate(np.asarray(batch)):
                img = self._summary.Summary.Image(
                    height=im.shape[0], width=im.shape[1], colorspace=im.shape[2],
                    encoded_image_string=_png(im))
                tag = k if len(batch) == 1 else f"{k}/image/{i}"
                out.append(self._summary.Summary.Value(tag=tag, image=img))
        self._add(step, out)

    def flush(self) -> None:
        """Write pending events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()


__all__ = ["SummaryWriter"]
