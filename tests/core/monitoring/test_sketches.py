"""Bounded summaries: a uniform sample of at most k values however many chunks arrive; exact counts."""
import numpy as np
import pandas as pd

from core.monitoring.sketches import BottomK, SideSummary


def test_bottom_k_keeps_a_bounded_uniform_sample_across_chunks():
    rng = np.random.default_rng(0)
    sample = BottomK(1000)
    for start in range(0, 100_000, 7_000):
        values = np.arange(start, min(start + 7_000, 100_000), dtype=float)
        sample.add(values, values.astype(int), rng)
    assert sample.seen == 100_000 and len(sample.values) == 1000 and len(set(sample.values)) == 1000
    assert abs(np.mean(sample.values) - 50_000) < 3 * 29_000 / np.sqrt(1000)  # mean of a uniform sample
    assert np.array_equal(sample.values.astype(int), sample.ids)


def test_categories_are_counted_exactly_and_missing_values_skipped():
    side = SideSummary(label="x")
    side.add_counts("topic", pd.Series(["a", "b", None, "a"]))
    side.add_counts("topic", pd.Series(["a", "c"]))
    assert dict(side.counts["topic"]) == {"a": 3, "b": 1, "c": 1}
