"""Copy a trained run into ``pretrained/<name>``: the form in which the repository ships models.

A shipped model is a small run directory that the test scripts and the demo notebooks accept
as ``--log``::

    pretrained/<name>/
        args.json                 the args the run was trained with (data_root, split files...)
        mvnet-<N>/                weights only (model.weights.h5 + state.json; no optimizer state)
        events.out.tfevents.*     the run's TensorBoard scalars (loss, lr, step time, metrics)
        test_mvnet-<N>_test.txt   the test table recorded when it was shipped (+ .json)
        README.md                 the exact commands that trained and tested it

Usage::

    python scripts/ship_model.py --run log/full_cpu/2026-11-25_162131/train --ckpt mvnet-3500 \\
        --name vlsm_cpu --train_cmd "python voxels/train_vlsm.py --argsjs args/args_vlsm_cpu.json"

The test table is copied from the run (``test_<ckpt>_test.txt/.json``, written by
``test_vlsm.py`` / ``test_dlsm.py``); run the test script on the run first.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

log = logging.getLogger("ship_model")


def copy_scalars(run: Path, out: Path) -> int:
    """Rewrite the run's TensorBoard scalars (not images) into one event file in ``out``.

    Returns:
        The number of scalar points written.
    """
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    writer = tf.summary.create_file_writer(str(out))
    n = 0
    with writer.as_default():
        for tag in acc.Tags().get("tensors", []):
            for ev in acc.Tensors(tag):
                value = tf.make_ndarray(ev.tensor_proto)
                if value.ndim == 0:
                    tf.summary.scalar(tag, float(value), step=ev.step)
                    n += 1
        for tag in acc.Tags().get("scalars", []):
            for ev in acc.Scalars(tag):
                tf.summary.scalar(tag, ev.value, step=ev.step)
                n += 1
    writer.close()
    return n


def record_tiny_table(folder: Path, ckpt: str, tiny_root: Path) -> None:
    """Test the shipped checkpoint on the `tiny` dataset and keep the table beside it.

    CI rebuilds `tiny` (deterministic) and checks that the shipped model still gives this
    table (tests/test_pretrained.py); the full table needs `datasets/full`.
    """
    from data import build
    from training.cli import test_main

    if not (tiny_root / "splits.json").is_file():
        assert build.main(["synth", "--size", "tiny", "--root", str(tiny_root), "--quiet"]) == 0
    kind = "vlsm" if json.loads((folder / "args.json").read_text())["loss"] == "ce" else "dlsm"
    rc = test_main(kind, ["--log", str(folder), "--ckpt", ckpt, "--data_root", str(tiny_root),
                          "--test_split_file", str(tiny_root / "splits.json"),
                          "--result_file", str(folder / f"test_{ckpt}_tiny")])
    if rc != 0:
        raise RuntimeError(f"testing {folder}/{ckpt} on {tiny_root} failed")
    txt = folder / f"test_{ckpt}_tiny.txt"
    shipped = f"pretrained/{folder.name.removeprefix('.').removesuffix('.tmp')}"
    txt.write_text(txt.read_text().replace(str(folder), shipped)
                   .replace(str(tiny_root / "splits.json"), "<tiny>/splits.json"))
    result = json.loads((folder / f"test_{ckpt}_tiny.json").read_text())
    result["data_root"] = result["split_file"] = "<tiny>"
    result["checkpoint"] = ckpt
    (folder / f"test_{ckpt}_tiny.json").write_text(json.dumps(result, indent=1) + "\n")


def ship(run: Path, ckpt: str, name: str, train_cmd: str, note: str = "",
         tiny_root: Path = REPO / "datasets" / "tiny") -> Path:
    """Copy ``run/ckpt`` (weights only), args, scalars and test table to ``pretrained/name``."""
    src = run / ckpt
    if not (src / "model.weights.h5").is_file():
        raise FileNotFoundError(f"{src} has no model.weights.h5")
    test_txt = run / f"test_{ckpt}_test.txt"
    if not test_txt.is_file():
        raise FileNotFoundError(f"{test_txt} is missing: run the test script on {run} first")
    out = REPO / "pretrained" / name
    tmp = out.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / ckpt).mkdir(parents=True)
    shutil.copy2(src / "model.weights.h5", tmp / ckpt)
    state = json.loads((src / "state.json").read_text())
    state["optimizer_variables"] = []
    (tmp / ckpt / "state.json").write_text(json.dumps(state, indent=1) + "\n")
    args = json.loads((run / "args.json").read_text())
    args["logdir"] = "./log"
    (tmp / "args.json").write_text(json.dumps(args, indent=1) + "\n")
    n = copy_scalars(run, tmp)
    record_tiny_table(tmp, ckpt, tiny_root)
    result = json.loads((run / f"test_{ckpt}_test.json").read_text())
    for suffix in (".txt", ".json"):
        shutil.copy2(run / f"test_{ckpt}_test{suffix}", tmp / f"test_{ckpt}_test{suffix}")
    kind = "vlsm" if result.get("task", "vlsm") == "vlsm" else "dlsm"
    folder = "voxels" if kind == "vlsm" else "depth"
    split_file = result.get("split_file", args.get("split_file"))
    (tmp / "README.md").write_text(
        f"# pretrained/{name}\n\n"
        f"{kind.upper()} checkpoint `{ckpt}` ({state['iteration']} iterations), weights only.\n\n"
        f"Trained with\n\n    {train_cmd}\n\n"
        f"Tested with\n\n    python {folder}/test_{kind}.py --log pretrained/{name} "
        f"--ckpt {ckpt} --test_split_file {split_file}\n\n"
        f"which must reproduce `test_{ckpt}_test.txt` (the full table needs `datasets/full`, "
        f"built by `./prepare_data.sh --size full`). `test_{ckpt}_tiny.txt` is the same test "
        f"on the `tiny` dataset; CI rebuilds `tiny` and checks that table "
        f"(tests/test_pretrained.py).\n"
        f"TensorBoard scalars of the training run: `tensorboard --logdir pretrained/{name}` "
        f"({n} points).\n" + (f"\n{note}\n" if note else ""))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("shipped %s/%s -> %s (%d scalar points)", run, ckpt, out, n)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True, type=Path, help="the run directory (…/train)")
    p.add_argument("--ckpt", required=True, help="checkpoint name, e.g. mvnet-3500")
    p.add_argument("--name", required=True, help="folder name under pretrained/")
    p.add_argument("--train_cmd", required=True, help="the command that trained the run")
    p.add_argument("--note", default="", help="extra text for the model's README")
    p.add_argument("--tiny_root", type=Path, default=REPO / "datasets" / "tiny",
                   help="the tiny dataset for the CI table (built if missing)")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ship(a.run, a.ckpt, a.name, a.train_cmd, a.note, a.tiny_root)


if __name__ == "__main__":
    main()
