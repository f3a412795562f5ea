# The two commands a person needs are `make demo` and `make test`; both run `make setup` first.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
PYTEST := $(BIN)/python -m pytest
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo test lint sanity unit integration molecule matrix bench build clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(BIN)/python scripts/demo.py

test: setup lint sanity unit integration molecule matrix
	@echo "make test: every suite passed"

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/python scripts/role-readme.py --check
	$(BIN)/python scripts/catalog-doc.py --check
	bash scripts/check-py36.sh
	bash scripts/galaxy-importer.sh

sanity:
	bash scripts/ansible-test.sh sanity

unit:
	$(PYTEST) tests/unit

integration:
	$(PYTEST) tests/integration

molecule:
	$(PYTEST) tests/molecule

# ansible-core 2.15, 2.17 and 2.19 (requirements/ansible-core-*.txt), each on the built and
# installed collection; docs/compatibility.md has the checks and the measured table.
matrix: setup
	$(BIN)/python scripts/matrix.py

bench: setup
	$(BIN)/python benchmarks/bench_keepalive_sysctl.py
	$(BIN)/python benchmarks/bench_sockets_info.py

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path .cache/dist

clean:
	rm -rf .cache/dist tests/output .pytest_cache .ruff_cache keepalive-report
