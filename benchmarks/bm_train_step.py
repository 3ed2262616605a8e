"""Time and peak memory of one training step of V-LSM / D-LSM at several configurations.

Each (configuration, backend, precision) runs in its own subprocess, so its peak memory is its
own: the model is built from an args file plus overrides, compiled as ``training.loop``
compiles it, fed random inputs with consistent cameras (:func:`benchmarks.common.random_batch`),
stepped once (tracing), warmed up, then timed. Prints a table; never asserts. Examples::

    python -m benchmarks.bm_train_step                        # quick V-LSM + release 2x4
    python -m benchmarks.bm_train_step --configs release_vlsm release_dlsm \\
        --precisions float32 bfloat16 --steps 3
    python -m benchmarks.bm_train_step --configs quick_vlsm --backends tensorflow jax

Peak memory is the process's maximum resident set size, which includes the interpreter and the
framework (about 0.6 GB for TensorFlow alone). Two revisions head to head:
``benchmarks/maintainer/bm_ab.py``; beside the original release:
``benchmarks/maintainer/bm_original.py``.
"""

from __future__ import annotations

import argparse
import json
import os

from benchmarks.common import (  # re-exported: bm_ab.py and older revisions import them here
    CONFIGS,
    _cpu,
    _git,
    _version,
    backend_env,
    commit_label,
    compiled_model,
    config_args,
    header,
    parse_sets,
    peak_rss_gb,
    random_batch,
    record,
    run_child,
    show,
    time_steps,
)

KIND_NAME = {"vlsm": "V-LSM train step", "dlsm": "D-LSM train step"}

__all__ = ["CONFIGS", "_cpu", "_git", "_version", "commit_label", "compiled_model", "one",
           "random_batch", "time_steps"]


def one(name: str, steps: int, overrides: dict, warmup: int = 1) -> dict:
    """Build, compile and time configuration ``name`` in this process.

    The first step (tracing) is timed on its own, then ``warmup`` untimed steps, then ``steps``
    timed ones (``step_s`` is their median, ``step_times_s`` all of them).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    from training.precision import resolve_precision
    from training.tasks import model_inputs

    args = config_args(name, overrides)
    task, model = compiled_model(CONFIGS[name][0], args)
    batch = random_batch(args)
    x, y = model_inputs(batch), task.keras_target(batch)
    first, times = time_steps(model, x, y, steps, warmup)
    return {
        "config": name,
        "backend": keras.backend.backend(),
        "precision": resolve_precision(args.precision),
        "batch": f"{args.batch_size}x{args.im_batch}",
        "image": f"{args.im_h}x{args.im_w}",
        "nvox": args.nvox,
        "params": int(sum(np.prod(p.shape) for p in model.trainable_weights)),
        "first_step_s": round(first, 2),
        "step_s": round(float(np.median(times)), 3),
        "peak_rss_gb": peak_rss_gb(),
        "step_times_s": [round(t, 4) for t in times],
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", nargs="+", default=["quick_vlsm", "release_vlsm_2x4"],
                   choices=sorted(CONFIGS))
    p.add_argument("--steps", type=int, default=3, help="timed steps (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    p.add_argument("--precisions", nargs="+", choices=("auto", "float32", "bfloat16", "float16"),
                   help="one row per precision (default: the configuration's own)")
    p.add_argument("--backends", nargs="+", choices=("tensorflow", "jax"),
                   help="one row per Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides (JSON values), e.g. jit_compile=false im_channels=16")
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    overrides = parse_sets(a.set)
    if a.child:
        print("RESULT " + json.dumps(one(a.child, a.steps, overrides, a.warmup)))
        return
    if a.steps < 1 or a.warmup < 0:
        p.error("need --steps >= 1 and --warmup >= 0")
    backends = a.backends or [os.environ.get("KERAS_BACKEND", "tensorflow")]
    rows = []
    for name in a.configs:
        for backend in backends:
            for prec in a.precisions or [None]:
                sets = a.set + ([f'precision="{prec}"'] if prec else [])
                argv = ["--child", name, "--steps", str(a.steps), "--warmup", str(a.warmup),
                        "--set", *sets]
                res = run_child("benchmarks.bm_train_step", argv, f"{name} {backend} {prec}",
                                backend_env(backend))
                if res is not None:
                    rows.append(res)
    for r in rows:
        times = r.pop("step_times_s")
        record("bm_train_step", r["config"], r["step_s"], backend=r["backend"],
               precision=r["precision"], what=KIND_NAME[CONFIGS[r["config"]][0]],
               batch=f"{r['batch']}, {r['image']} px",
               stats={"seconds_min": min(times), "seconds_max": max(times), "n": len(times),
                      "first_step_s": r["first_step_s"], "peak_rss_gb": r["peak_rss_gb"]},
               notes=" ".join(a.set))
    show(header("bm_train_step", [f"median of {a.steps} steps after the first + {a.warmup} "
                                  "warm-up; random inputs"]), rows)


if __name__ == "__main__":
    main()
