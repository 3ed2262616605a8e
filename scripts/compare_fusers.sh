#!/usr/bin/env bash
# The fuser comparison: train the quick V-LSM (args/args_vlsm_quick.json) with each fuser on
# datasets/small, test each on the small test split and record the tables (records/results/,
# experiment fusers_quick_small) for RESULTS.md. Resumable: run it again after an interruption;
# a recorded fuser is skipped, an unfinished run resumes from its latest checkpoint.
#
#   bash scripts/compare_fusers.sh [FUSER ...]      # default: every registered fuser
#
# Needs datasets/small (`make data-small`). About as long as the quickstart's training per
# fuser on 2 CPU cores; run nothing else meanwhile if you want the timings to mean something.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
if [ $# -eq 0 ]; then
  set -- $($PY -c "from models.fusion import fuser_names; print(' '.join(fuser_names()))")
fi
ABOUT="The quick V-LSM (args/args_vlsm_quick.json: 64 px images, 8 channels, 1500 iterations) \
trained with each fuser of models/fusion (--rnn) on datasets/small; made by \
scripts/compare_fusers.sh."
for r in "$@"; do
  if [ -f "records/results/fuser_$r.json" ]; then echo "== $r: recorded"; continue; fi
  base=log/fusers/$r
  run=$(ls -d "$base"/*/train 2>/dev/null | sort | tail -1 || true)
  train_cmd="python voxels/train_vlsm.py --argsjs args/args_vlsm_quick.json --rnn $r"
  if [ -z "$run" ]; then
    echo "== $r: training"
    $PY voxels/train_vlsm.py --argsjs args/args_vlsm_quick.json --logdir "$base" --rnn "$r"
    run=$(ls -d "$base"/*/train | sort | tail -1)
  elif [ ! -f "$run/finished.json" ]; then
    echo "== $r: resuming $run"
    $PY voxels/train_vlsm.py --log "$run"
  fi
  table=$(ls "$run"/test_mvnet-*_*.json 2>/dev/null | sort | tail -1 || true)
  if [ -z "$table" ]; then
    echo "== $r: testing $run"
    $PY voxels/test_vlsm.py --log "$run" --test_split_file data/splits_small.json
    table=$(ls "$run"/test_mvnet-*_*.json | sort | tail -1)
  fi
  new_table=()
  if ! grep -q '"fusers_quick_small"' records/experiments.json; then
    new_table=(--title "Fusers: the quick V-LSM on small" --about "$ABOUT")
  fi
  $PY scripts/results.py record "$table" --name "fuser_$r" --experiment fusers_quick_small \
    --label "$r" --train_command "$train_cmd" "${new_table[@]}"
done
$PY scripts/results.py render
