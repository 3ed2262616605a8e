"""Convert a model of the original release (TF1 checkpoint + args.json) into a run folder.

    python scripts/convert_release.py --log models_lsm_v1/vlsm-release/train \
        --ckpt mvnet-100000 --out log/vlsm-release

writes ``log/vlsm-release/args.json`` (our schema) and ``log/vlsm-release/mvnet-100000/``
(weights, Adam moments, iteration), which every script and notebook accepts as ``--log`` on
either Keras backend (reading the TF1 file needs TensorFlow; the converted folder does not).
Every release argument is carried over or reported. The scripts also take the release folder
itself (``--log models_lsm_v1/vlsm-release/train``) and convert it on the fly; see
``training/release.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--log", required=True, help="the release model folder (.../train)")
    p.add_argument("--ckpt", default=None,
                   help="checkpoint, e.g. mvnet-100000 (default: the one the folder's "
                        "'checkpoint' file names, else the newest)")
    p.add_argument("--out", required=True, help="the run folder to write (must not exist)")
    p.add_argument("--kind", choices=("auto", "vlsm", "dlsm"), default="auto",
                   help="insist on a model kind (default: detect it from the variables)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from training.release import KIND_NAMES, ReleaseError, convert_release

    try:
        conv = convert_release(a.log, a.ckpt, a.out, None if a.kind == "auto" else a.kind)
    except ReleaseError as e:
        logging.getLogger("convert_release").error("%s", e)
        return 1
    script = "voxels/test_vlsm.py" if conv.kind == "vlsm" else "depth/test_dlsm.py"
    train = script.replace("test_", "train_")
    print(f"converted {KIND_NAMES[conv.kind]} {conv.source} (iteration {conv.iteration}, "
          f"{'with' if conv.with_optimizer else 'without'} Adam state) -> {conv.checkpoint}")
    print(f"test:     python {script} --log {conv.run_dir} --ckpt {conv.checkpoint.name} "
          f"--test_split_file data/splits.json")
    print(f"continue: python {train} --log {conv.run_dir} --niters {conv.iteration + 1000}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
