# The README's two set-up commands: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: quickstart test test-slow venv data-small data-tiny data-full lint clean-data

# The venv with the pinned requirements, then this project installed into it editable (its
# packages import from the checkout, from any working directory). The stamp skips both when
# neither file changed since.
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

data-tiny: venv
	$(PY) -m data.build synth --size tiny
data-small: venv
	$(PY) -m data.build synth --size small
data-full: venv
	$(PY) -m data.build synth --size full

# Build the small synthetic dataset, train the quick V-LSM, test it and print the result table.
quickstart: venv
	bash scripts/quickstart.sh $(PY)

# The test suite: everything under TensorFlow, then the backend-agnostic ops and the numerical
# model tests (norms, conv padding rules, recurrent cells, whole models) and the release
# equivalence (a converted TF1 checkpoint against the original graph's values) under JAX.
JAX_TESTS := tests/ops tests/models/test_norms.py tests/models/test_layers.py \
	tests/models/test_fusion.py tests/models/test_lsm.py tests/models/test_depth_head.py \
	tests/models/test_r2n2.py tests/models/test_precision.py tests/training/test_precision_choice.py
# TEST_WORKERS pytest-xdist processes (one test file each at a time: module fixtures are built
# once); 2 fits the 2-core CI machine.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile
# `make test`: every test but the end-to-end ones marked slow (docs/testing.md), both backends.
test: venv
	$(PY) -m ruff check .
	$(PYTEST) -m "not slow" tests
	KERAS_BACKEND=jax $(PYTEST) -m "not slow" $(JAX_TESTS)

# `make test-slow`: the end-to-end tests (training runs and resumes, kill -9, two processes,
# the scripts, the original graph's golden values); CI runs it after `make test`.
test-slow: venv
	$(PYTEST) -m slow tests
	KERAS_BACKEND=jax $(PYTEST) -m slow $(JAX_TESTS)
	KERAS_BACKEND=jax $(PY) -m pytest -q tests/training/test_release.py -k "golden or conversion or original_graph"

lint: venv
	$(PY) -m ruff check .
