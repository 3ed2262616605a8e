"""TensorBoard summaries with and without TensorFlow read back the same."""

from __future__ import annotations

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.summaries import SummaryWriter


@pytest.mark.parametrize("use_tf", [True, False])
def test_scalars_and_images_round_trip(tmp_path, use_tf):
    w = SummaryWriter(tmp_path, use_tf=use_tf)
    w.scalars(3, {"loss": 0.5, "val/iou": 61.25})
    w.scalars(7, {"loss": 0.25})
    rng = np.random.default_rng(0)
    pics = rng.random((2, 5, 6, 3)).astype(np.float32)
    w.images(7, {"depth": pics})
    w.close()
    acc = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    if use_tf:  # tf.summary writes tensors; TensorBoard's scalar plugin reads both forms
        from tensorboard.util.tensor_util import make_ndarray

        loss = [(e.step, float(make_ndarray(e.tensor_proto))) for e in acc.Tensors("loss")]
    else:
        loss = [(e.step, e.value) for e in acc.Scalars("loss")]
    assert loss == [(3, 0.5), (7, 0.25)]
    if not use_tf:
        assert acc.Scalars("val/iou")[0].value == 61.25
        ims = sorted(t for t in tags["images"] if t.startswith("depth"))
        assert len(ims) == 2
        from io import BytesIO

        from PIL import Image
        got = np.asarray(Image.open(BytesIO(acc.Images(ims[0])[0].encoded_image_string)))
        assert got.shape == (5, 6, 3)
        np.testing.assert_allclose(got / 255.0, pics[0], atol=0.5 / 255 + 1e-6)
