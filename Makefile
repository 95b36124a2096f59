# The two commands: `make run` and `make test`. Both set up first (idempotent).
.PHONY: setup run test test-fast bench-profile bench-drift

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

# Benchmarks print ratios against a peer measured in the same run; they assert nothing about time.
.venv-bench/.ready:
	python3 -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q ydata-profiling pyarrow
	touch $@

bench-profile: setup .venv-bench/.ready
	.venv/bin/python bench/profile.py $(BENCH_ARGS)

.venv-bench-drift/.ready:
	python3 -m venv .venv-bench-drift
	.venv-bench-drift/bin/python -m pip install -q evidently "pandas<3" pyarrow
	touch $@

bench-drift: setup .venv-bench-drift/.ready
	.venv/bin/python bench/drift.py $(BENCH_ARGS)
