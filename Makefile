# NeuroFER-Bench: set-up, tests and the default benchmark.
#   make setup   create .venv and install everything (quick when nothing changed)
#   make test    the unit tests, then the performance and accuracy regression gates (what CI runs)
#   make unit    the unit and end-to-end tests only
#   make gates   the performance gate and the accuracy gate only
#   make bench   run the default benchmark grid (3 backends x built-in dataset)
#   make perf    the pytest-benchmark performance benchmarks (tests/perf)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test unit gates perf-gate accuracy-gate bench lint perf clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# 1. torch first, the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	# 2. the project with its test tools and the video-to-events extra
	$(PY) -m pip install -q -e '.[dev,convert]'
	# 3. packages whose declared pins are wrong for Python 3.11 / torch 2.13 / numpy 2:
	#    lava-dl (declares Python<3.11, torch<2.4, numpy<2; its SLAYER runs fine here) and
	#    neurobench (declares torchaudio, which it does not need for our metrics).
	$(PY) -m pip install -q --no-deps --ignore-requires-python lava-dl==0.6.0
	$(PY) -m pip install -q --no-deps neurobench==2.3.0
	#    spikingjelly 2.0.0 declares torchvision, torchaudio, tensorboard and SciencePlots, none of
	#    which its activation_based modules import here (torchvision from the index would pull a
	#    CUDA torch); what it does import, loguru, is a project dependency. Its model/sew_resnet.py
	#    and spiking_vgg.py import torchvision's load_state_dict_from_url (pretrained weights only):
	#    the model zoo imports them through a stand-in (backends/models/zoo/_torchvision_shim.py),
	#    since PyPI's torchvision 0.28.0 is a CUDA build that fails to import beside this CPU torch.
	$(PY) -m pip install -q --no-deps spikingjelly==2.0.0
	#    norse 1.1.0 (a source package) declares torchvision, which it does not import here.
	$(PY) -m pip install -q --no-deps norse==1.1.0
	#    sinabs 3.1.3 declares samna (SynSense's hardware driver, not needed to simulate) and
	#    nir<=1.0.4; it imports and runs with nir 1.0.8 (the project's pin, shared with norse and
	#    nirtorch); pbr, which it imports for its version, is a project dependency.
	$(PY) -m pip install -q --no-deps sinabs==3.1.3
	touch $(STAMP)

test: unit gates

unit: setup
	$(PY) -m pytest -q -m "not perf"

gates: perf-gate accuracy-gate

# Ratios to a reference timed in the same run, against this machine's baseline
# (benchmarks/perf_baseline.json); 1 torch thread for stable timings on a shared machine.
perf-gate: setup
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.perf_gate --out runs/gates

# The default grid's accuracy per backend against benchmarks/accuracy_floors.json.
accuracy-gate: setup
	$(PY) -m benchmarks.accuracy_gate --run-dir runs/gates/accuracy

bench: setup
	$(PY) run_bench.py run

perf: setup
	$(PY) -m pytest -q -m perf --benchmark-enable tests/perf

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV)
