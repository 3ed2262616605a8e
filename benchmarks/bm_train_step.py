"""Time and peak memory of one training step of V-LSM / D-LSM at several configurations.

Each configuration runs in its own subprocess (so peak memory is its own): the model is built
from an args JSON plus overrides, compiled exactly as ``training.loop`` compiles it, fed random
inputs with consistent cameras, warmed up, then timed over a few steps. Prints a table; never
asserts. Example::

    python benchmarks/bm_train_step.py                       # quick configs + release V-LSM
    python benchmarks/bm_train_step.py --configs release_vlsm --steps 3
    KERAS_BACKEND=jax python benchmarks/bm_train_step.py --configs quick_vlsm

Peak memory is the process's maximum resident set size (``ru_maxrss``), which includes the
Python interpreter and the framework (about 0.6 GB for TensorFlow alone).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIGS = {
    "release_vlsm": ("vlsm", "args/args_vlsm.json", {}),
    "release_vlsm_2x4": ("vlsm", "args/args_vlsm.json", {"batch_size": 2}),
    "quick_vlsm": ("vlsm", "args/args_vlsm_quick.json", {}),
    "release_dlsm": ("dlsm", "args/args_dlsm.json", {}),
    "quick_dlsm": ("dlsm", "args/args_dlsm_quick.json", {}),
    "cpu_dlsm": ("dlsm", "args/args_dlsm_cpu.json", {}),
    "cpu_vlsm": ("vlsm", "args/args_vlsm_cpu.json", {}),
    "gpu_dlsm": ("dlsm", "args/args_dlsm_gpu.json", {}),
}


def _one(name: str, steps: int, overrides: dict) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from data.cameras import intrinsics, look_at
    from training.config import load_args
    from training.loop import compile_model, make_optimizer
    from training.tasks import TASKS, model_inputs

    kind, argsjs, extra = CONFIGS[name]
    args = load_args(REPO / argsjs, {**extra, **overrides})
    task = TASKS[kind]
    keras.utils.set_random_seed(0)
    model = task.build_model(args)
    opt = make_optimizer(args)
    compile_model(model, task, args, opt)
    b, v, h, w, n = args.batch_size, args.im_batch, args.im_h, args.im_w, args.nvox
    rng = np.random.default_rng(0)
    K = intrinsics(224).astype(np.float32)
    K[:2] *= np.array([[w / 224], [h / 224]], np.float32)
    E = np.stack([look_at(a, 20.0)[:3] for a in rng.uniform(0, 360, b * v)]).astype(np.float32)
    batch = {
        "images": rng.random((b, v, h, w, 3), dtype=np.float32),
        "K": np.tile(K, (b, v, 1, 1)),
        "extrinsic": E.reshape(b, v, 3, 4),
        "voxels": (rng.random((b, n, n, n, 1)) > 0.9).astype(np.float32),
        "depth": rng.uniform(1.5, 2.5, (b, v, h, w, 1)).astype(np.float32),
    }
    x, y = model_inputs(batch), task.keras_target(batch)
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - t0
    model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    params = int(sum(np.prod(p.shape) for p in model.trainable_weights))
    return {
        "config": name,
        "backend": keras.backend.backend(),
        "batch": f"{b}x{v}",
        "image": f"{h}x{w}",
        "nvox": n,
        "params": params,
        "first_step_s": round(first, 2),
        "step_s": round(float(np.median(times)), 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--configs",
        nargs="+",
        default=["quick_vlsm", "release_vlsm_2x4", "release_vlsm"],
        choices=sorted(CONFIGS),
    )
    p.add_argument("--steps", type=int, default=3)
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides (JSON values), e.g. jit_compile=false im_channels=16",
    )
    p.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    if a._child:
        print("RESULT " + json.dumps(_one(a._child, a.steps, overrides)))
        return
    from tabulate import tabulate

    rows = []
    for name in a.configs:
        cmd = [sys.executable, __file__, "--_child", name, "--steps", str(a.steps), "--set", *a.set]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{name} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(line[7:]))
        print(f"done {name}", file=sys.stderr)
    print(tabulate(rows, headers="keys"))


if __name__ == "__main__":
    main()
