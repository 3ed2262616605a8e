"""Benchmark: views per second of the training loader (:mod:`data.loaders.tf_loader`).

Reads ``--data_root`` (default ``datasets/small`` if it exists, else a fake root of
``--models`` box models written to a temporary folder like the tests' ``fake_data_root``)
and prints a table of views/s for several ``prefetch_threads`` settings, after a warm-up.

    python -m benchmarks.bm_loader                       # 224 px, batch 8 x 4 views
    python -m benchmarks.bm_loader --threads 1 2 4 0     # 0 = tf.data AUTOTUNE
    python -m benchmarks.bm_loader --data_root datasets/full --split_file data/splits.json

Times only the input pipeline (no model). Never asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.common import header, record, show  # noqa: E402
from data.layout import split_path  # noqa: E402
from data.loaders import LoaderConfig  # noqa: E402
from data.loaders.tf_loader import Loader  # noqa: E402
from training.config import load_args  # noqa: E402

logger = logging.getLogger("bm_loader")


def measure(loader: Loader, warmup: int, steps: int) -> tuple[float, float]:
    """Iterate ``warmup`` then ``steps`` batches.

    Returns:
        (views per second, milliseconds per batch) over the timed steps.
    """
    it = iter(loader.dataset())
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(steps):
        batch = next(it)
        batch["images"].numpy()  # make sure the batch is materialised
    dt = time.perf_counter() - t0
    views = steps * loader.batch_size * loader.views
    return views / dt, 1e3 * dt / steps


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, build or find the data root, print the table."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data_root", default=None)
    p.add_argument("--split_file", default=None)
    p.add_argument("--models", type=int, default=50, help="models of the fake root")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--im_batch", type=int, default=4)
    p.add_argument("--im_size", type=int, default=224)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 6, 0])
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--no_depth", action="store_true", help="skip depth maps (V-LSM)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    tmp = None
    root, split_file = a.data_root, a.split_file
    if root is None and Path("datasets/small").is_dir():
        root = "datasets/small"
        split_file = split_file or str(split_path("splits_small"))
    if root is None:
        from tests.conftest import write_fake_root

        tmp = tempfile.TemporaryDirectory(prefix="bm_loader_")
        per_synset = max(3, a.models // 2)
        logger.info("writing a fake root of %d models to %s", 2 * per_synset, tmp.name)
        fake = write_fake_root(Path(tmp.name) / "data", models_per_synset=per_synset)
        root, split_file = str(fake.root), str(fake.split_file)
    split_file = split_file or "data/splits.json"

    rows = []
    for threads in a.threads:
        args = load_args(
            None,
            {
                "data_root": root,
                "split_file": split_file,
                "batch_size": a.batch_size,
                "im_batch": a.im_batch,
                "im_h": a.im_size,
                "im_w": a.im_size,
                "prefetch_threads": threads,
            },
        )
        loader = Loader(LoaderConfig.from_args(args), "train", with_depth=not a.no_depth)
        vps, ms = measure(loader, a.warmup, a.steps)
        rows.append({"prefetch_threads": threads if threads else "AUTOTUNE",
                     "views/s": round(vps), "ms/batch": round(ms, 1)})
    for r in rows:
        record("bm_loader", f"prefetch_threads={r['prefetch_threads']}", r["ms/batch"] / 1e3,
               backend="tensorflow", precision="float32",
               what="training loader batch" + ("" if a.no_depth else " with depth"),
               batch=f"{a.batch_size}x{a.im_batch}, {a.im_size}x{a.im_size} px",
               stats={"views_per_s": r["views/s"], "n": a.steps},
               notes="fake root" if tmp else f"data root {root}")
    show(header("bm_loader", [f"data root: {root} ({loader.num_models} train models), "
                              f"{a.im_size} px, batch {a.batch_size} x {a.im_batch} views, depth "
                              f"{'off' if a.no_depth else 'on'}, {a.warmup} warm-up + "
                              f"{a.steps} timed batches"]), rows)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
