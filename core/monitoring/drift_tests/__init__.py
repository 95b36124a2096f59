"""The registry of drift tests: one small pure function per module, registered with its label and defaults.

Every test takes a reference and a current sample (numbers, category labels or counts, texts, or embedding
rows) and returns a `DriftResult`. `default_test` chooses one per field kind and sample size following
Evidently's documented logic: with 1,000 reference values or fewer, statistical tests (Kolmogorov-Smirnov for
numbers with more than 5 distinct values, chi-square for categories, a two-proportion z-test for binary
values), each at p < 0.05; above that, distances (Wasserstein normed by the reference's standard deviation for
numbers, Jensen-Shannon for categories), each at >= 0.1, since on large samples every p-value is tiny.
"""
from __future__ import annotations

import importlib

from core.errors import InvalidInput
from core.monitoring.drift_tests.base import DriftResult, DriftTest

MODULES = ("ks", "wasserstein", "psi", "anderson", "chisquare", "jensenshannon", "category_psi", "new_categories",
           "mmd", "domain_classifier", "novelty", "proportion_z")
SMALL_SAMPLE = 1000  # Evidently's boundary between tests and distances (reference size)

REGISTRY: dict[str, DriftTest] = {}


def register(name: str, *, label: str, kinds: tuple[str, ...], score: str, threshold: float, help: str):
    def wrap(func):
        REGISTRY[name] = DriftTest(name=name, label=label, kinds=kinds, score=score, threshold=threshold,
                                   func=func, help=help)
        return func

    return wrap


def load_all() -> dict[str, DriftTest]:
    for module in MODULES:
        importlib.import_module(f"core.monitoring.drift_tests.{module}")
    return REGISTRY


def get(name: str) -> DriftTest:
    load_all()
    if name not in REGISTRY:
        raise InvalidInput(f"'{name}' is not a drift test; choose one of {', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name]


def default_test(kind: str, *, reference_size: int, n_unique: int | None = None) -> str:
    """The test a field gets when none is chosen (see the module docstring)."""
    small = reference_size <= SMALL_SAMPLE
    if kind == "numeric" and n_unique is not None and n_unique <= 5:
        kind = "rate" if n_unique <= 2 else "categorical"
    if kind == "numeric":
        return "ks" if small else "wasserstein"
    if kind == "rate":
        return "proportion_z" if small else "jensenshannon"
    if kind == "categorical":
        if small:
            return "proportion_z" if n_unique is not None and n_unique <= 2 else "chisquare"
        return "jensenshannon"
    if kind == "text":
        return "domain_classifier"
    if kind == "embedding":
        return "mmd" if small else "domain_classifier"
    raise InvalidInput(f"'{kind}' is not a field kind.")


__all__ = ["DriftResult", "DriftTest", "REGISTRY", "default_test", "get", "load_all", "register"]
