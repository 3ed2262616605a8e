"""Step time and throughput of data-parallel training (training/distribute.py) on JAX.

Each setting runs in its own subprocess(es), since JAX fixes its devices and processes when it
starts; the model is built after :func:`training.distribute.setup`, compiled as the loop
compiles it, fed the random batches of ``benchmarks/bm_train_step.py`` (each process its part
of the global batch), warmed up, then timed. Settings:

=================  =========================================================================
``1dev``           one device, no distribution (the plain single-device path)
``1dev_dp``        one device through ``DataParallel`` (the distribution code's overhead)
``2dev``           two devices of one process (on a CPU: ``XLA_FLAGS=--xla_force_host_
                   platform_device_count=2``, the same cores split in two)
``2proc``          two processes of one device each on 127.0.0.1 (gloo collectives)
=================  =========================================================================

Prints a table (seconds per step, median; global models per second) under a header naming
the machine; never asserts. Example::

    python -m benchmarks.bm_distribute --configs quick_vlsm --steps 5

On a GPU machine ``2dev`` uses two GPUs (``CUDA_VISIBLE_DEVICES`` picks them) and ``1dev`` /
``1dev_dp`` one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

from benchmarks.common import (
    CONFIGS,
    REPO,
    compiled_model,
    header,
    random_batch,
    record,
    show,
    time_steps,
)

SETTINGS = ("1dev", "1dev_dp", "2dev", "2proc")


def _child(name: str, setting: str, steps: int, warmup: int, coordinator: str | None,
           process_id: int) -> dict:
    """Time ``steps`` training steps of configuration ``name`` in this process."""
    import numpy as np

    from training import distribute
    from training.config import load_args
    from training.precision import resolve_precision
    from training.tasks import model_inputs

    kind, argsjs, extra = CONFIGS[name]
    over: dict = {**extra, "distribution": "none" if setting == "1dev" else "data_parallel"}
    if setting == "2proc":
        over.update(coordinator=coordinator, num_processes=2, process_id=process_id)
    args = load_args(REPO / argsjs, over)
    cluster = distribute.setup(args)  # before the model is built
    task, model = compiled_model(kind, args)
    batch = random_batch(args)
    b = args.batch_size // cluster.num_processes
    batch = {k: v[process_id * b:(process_id + 1) * b] for k, v in batch.items()}
    x, y = model_inputs(batch), task.keras_target(batch)
    first, times = time_steps(model, x, y, steps, warmup)
    step = float(np.median(times))
    return {"config": name, "setting": setting, "devices": cluster.num_devices,
            "processes": cluster.num_processes, "batch": f"{args.batch_size}x{args.im_batch}",
            "first_step_s": round(first, 2), "step_s": round(step, 3),
            "models_per_s": round(args.batch_size / step, 2),
            "precision": resolve_precision(args.precision),
            "device_kind": str(__import__("jax").devices()[0].device_kind)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(name: str, setting: str, a: argparse.Namespace) -> dict | None:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("XLA_FLAGS", None)
    if setting == "2dev":
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    base = [sys.executable, "-m", "benchmarks.bm_distribute", "--child", name, setting,
            "--steps", str(a.steps), "--warmup", str(a.warmup)]
    if setting == "2proc":
        coord = f"127.0.0.1:{_free_port()}"
        cmds = [base + ["--coordinator", coord, "--process_id", str(i)] for i in (0, 1)]
    else:
        cmds = [base]
    procs = [subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for c in cmds]
    outs = [p.communicate() for p in procs]
    out, err = outs[0]
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"{name} {setting} failed:\n{err[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["quick_vlsm"], choices=sorted(CONFIGS))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    p.add_argument("--coordinator", help=argparse.SUPPRESS)
    p.add_argument("--process_id", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        res = _child(*a.child, a.steps, a.warmup, a.coordinator, a.process_id)
        print("RESULT " + json.dumps(res), flush=True)
        return
    rows = [r for name in a.configs for setting in a.settings
            if (r := _run(name, setting, a)) is not None]
    show(header("bm_distribute", [f"JAX; median of {a.steps} steps after the first + "
                                  f"{a.warmup} warm-up; random inputs; models/s = global "
                                  "batch / step time"]), rows)
    for r in rows:
        record("bm_distribute", r["config"], r["step_s"], backend="jax",
               precision=r["precision"], what=f"train step, {r['setting']}",
               batch=r["batch"], stats={"n": a.steps, "first_step_s": r["first_step_s"],
                                        "models_per_s": r["models_per_s"]})


if __name__ == "__main__":
    main()
