# NeuroFER-Bench: set-up, tests and the default benchmark.
#   make setup   create .venv and install everything (quick when nothing changed)
#   make test    the unit tests, the docs build, the performance and accuracy gates, then the
#                project's leaderboard verified (what CI runs)
#   make unit    the unit and end-to-end tests only
#   make docs    build the documentation site into docs/_build/html (warnings are errors)
#   make docs-serve  build it, then serve it on http://localhost:$(DOCS_PORT) (default 8000)
#   make leaderboard  verify every bundle in leaderboard/ (replayed) and build its site
#   make site    the leaderboard site of the bundles in leaderboard/ into runs/site (docs/guides/site.md)
#   make gates   the performance gate and the accuracy gate only
#   make bench   run the default benchmark grid (every backend x built-in dataset)
#   make perf    the pytest-benchmark performance benchmarks (tests/perf)
#   make gpu-bundle     the wheels the GPU machine's image lacks, into gpu-bundle/ (docs/guides/gpu.md)
#   make gpu-rehearsal  the GPU check's two calls on this CPU, in a Python 3.12 environment
#                       holding only the GPU image's packages plus the bundle
#   make loihi-env      the Loihi 2 check's Python 3.10 environment (lava-nc, lava-dl's netx)
#   make loihi-check    the suite's lava-dl model against Lava's Loihi 2 simulation, spike for
#                       spike (docs/guides/loihi-check.md); LOIHI_MAX_TEST=all for every sample
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the GPU image's Python: 3.12 (pyenv's, else one on the PATH)
PY312 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.12))
GPU_VENV := .gpu-venv
GPU_STAMP := $(GPU_VENV)/.installed

.PHONY: setup test unit docs docs-serve site leaderboard gates perf-gate accuracy-gate bench lint perf clean gpu-bundle gpu-rehearsal loihi-env loihi-check

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# 1. torch first, the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install -q torch==2.13.0
	# 2. the project with its test tools, the video-to-events extra and the docs tools
	$(PY) -m pip install -q -e '.[dev,convert,docs]'
	# 3. packages whose declared pins are wrong for Python 3.11 / torch 2.13 / numpy 2:
	#    lava-dl (declares Python<3.11, torch<2.4, numpy<2; its SLAYER runs fine here) and
	#    neurobench (declares torchaudio, which it does not need for our metrics).
	$(PY) -m pip install -q --no-deps --ignore-requires-python lava-dl==0.6.0
	$(PY) -m pip install -q --no-deps neurobench==2.3.0
	#    spikingjelly 2.0.0 declares torchvision, torchaudio, tensorboard and SciencePlots, none of
	#    which its activation_based modules import here (torchvision from the index would pull a
	#    CUDA torch); what it does import, loguru, is a project dependency. Its model/sew_resnet.py
	#    and spiking_vgg.py import torchvision's load_state_dict_from_url (pretrained weights only):
	#    the model zoo imports them through a stand-in (backends/native/zoo/_torchvision_shim.py),
	#    since PyPI's torchvision 0.28.0 is a CUDA build that fails to import beside this CPU torch.
	$(PY) -m pip install -q --no-deps spikingjelly==2.0.0
	#    norse 1.1.0 (a source package) declares torchvision, which it does not import here.
	$(PY) -m pip install -q --no-deps norse==1.1.0
	#    sinabs 3.1.3 declares samna (SynSense's hardware driver, not needed to simulate) and
	#    nir<=1.0.4; it imports and runs with nir 1.0.8 (the project's pin, shared with norse and
	#    nirtorch); pbr, which it imports for its version, is a project dependency.
	$(PY) -m pip install -q --no-deps sinabs==3.1.3
	touch $(STAMP)

test: unit docs gates leaderboard

unit: setup
	$(PY) -m pytest -q -m "not perf"

# The documentation site (Sphinx + MyST, docs/conf.py), built from scratch each time: the API
# pages are generated from the packages' modules (docs/api/, ignored by git), and a stale page of a
# moved module must not survive. -W --keep-going: every warning fails the build (a broken internal
# link or toctree entry, a module that fails to import, malformed docstring markup), all reported.
DOCS_PORT ?= 8000
docs: setup
	rm -rf docs/_build docs/api
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: docs/_build/html/index.html"

