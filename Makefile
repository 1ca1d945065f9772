# p2pfed: `make demo` and `make test` set everything up on a fresh clone, then run.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
# The stamp changes whenever the dependency list changes, so `make` reinstalls then.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml 2>/dev/null | cut -d' ' -f1)

.PHONY: install demo test test-all bench bench-scale clean help
help:
	@echo "make install   set up .venv only (CPU-only torch + p2pfed + dev tools)"
	@echo "make demo      set up .venv and run a local 8-node gossip federation (p2pfed launch)"
	@echo "make test      set up .venv and run the fast test suite (incl. import-layer contracts)"
	@echo "make test-all  also run tests marked slow"
	@echo "make bench     run the quick benchmarks and print ratios (see docs/benchmarks.md)"
	@echo "make bench-scale  simulator at 100/1,000/5,000 nodes beside gossipy (~40 min; sets up .venv-gossipy)"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: p2pfed needs Python >= 3.11 (found $$($(PYTHON) --version))"; exit 1; }
	rm -f $(VENV)/.installed-*
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# CPU build of torch first: a local CPU wheel if pip's find-links has one, else the
	@# PyTorch CPU index.  Never the default PyPI build, which drags in GBs of CUDA.
	if $(BIN)/pip install -q --no-index --no-deps "torch==$(TORCH_VERSION)" 2>/dev/null; then \
	  $(BIN)/pip install -q "torch==$(TORCH_VERSION)"; \
	else \
	  $(BIN)/pip install -q "torch==$(TORCH_VERSION)" --index-url https://download.pytorch.org/whl/cpu; \
	fi
	$(BIN)/pip install -q -e ".[dev]"
	@$(BIN)/python -c 'import torch, sys; sys.exit("error: a CUDA build of torch got installed; remove .venv and retry" if torch.version.cuda else 0)'
	@! $(BIN)/pip list 2>/dev/null | grep -qi '^nvidia-' || { echo "error: CUDA packages were installed into $(VENV); remove it and retry"; exit 1; }
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/p2pfed launch

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m ''

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python benchmarks/bench_learners.py
	$(BIN)/python benchmarks/bench_models.py

bench-scale: $(STAMP)
	@test -x .venv-gossipy/bin/python || $(PYTHON) benchmarks/bench_gossipy.py setup
	$(BIN)/python benchmarks/bench_sim_scale.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis build *.egg-info
