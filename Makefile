# The two commands: `make run` and `make test`. Both set up first (idempotent).
.PHONY: setup run test test-fast

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test-deps.sh
	.venv/bin/python -m pytest $(PYTEST_ARGS)

# Everything but the browser journeys and the real-model tests, for a quick loop while coding.
test-fast: setup
	.venv/bin/python -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)
