# The two commands of the README.
.PHONY: run test bench setup

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@.venv/bin/python -m mypy
	@.venv/bin/python -m pytest

bench: setup
	@.venv/bin/python -m bench.run
	@.venv/bin/python -m bench.tasklist
