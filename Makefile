# The two commands of the README's quick start (`make demo`, `make test`) create the environment
# in .venv when it is missing and reuse it when it is there.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.iclmsr-installed

.PHONY: env demo test test-all docs export clean-nbs readme check-sync bench

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

env: $(STAMP)  ## create or update the environment

demo: $(STAMP)  ## the main job: SimCLR vs SimCLR + ICL-MSR on the built-in confounded digits
	$(BIN)/iclmsr demo

test: $(STAMP)  ## notebook tests (nbdev-test) and end-to-end tests (pytest)
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing  # one torch thread per worker: 2 workers x 2 threads on 2 cores is several times slower
	$(BIN)/python tools/build_docs.py
	$(BIN)/python -m pytest tests -ra

test-all: $(STAMP)  ## the same, with the slow notebook cells and slow tests
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing --flags slow
	$(BIN)/python tools/build_docs.py
	$(BIN)/python -m pytest tests -ra --runslow

docs: $(STAMP)  ## the documentation site in _docs/, offline
	$(BIN)/python tools/build_docs.py

export: $(STAMP)
	$(BIN)/nbdev-export

clean-nbs: $(STAMP)
	$(BIN)/nbdev-clean

readme: $(STAMP)  ## README.md from nbs/index.ipynb
	$(BIN)/python tools/make_readme.py

check-sync: $(STAMP)  ## library in sync with notebooks, notebooks clean
	$(BIN)/nbdev-export
	$(BIN)/nbdev-clean
	$(BIN)/python tools/make_readme.py
	@git status --porcelain -- iclmsr nbs README.md | tee /tmp/iclmsr-sync.txt; \
	if [ -s /tmp/iclmsr-sync.txt ]; then echo "nbdev-export/nbdev-clean/make_readme changed the files above: run 'make export clean-nbs readme' and commit"; exit 1; fi

bench: $(STAMP)  ## the meta-step table (against its targets), the step in each precision, SimCLR against lightly
	OMP_NUM_THREADS=1 $(BIN)/python bench/meta_step.py
	OMP_NUM_THREADS=1 $(BIN)/python bench/precision_step.py
	@$(BIN)/python -c "import lightly" 2>/dev/null || $(BIN)/python -m pip install -c constraints.txt -e ".[bench]"
	OMP_NUM_THREADS=1 $(BIN)/python bench/lightly_compare.py
