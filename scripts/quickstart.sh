#!/usr/bin/env bash
# The quickstart: build the `small` synthetic dataset, check it, train the quick V-LSM
# configuration (args/args_vlsm_quick.json, about 8 minutes on 2 CPU cores), test it on the
# small test split and print the per-class table (LSM vs visual hull, 1 to 4 views).
set -euo pipefail
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
start=$(date +%s)

echo "== 1/4 building the small synthetic dataset (datasets/small)"
$PY -m data.build synth --size small
echo "== 2/4 checking it"
# every model, 5 of its 20 views (the full check: python -m data.check --root datasets/small)
$PY -m data.check --root datasets/small --split data/splits_small.json --views 5 --quiet

echo "== 3/4 training the quick V-LSM"
$PY voxels/train_vlsm.py --argsjs args/args_vlsm_quick.json --logdir log/quickstart
RUN=$(ls -d log/quickstart/*/train | sort | tail -1)

echo "== 4/4 testing $RUN"
$PY voxels/test_vlsm.py --log "$RUN" --test_split_file data/splits_small.json \
  --contact_sheet 6 --save_preds 2
echo "quickstart done in $(( $(date +%s) - start )) s; run: $RUN (tensorboard --logdir $RUN)"
