# The two commands: `make run` starts everything locally; `make test` runs the tests.
.PHONY: run test lint bench bootstrap

bootstrap:
	@scripts/bootstrap

run: bootstrap
	.venv/bin/trackstream up

test: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy .
	.venv/bin/pytest -q

lint: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy .

bench: bootstrap
	.venv/bin/trackstream bench
