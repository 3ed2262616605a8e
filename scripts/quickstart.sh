#!/usr/bin/env bash
# The quickstart: build the `small` synthetic dataset, check it, and (once the V-LSM exists)
# train the quick V-LSM configuration, test it and print the table.
set -euo pipefail
PY=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
$PY -m data.build synth --size small
$PY -m data.check --root datasets/small --split data/splits_small.json --quiet
