# The two commands of the README. Both set up what they need first (scripts/setup.sh).
.PHONY: setup drill test lint

setup:
	@scripts/setup.sh

## drill: the main job on the embedded default — a failover drill against the local sandbox
drill: setup
	.venv/bin/bascule drill --local

## test: lint, types and the whole test suite (what CI runs)
test: setup lint
	.venv/bin/pytest -q

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy -p bascule
	.venv/bin/mypy --strict examples/aws-gcp-failover
