#!/usr/bin/env bash
# Train and test on a GPU machine that has JAX but no TensorFlow (the Keras JAX backend, the
# numpy loader of data/loaders/numpy_loader.py and TensorBoard's own event writer: nothing imports TF).
#
#   MINUTES=5 bash scripts/train_gpu_jax.sh NAME:ARGSJS[:EXTRA FLAGS] [NAME:ARGSJS[:FLAGS] ...]
#
# e.g.  bash scripts/train_gpu_jax.sh release:args/args_dlsm_gpu.json \
#           mask:args/args_dlsm_gpu.json:"--depth_head mask"
#
# 1. builds the train and test models of the synthetic dataset SIZE (default full; all cores;
#    models already there are skipped),
# 2. trains every NAME at the same time on the one GPU, each for MINUTES of wall time
#    (`--max_minutes`: the run ends with a checkpoint and stays resumable with --log),
# 3. tests each run's last checkpoint on the test split (per-view-count depth error of D-LSM and
#    of the visual hull, point-cloud figures), each within TEST_MINUTES.
# STAGES (default "data train test") picks the steps. Runs go to LOGDIR/NAME/<timestamp>/train. Wheels missing on the machine (keras, optree, namex,
# trimesh, embreex, rtree) can be put in WHEELS (a folder); they are installed into /tmp/site.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
MINUTES=${MINUTES:-5}
TEST_MINUTES=${TEST_MINUTES:-3}
LOGDIR=${LOGDIR:-log/gpu}
WHEELS=${WHEELS:-.whl}
SIZE=${SIZE:-full}
STAGES=${STAGES:-data train test}
if [ "$SIZE" = full ]; then SPLIT=data/splits.json; else SPLIT=data/splits_$SIZE.json; fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
# the project's packages from this checkout: such a machine has no venv with the project
# installed (elsewhere `make venv` installs it and nothing needs PYTHONPATH)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -d "$WHEELS" ] && ls "$WHEELS"/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -c "import jax, keras; print('keras', keras.__version__, 'backend', keras.backend.backend(), jax.devices())" || exit 1
[ $# -ge 1 ] || { echo "usage: MINUTES=5 $0 NAME:ARGSJS[:FLAGS] ..." >&2; exit 2; }

t0=$(date +%s)
if [[ " $STAGES " == *" data "* ]]; then
    "$PY" -m data.build synth --size "$SIZE" --splits train test --quiet || exit 1
    echo "data: $(( $(date +%s) - t0 )) s"
fi

# one share of the GPU's memory per run (JAX would otherwise take 75% for the first)
frac=$("$PY" -c "print(round(0.9 / $#, 2))")
pids=()
for spec in "$@"; do
    [[ " $STAGES " == *" train "* ]] || break
    IFS=: read -r name argsjs flags <<<"$spec"
    mkdir -p "$LOGDIR/$name"
    # shellcheck disable=SC2086
    XLA_PYTHON_CLIENT_MEM_FRACTION=$frac "$PY" depth/train_dlsm.py --argsjs "$argsjs" \
        --data_root "datasets/$SIZE" --split_file "$SPLIT" --logdir "$LOGDIR/$name" \
        --max_minutes "$MINUTES" $flags \
        >"$LOGDIR/$name/train.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "train: $(( $(date +%s) - t0 )) s"

[[ " $STAGES " == *" test "* ]] || exit 0
pids=()
for spec in "$@"; do
    IFS=: read -r name _ _ <<<"$spec"
    run=$(ls -d "$LOGDIR/$name"/*/train | sort | tail -1)
    ckpt=$(ls -d "$run"/mvnet-* | sed 's/.*mvnet-//' | sort -n | tail -1)
    tail -n 3 "$LOGDIR/$name/train.log"
    XLA_PYTHON_CLIENT_MEM_FRACTION=$frac timeout $(( TEST_MINUTES * 60 )) "$PY" depth/test_dlsm.py \
        --log "$run" --ckpt "mvnet-$ckpt" --test_split_file "$SPLIT" \
        >"$LOGDIR/$name/test.log" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
echo "test: $(( $(date +%s) - t0 )) s"
for spec in "$@"; do
    IFS=: read -r name _ _ <<<"$spec"
    echo "== $name"; grep -v "it/s\]\|batch/s\]" "$LOGDIR/$name/test.log" | tail -n 40
done
