"""Shared runner for the checks that wrap a metric of core.metrics (BLEU, chrF, ROUGE, exact match)."""
from __future__ import annotations

from typing import Any

from core.evaluation.checks.base import CheckInput, CheckResult, expected, no_reference, number


def metric_runner(metric: str, default_threshold: float, scale: str):
    def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
        from core.metrics import score_pairs

        name = str(params.get("variant") or metric)
        threshold = number(params, "threshold", default_threshold)
        references = [expected(item, params) for item in inputs]
        scored = score_pairs([item.output for item in inputs], references, [name])[name] if inputs else []
        results = []
        for value, reference in zip(scored, references):
            if reference is None or value is None:
                results.append(no_reference())
                continue
            passed = value >= threshold
            results.append(CheckResult(float(value), passed,
                                       f"{name} {value:.3g} ({scale}) {'≥' if passed else '<'} threshold {threshold:g}."))
        return results

    return run
