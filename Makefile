# The two commands of the README.
.PHONY: run test test-pg bench setup setup-test

setup:
	@bash scripts/setup.sh app

setup-test:
	@bash scripts/setup.sh test

run: setup
	@bash scripts/run.sh

test: setup-test
	@.venv/bin/python -m mypy
	@.venv/bin/python -m pytest

# The same suite on PostgreSQL: a throwaway server on 127.0.0.1:55432 (scripts/pg.sh), one database per test.
test-pg: setup-test
	@url=$${BAOZHUANG_TEST_DATABASE_URL:-$$(bash scripts/pg.sh start)} && echo "==> the tests on PostgreSQL: $$url" && \
	  BAOZHUANG_TEST_DATABASE_URL=$$url .venv/bin/python -m pytest

bench: setup-test
	@.venv/bin/python -m bench.run
	@.venv/bin/python -m bench.tasklist
	@.venv/bin/python -m bench.forecast
