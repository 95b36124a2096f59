"""Distinct values and top values of big columns agree with pandas' value_counts, whichever route counts them."""
import numpy as np
import pandas as pd
import pytest

from core.data.counting import _top_positions, count_values

ROWS = 50_000


def _columns() -> dict[str, pd.Series]:
    rng = np.random.default_rng(7)
    floats = rng.normal(size=ROWS).round(2)
    floats[rng.random(ROWS) < 0.2] = np.nan
    stamps = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 90_000, ROWS), unit="s"))
    stamps[rng.random(ROWS) < 0.1] = pd.NaT
    words = np.array(["alpha", "beta", "gamma", "delta"])[rng.integers(0, 4, ROWS)]
    texts = pd.Series([f"ticket {i % 7000} about {w}" for i, w in enumerate(words)], dtype="string")
    texts[rng.random(ROWS) < 0.05] = pd.NA
    return {
        "int64": pd.Series(rng.integers(0, 3000, ROWS)),
        "float with NaN": pd.Series(floats),
        "timestamps with NaT": stamps,
        "Arrow strings with NA": texts,
        "Python strings": pd.Series(texts.astype(object)),
        "small": pd.Series(["a", "b", "b", None]),
    }


@pytest.mark.parametrize("name", list(_columns()))
def test_distinct_and_top_values_match_pandas(name):
    column = _columns()[name]
    expected = column.value_counts(dropna=True)
    got = count_values(column, top=5)
    assert got.distinct == len(expected) == column.nunique()
    assert [c for _, c in got.top] == expected.to_numpy()[:5].tolist()
    for value, count in got.top:
        assert expected[value] == count
    assert all(count > 1 for _, count in got.repeated)


def test_ties_keep_the_earlier_position_and_the_biggest_counts_come_first():
    counts = np.array([1, 5, 3, 5, 1, 3, 2])
    assert _top_positions(counts, 3).tolist() == [1, 3, 2]
    assert _top_positions(counts, 10).tolist() == [1, 3, 2, 5, 6, 0, 4]
    assert _top_positions(np.array([], dtype=np.int64), 5).tolist() == []


def test_a_column_with_nothing_present_has_no_values():
    column = pd.Series([np.nan] * ROWS)
    assert count_values(column).distinct == 0 and count_values(column).top == []
