"""What every check shares: its input, its result and its registry entry.

A check is one small function over a batch of `CheckInput`s (a batch so that metrics, embeddings and judges run
once per model rather than once per case) returning one `CheckResult` per input: a value (a score, or 1/0 for an
assertion), pass/fail and a one-line explanation. Per-check parameters (thresholds, patterns, a rubric) come as a
plain dict, as stored in a suite; `value` in the parameters replaces the case's reference where a check compares.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput

KINDS = ("reference", "assertion", "safety", "judge", "performance")


@dataclass(frozen=True)
class CheckInput:
    """One case's answer as a check sees it. Everything is untrusted text, handled as plain strings."""

    output: str
    reference: str | None = None
    prompt: str = ""  # the user message the model answered
    variables: dict[str, Any] = field(default_factory=dict)
    baseline_output: str | None = None  # the baseline model's answer to the same case (pairwise judging)
    latency_s: float | None = None
    cost_usd: float | None = None
    judge: Any = None  # a core.evaluation.judge.Judge, for judge checks
    encode: Any = None  # a core.evaluation.embedding.Encoder, for similarity checks


@dataclass(frozen=True)
class CheckResult:
    value: float | None
    passed: bool | None  # None: the check could not decide (no reference, no judge verdict)
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "passed": self.passed, "explanation": self.explanation}


Runner = Callable[[list[CheckInput], dict[str, Any]], list[CheckResult]]


@dataclass(frozen=True)
class Check:
    """One registered check. `run(inputs, params)` returns one result per input, in order."""

    name: str
    label: str
    kind: str  # one of KINDS
    description: str
    run: Runner = field(repr=False, compare=False)
    needs_reference: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}")


def per_input(func: Callable[[CheckInput, dict[str, Any]], CheckResult]) -> Runner:
    """A batch runner from a function of one input."""

    def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
        return [func(item, params) for item in inputs]

    return run


def expected(item: CheckInput, params: dict[str, Any]) -> str | None:
    """The text a comparing check compares with: the `value` parameter, else the case's reference."""
    value = params.get("value")
    if value is not None:
        return str(value)
    return item.reference


def number(params: dict[str, Any], key: str, default: float | None) -> float | None:
    value = params.get(key, default)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"The check parameter {key} must be a number, not {value!r}.") from None


def no_reference() -> CheckResult:
    return CheckResult(None, None, "No reference to compare with.")