docs-serve: docs
	$(PY) -m http.server --directory docs/_build/html $(DOCS_PORT)

# The merged leaderboard site of the bundles in leaderboard/ (a rejected bundle fails the build).
site: setup
	$(PY) run_bench.py site leaderboard --out runs/site

# The project's own leaderboard (leaderboard/README.md): every bundle verified -- each checkpoint
# replayed on the built-in data, generated where absent; a bundle's plugin code is never run here
# (no --trust-plugins) -- then the site built from them. Part of `make test`, so a contributed
# bundle that does not verify fails CI.
LEADERBOARD_BUNDLES = $(sort $(dir $(wildcard leaderboard/*/manifest.json)))
leaderboard: setup
	$(PY) run_bench.py verify $(LEADERBOARD_BUNDLES)
	$(PY) run_bench.py site leaderboard --out runs/site

gates: perf-gate accuracy-gate

# Ratios to a reference timed in the same run, against this machine's baseline
# (benchmarks/gates/perf_baseline.json); 1 torch thread for stable timings on a shared machine.
perf-gate: setup
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.gates.perf_gate --out runs/gates

# The default grid's accuracy per backend against benchmarks/gates/accuracy_floors.json.
accuracy-gate: setup
	$(PY) -m benchmarks.gates.accuracy_gate --run-dir runs/gates/accuracy

# The GPU machine's image has Python 3.12, torch with CUDA and no network: the project's other
# dependencies travel as wheels (tools/gpu/gpu_bundle.py; at most 64 MiB with the source).
gpu-bundle: gpu-bundle/MANIFEST.json
	$(PY) -m tools.gpu.gpu_bundle --out gpu-bundle --check

gpu-bundle/MANIFEST.json: tools/gpu/gpu_bundle.py | setup
	$(PY) -m tools.gpu.gpu_bundle --out gpu-bundle

# A Python 3.12 environment holding only the image's packages (tools/gpu/gpu_image.txt:
# torch 2.11.0 as on the image, from PyPI; it runs on the CPU here).
$(GPU_STAMP): tools/gpu/gpu_image.txt
	test -n "$(PY312)" || { echo "no Python 3.12 (set PY312=...)"; exit 1; }
	test -x $(GPU_VENV)/bin/python || $(PY312) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/python -m pip install -q -r tools/gpu/gpu_image.txt
	touch $(GPU_STAMP)

# Both calls of the GPU check on the CPU, the bundle installed as on the device (afresh):
# every section must be ok or skipped for want of CUDA.
gpu-rehearsal: gpu-bundle $(GPU_STAMP)
	rm -rf runs/gpu-rehearsal .gpu-site
	OMP_NUM_THREADS=1 $(GPU_VENV)/bin/python -m tools.gpu.gpu_check --call A --device cpu --wheels gpu-bundle --out runs/gpu-rehearsal --rehearsal
	OMP_NUM_THREADS=1 $(GPU_VENV)/bin/python -m tools.gpu.gpu_check --call B --device cpu --wheels gpu-bundle --out runs/gpu-rehearsal --rehearsal

bench: setup
	$(PY) run_bench.py run

perf: setup
	$(PY) -m pytest -q -m perf --benchmark-enable tests/perf

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(GPU_VENV) gpu-bundle .gpu-site

# The Loihi 2 check (docs/guides/loihi-check.md): a Python 3.10 environment built from
# tools/loihi/requirements-loihi.txt (PY310=/path/to/python3.10 to choose the interpreter), then
# the suite's lava-dl model run in Lava's fixed-point Loihi 2 simulation; runs/loihi/loihi_check.json.
loihi-env:
	bash tools/loihi/build_env.sh .loihi-venv

loihi-check: setup loihi-env
	PY=$(PY) LOIHI_VENV=.loihi-venv bash tools/loihi/run_check.sh
