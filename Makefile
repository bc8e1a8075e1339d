# trapline: the two commands a new user needs are `make run` and `make test`.
# Both install what is missing first (system packages via
# scripts/install-system-packages, Python packages into .venv).

VENV    ?= .venv
PYTHON  ?= python3
BIN      = $(VENV)/bin
TARGETS ?= local debian-12-amd64
BENCH_TARGETS ?= local debian-12-amd64 debian-12-aarch64 debian-12-sparc64

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
# guest integration tests (QEMU under TCG here).  One worker per core; each
# guest's end-to-end run is its own xdist group, so the slow foreign-arch
# guests build and boot beside the other tests, not after them.
test: setup lint
	$(BIN)/pytest tests suites -p no:cacheprovider -n auto --dist loadgroup

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/pytest tests/unit -p no:cacheprovider

suites: setup
	$(BIN)/pytest suites -p no:cacheprovider

# Per-target rows: local, then one guest per arch (cold boot and restore
# times, steps/s through the core there, and the full suite's wall time on
# each guest).  `make bench BENCH_TARGETS=local` for the quick one;
# BENCH_FLAGS= drops the suite runs.
BENCH_FLAGS ?= --suites
bench: setup
	$(BIN)/harness bench $(BENCH_FLAGS) $(foreach t,$(BENCH_TARGETS),--target $(t))

clean:
	rm -rf $(VENV) runs .tox build *.egg-info
