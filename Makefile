# Quick start: `make run` (set up + run the main job: `snakemake --cores all`), `make test` (set up + run the tests).
# Both create .venv once and reuse it; `pip install` is a no-op when everything is already there.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run demo test test-slurm lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,slurm]"
	touch $(STAMP)

setup: $(STAMP)

# The main job: the whole workflow (preset auto: paper with a CUDA GPU, else the CPU preset). Extra Snakemake
# arguments: make run ARGS="--config preset=paper-mini".
run: $(STAMP)
	$(VENV)/bin/snakemake --cores all $(ARGS)

# The library's smallest end-to-end run, without the workflow (every method on the tiny pipeline, one grid).
demo: $(STAMP)
	$(PY) -m unziplora demo --out results/demo

test: $(STAMP)
	$(PY) -m pytest -q

# The workflow on a real single-node SLURM cluster started here (root: installs slurm-wlm and munge with apt-get).
test-slurm: $(STAMP)
	$(PY) tests/slurm_cluster.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check plumbing unziplora metrics analysis toyworld tests benchmarks workflow

clean:
	rm -rf results/demo .pytest_cache .ruff_cache   # workflow results stay: they are expensive; delete results/<preset>/ by hand
