# Set-up, data, training and tests. Every target creates .venv/ when missing and
# installs the exact versions in requirements.lock.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FASHION_MNIST_IDX := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
WORKDIR ?= runs/lenet5
PORT ?= 6006

.PHONY: install data train test test-fast torch tensorboard lock clean

install: $(STAMP)

# The lock is complete (every dependency pinned), so it installs as it is (--no-deps), with the
# overrides it was made with (see lock).
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
	  -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Fashion-MNIST's IDX files from Debian's package, then the TFDS dataset built from them.
data: $(STAMP)
	@if [ -z "$$FASHION_MNIST_DIR" ] && [ ! -e $(FASHION_MNIST_IDX) ]; then \
	  $(SUDO) apt-get install -y dataset-fashion-mnist || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y dataset-fashion-mnist; }; \
	fi
	$(PY) -m jaxcnn.data.prepare --dataset=fashion_mnist

train: data
	$(PY) -m jaxcnn.main --config=configs/lenet5.py --workdir=$(WORKDIR)

# The whole suite (what CI runs), over both cores, with its 15 slowest tests.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15 tests

# The edit loop: the suite less the tests marked slow (trainer processes, PyTorch parity,
# the deepest networks' compiles).
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" --durations=10 tests

# Optional: PyTorch and torchvision (pinned in pyproject.toml's torch extra) for the parity
# tests and reference benchmarks; pip takes them from local files where they lie on disk.
# Installed by name, not as '.[torch]', so that pip leaves the locked packages as they are
# (resolving jaxcnn again would undo the lock's override).
TORCH_PINS = $(shell $(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', \
  'rb'))['project']['optional-dependencies']['torch']))")
torch: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH_PINS)

# TensorBoard on a run's scalars (WORKDIR/tensorboard/), at http://localhost:$(PORT)/.
tensorboard: $(STAMP)
	$(VENV)/bin/tensorboard --logdir=$(WORKDIR)/tensorboard --port=$(PORT)

# Regenerates requirements.lock from pyproject.toml (needs network access to PyPI).
# jax2onnx declares orbax-checkpoint<0.11.37, which only its examples use (its converter
# imports no orbax): the lock overrides that declaration with jaxcnn's orbax-checkpoint.
LOCK_OVERRIDES := orbax-checkpoint>=0.12
lock:
	test -x .lockenv/bin/uv || { $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q uv; }
	echo '$(LOCK_OVERRIDES)' > .lockenv/overrides.txt
	.lockenv/bin/uv pip compile pyproject.toml --extra test --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header \
	  --overrides .lockenv/overrides.txt -o requirements.lock

clean:
	rm -rf $(VENV) .lockenv
