# vafusion: the two commands are `make demo` and `make test` (see README).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vafusion-installed
TORCH_VERSION := 2.13.0
MEDIAPIPE_VERSION := 0.10.21

.PHONY: setup demo test test-fast lint format bench clean

setup: $(STAMP)

# Re-runs only when the pins or the package metadata change: seconds otherwise.
$(STAMP): pyproject.toml requirements/lock.txt Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	# torch first, from the CPU wheel, so that no dependency can pull a CUDA build.
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -r requirements/lock.txt
	$(BIN)/pip install --quiet --no-deps mediapipe==$(MEDIAPIPE_VERSION)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import torch, mediapipe, vafusion; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	@touch $(STAMP)

demo: setup
	$(BIN)/vafusion demo

test: setup
	bash scripts/test-prereqs.sh
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow and not benchmark"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Speed benchmarks (not part of `make test`): exactly the commands BENCHMARKS.md and
# docs/blendshapes.md quote (which figures are same-run ratios and which are absolute is
# said in BENCHMARKS.md).
bench: setup
	$(BIN)/python benchmarks/bench_audio.py src/vafusion/assets/WolfgangLanger_Pexels.mp4 \
	    tests/data/clips/d20.mp4 tests/data/clips/face_noface.mov tests/data/clips/single_face.mp4
	$(BIN)/python benchmarks/bench_faces.py --repeat 3
	$(BIN)/python benchmarks/bench_blendshapes.py --repeat 5
	$(BIN)/python benchmarks/bench_expression.py --repeat 2
	$(BIN)/python benchmarks/bench_predict.py --repeat 3 --live-rounds 2
	$(BIN)/python benchmarks/bench_predict.py --clip src/vafusion/assets/WolfgangLanger_Pexels.mp4 \
	    --repeat 3 --no-live
	$(BIN)/python benchmarks/predict_phases.py --repeat 3
	$(BIN)/python benchmarks/bench_report.py --repeat 5
	$(BIN)/python benchmarks/bench_default_model.py --rounds 5
	$(BIN)/python benchmarks/bench_live_cues.py --repeat 3
	$(BIN)/python benchmarks/predict_vs_commit.py --reference-commit ebab546 --rounds 5
	$(BIN)/python benchmarks/bench_mesh_irises.py --rounds 6
	$(BIN)/python benchmarks/predict_vs_commit.py --reference-commit 2a4a251 --rounds 6
	$(BIN)/python benchmarks/bench_predict.py --live-only --live-rounds 3
	$(BIN)/python benchmarks/bench_memory.py --seconds 60 600 3600
	$(BIN)/python benchmarks/bench_model_load.py --rounds 5
	$(BIN)/python benchmarks/stride_effect.py
	$(BIN)/python benchmarks/bench_dask.py --repeat 3
	$(BIN)/python benchmarks/bench_store.py --scale 0.1
	$(BIN)/python benchmarks/bench_train.py --scale 0.01 --threads 1
	$(BIN)/python benchmarks/bench_train.py --scale 0.01 --threads 2
	$(BIN)/python benchmarks/bench_train.py --scale 0.05 --threads 1 --data mmap
	(ulimit -n 1024; $(BIN)/python benchmarks/bench_train.py --scale 1.0 --data mmap --max-steps 100 --threads 1)
	$(BIN)/python benchmarks/bench_train.py --scale 0.01 --threads 1 --recipe paper
	$(BIN)/python benchmarks/bench_train.py --scale 0.01 --threads 1 --recipe improved
	$(BIN)/python benchmarks/bench_temporal.py --out benchmarks/results/temporal.md

clean:
	rm -rf $(VENV) vafusion-demo .pytest_cache
