# Every target sets itself up: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# ansible-test runs only from .../ansible_collections/phonefleet/grandstream
STAGE := $(CURDIR)/.build/test
STAGED := $(STAGE)/ansible_collections/phonefleet/grandstream
TEST_PYTHON = $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYTEST_ARGS ?=
# Parallel pytest workers for the integration tests (each test file runs whole in one worker); 0 runs them in this process.
INTEGRATION_WORKERS ?= 4

.PHONY: help lock venv stage sanity units integration lint docs-lint test test-matrix bench demo clean

help:
	@echo "make demo   simulated fleet: audit + rolling reboot, prints report paths"
	@echo "make test   sanity, units, integration (simulator), ansible-lint"
	@echo "make bench  benchmarks (figures printed, nothing asserted)"

# requirements-dev.lock pins every package of the venv, transitive ones too (make lock refreshes it on purpose).
$(VENV)/.installed: requirements-dev.txt requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c requirements-dev.lock
	$(BIN)/python tests/tooling/install_offline_get_pip.py
	touch $@

venv: $(VENV)/.installed

stage: venv
	@tests/tooling/stage_collection.sh $(STAGE) >/dev/null

sanity: stage
	cd $(STAGED) && $(BIN)/ansible-test sanity --venv --python $(TEST_PYTHON) --color no

units: stage
	cd $(STAGED) && $(BIN)/ansible-test units --venv --requirements --python $(TEST_PYTHON) --color no

integration: venv
	$(BIN)/python -m pytest tests/integration -p no:cacheprovider -n $(INTEGRATION_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: venv
	PATH=$(BIN):$$PATH $(BIN)/ansible-lint --profile production

# Plugin and role docs as the Ansible docsite renders them (RST, markup, references).
docs-lint: stage
	cd $(STAGED) && PATH=$(BIN):$$PATH $(BIN)/antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs=self .

test: sanity units integration lint docs-lint
	@echo "make test: all checks passed"

test-matrix:
	bash tests/tooling/test_matrix.sh

bench: venv
	$(BIN)/python tests/bench/run_all.py

demo: venv
	$(BIN)/python tests/demo/demo.py

# Re-resolve requirements-dev.txt in a scratch venv and pin the result (review the diff, then commit it).
lock:
	rm -rf .build/lock-venv
	$(PYTHON) -m venv .build/lock-venv
	.build/lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	{ sed -n '/^#/p' requirements-dev.lock; .build/lock-venv/bin/python -m pip freeze --all --exclude pip --exclude setuptools --exclude wheel; } > requirements-dev.lock.new
	mv requirements-dev.lock.new requirements-dev.lock
	rm -rf .build/lock-venv
	@echo "requirements-dev.lock refreshed: review git diff requirements-dev.lock, run make test, commit"

clean:
	rm -rf .build tests/output demo-output
