# Two commands do all set-up: `make run` (the pipeline on config/config.yaml) and `make test`.
# Both create .venv when missing and reinstall the project when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.bwot-installed
CORES ?= all
PYTEST_ARGS ?=

.PHONY: run test lint report gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench workflow
	$(BIN)/ruff format --check src tests bench workflow
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint --cores 1

# The GPU path checked and timed in one run (bench/gpu/run.py): results in bench/out/gpu.json and gpu.txt.
# Without CUDA it says so and runs its small CPU mode.
gpu-check: $(STAMP)
	$(BIN)/python bench/gpu/run.py

report: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --report report.html

clean:
	rm -rf results logs benchmarks resources .snakemake report.html
