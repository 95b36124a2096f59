"""Bounded summaries of one side (reference or a window), filled chunk by chunk and mergeable.

Numbers keep a uniform sample of at most `NUMERIC_SAMPLE` values (bottom-k of random keys, so two summaries
merge into a uniform sample of the union) and their exact count; categories and rates keep exact counts;
texts keep a uniform sample of `TEXT_SAMPLE` rows (with their event ids, for the embedding cache). Memory
therefore stays bounded however many events a window holds.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

NUMERIC_SAMPLE = 1_000_000
TEXT_SAMPLE = 5_000
MAX_CATEGORIES = 10_000  # beyond this, further new labels count as "(other)"


@dataclass
class BottomK:
    """A uniform sample without replacement of at most `k` items: those with the smallest random keys."""

    k: int
    keys: np.ndarray = field(default_factory=lambda: np.empty(0))
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    seen: int = 0

    def add(self, values: np.ndarray, ids: np.ndarray, rng: np.random.Generator) -> None:
        self.seen += len(values)
        keys = rng.random(len(values))
        self.keys = np.concatenate([self.keys, keys])
        self.values = np.concatenate([self.values, values]) if len(self.values) else np.asarray(values)
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        if len(self.keys) > self.k:
            keep = np.argpartition(self.keys, self.k)[:self.k]
            keep.sort()
            self.keys, self.values, self.ids = self.keys[keep], self.values[keep], self.ids[keep]


@dataclass
class SideSummary:
    label: str
    events: bool = False  # ids are InferenceEvent ids (embeddings are cached), not row positions
    rows: int = 0
    numbers: dict[str, BottomK] = field(default_factory=dict)
    counts: dict[str, Counter] = field(default_factory=dict)
    texts: dict[str, BottomK] = field(default_factory=dict)  # "prompt" / "output" -> sampled texts + ids

    def add_numbers(self, name: str, values: pd.Series, ids: np.ndarray, rng) -> None:
        present = values.notna().to_numpy()
        sample = self.numbers.setdefault(name, BottomK(NUMERIC_SAMPLE))
        sample.add(values.to_numpy(dtype=float)[present], ids[present], rng)

    def add_counts(self, name: str, values: pd.Series) -> None:
        counter = self.counts.setdefault(name, Counter())
        for label, n in values.dropna().astype(str).value_counts(sort=False).items():
            if label in counter or len(counter) < MAX_CATEGORIES:
                counter[label] += int(n)
            else:
                counter["(other)"] += int(n)

    def add_texts(self, name: str, values: pd.Series, ids: np.ndarray, rng) -> None:
        present = values.notna().to_numpy()
        sample = self.texts.setdefault(name, BottomK(TEXT_SAMPLE))
        sample.add(values.to_numpy(dtype=object)[present], ids[present], rng)

    def number_values(self, name: str) -> np.ndarray:
        return self.numbers[name].values if name in self.numbers else np.empty(0)

    def number_count(self, name: str) -> int:
        return self.numbers[name].seen if name in self.numbers else 0

    def text_values(self, name: str) -> list[str]:
        return [str(t) for t in self.texts[name].values] if name in self.texts else []
