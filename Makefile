# trapline: the two commands a new user needs are `make run` and `make test`.
# Both install what is missing first (system packages via
# scripts/install-system-packages, Python packages into .venv).

VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
TARGETS ?= local debian-12-amd64

.PHONY: setup run test lint unit suites bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install-system-packages
	scripts/install-system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The main job: the suites on this machine's kernel and on the embedded
# default guest (built from Debian packages on first use, then cached).
run: setup
	$(BIN)/harness run $(TARGETS)

# Everything CI runs: lint, unit tests, the suites on `local`, and the
# guest integration tests (QEMU under TCG here).
test: setup lint
	$(BIN)/pytest tests suites -p no:cacheprovider

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/pytest tests/unit -p no:cacheprovider

suites: setup
	$(BIN)/pytest suites -p no:cacheprovider

bench: setup
	$(BIN)/harness bench

clean:
	rm -rf $(VENV) runs .tox build *.egg-info
