"""The training stream split between processes (data-parallel training): every process reads
its consecutive part of each global batch, and the parts put back together are the batches of
one process, at any start step, for both loaders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from data.loaders import NumpyLoader
from data.loaders.tf_loader import Loader
from tests.conftest import FakeRoot
from tests.data.test_loader import make_config

KEYS = ("view_ids", "voxels", "K", "extrinsic", "depth", "images")


def _take(loader, start: int, n: int) -> list[dict[str, np.ndarray]]:
    out = []
    for batch in itertools.islice(loader.iterate(start), n):
        b = {k: np.asarray(v) for k, v in batch.items()}
        b["model_id"] = b["model_id"].astype(str)
        out.append(b)
    return out


@pytest.mark.parametrize("cls", [NumpyLoader, Loader], ids=["numpy", "tf"])
@pytest.mark.parametrize("shards", [2, 4])
@pytest.mark.parametrize("start", [0, 3])
def test_shards_put_together_are_the_single_process_stream(fake_data_root: FakeRoot, cls,
                                                           shards, start):
    # 6 training models, global batches of 4: batches straddle epochs (1.5 epochs in 2)
    config = make_config(fake_data_root, batch_size=4, im_batch=2, rng_seed=3)
    whole = _take(cls(config, "train"), start, 3)
    parts = [_take(cls(config.replace(num_shards=shards, shard_index=i), "train"), start, 3)
             for i in range(shards)]
    for step, ref in enumerate(whole):
        got = [p[step] for p in parts]
        assert all(len(g["model_id"]) == 4 // shards for g in got)
        np.testing.assert_array_equal(np.concatenate([g["model_id"] for g in got]),
                                      ref["model_id"])
        for k in KEYS:
            np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), ref[k],
                                          err_msg=f"{k} of batch {step}")


def test_evaluation_is_not_sharded_and_bad_shards_are_refused(fake_data_root: FakeRoot):
    config = make_config(fake_data_root, batch_size=4)
    sharded = config.replace(num_shards=2, shard_index=1)
    ev = NumpyLoader(sharded, "train", training=False, batch_size=4)
    assert ev.local_batch_size == 4
    assert [len(b["model_id"]) for b in ev.iterate()] == [4, 2]
    with pytest.raises(ValueError, match="batch_size 4 .* between 3 processes"):
        config.replace(num_shards=3, shard_index=0)
    with pytest.raises(ValueError, match="shard_index must be in"):
        config.replace(num_shards=2, shard_index=2)
