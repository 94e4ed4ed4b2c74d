# Refuge developer entry points.  Newcomers: `make run` and `make test`.
#
#   make install   create .venv and install Refuge with its test extras (quick when nothing changed)
#   make run       start the service (scheduler + replay server) with ./data
#   make demo      serve the bundled demo site, capture it and replay it; with the test servers
#                  installed (make test), also publish it to a local S3 bucket and IPFS node
#   make test      install the test servers (Chromium, PostgreSQL, Swift, js-ipfs) if missing, then pytest
#                  (extra pytest arguments: make test PYTEST_ARGS='-k warc -x')
#   make bench     install the bench extras and the servers it compares on, and run the benchmark
#   make clean     remove .venv and caches (never ./data)

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
PIP         := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/python -m pip

# Bytecode for the editable install, which pip does not compile: where PYTHONDONTWRITEBYTECODE
# is set (these machines set it), every `refuge` command would otherwise compile its modules
# again at each start. Up-to-date files are skipped, so it runs before every target.
COMPILE     := $(BIN)/python -m compileall -q src

PYTEST_ARGS ?=
ifeq ($(CI),true)
PYTEST_CI_ARGS := -p no:cacheprovider --durations=15
endif

.PHONY: install run demo test bench clean

install: $(STAMP)

# The stamp is rebuilt only when pyproject.toml changes (or the venv is gone).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[test]'
	@touch $@

$(BENCH_STAMP): $(STAMP)
	$(PIP) install -q -e '.[test,bench]'
	@touch $@

run: $(STAMP)
	@$(COMPILE)
	$(BIN)/refuge run

demo: $(STAMP)
	@$(COMPILE)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	bash scripts/install-test-servers.sh
	@$(COMPILE)
	$(BIN)/python -m pytest -q $(PYTEST_CI_ARGS) $(PYTEST_ARGS)

bench: $(BENCH_STAMP)
	bash scripts/install-test-servers.sh
	@$(COMPILE)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache build dist
	find . \( -path ./data -o -path ./.git -o -name node_modules -o -name '.venv*' -o -name .test-servers \) -prune -o \
		\( -type d \( -name __pycache__ -o -name '*.egg-info' -o -name .pytest_cache \) \) -print0 \
		| xargs -0 rm -rf
