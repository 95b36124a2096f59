"""The registered metrics: each one small scorer under a name, with its label, direction and scale."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from core.metrics import text

# ROUGE with the Porter stemmer ("models" matches "model"), as summarisation work usually reports it.
ROUGE_USE_STEMMER = True


@dataclass(frozen=True)
class Metric:
    """One registered metric.

    `backend` is a shipped `evaluate` module (see core.metrics.backends) computing the metric from
    `key` of its result, or "local" for a pure per-row function `row(output, reference)`.
    """

    name: str
    label: str
    needs_reference: bool
    higher_is_better: bool
    description: str
    scale: str
    backend: str
    key: str = ""
    row: Callable[[str, str | None], float | None] | None = field(default=None, repr=False, compare=False)


def _length(output: str, reference: str | None) -> float:
    return float(text.word_count(output))


def _readability(output: str, reference: str | None) -> float | None:
    return text.flesch_reading_ease(output)


def _exact_match(output: str, reference: str | None) -> float:
    assert reference is not None
    return text.exact_match(output, reference)


_ALL = (
    Metric("bleu", "BLEU", True, True,
           "sacrebleu BLEU: sentence BLEU per row, corpus BLEU over the rows with a reference.",
           "0-100", "sacrebleu_bleu", "score"),
    Metric("chrf", "chrF", True, True,
           "sacrebleu chrF: sentence chrF per row, corpus chrF over the rows with a reference.",
           "0-100", "sacrebleu_chrf", "score"),
    Metric("rouge1", "ROUGE-1", True, True,
           "rouge-score ROUGE-1 F-measure (unigrams, stemmed); the corpus value is the mean of the rows.",
           "0-1", "rouge_f", "rouge1"),
    Metric("rouge2", "ROUGE-2", True, True,
           "rouge-score ROUGE-2 F-measure (bigrams, stemmed); the corpus value is the mean of the rows.",
           "0-1", "rouge_f", "rouge2"),
    Metric("rougeL", "ROUGE-L", True, True,
           "rouge-score ROUGE-L F-measure (longest common subsequence, stemmed); the corpus value is the mean.",
           "0-1", "rouge_f", "rougeL"),
    Metric("exact_match", "Exact match", True, True,
           "1 when output and reference are equal after trimming, collapsing whitespace and ignoring case "
           "(Unicode NFC); the corpus value is the share of matches.",
           "0-1", "local", row=_exact_match),
    # Length has no better direction; higher_is_better is False only because the field is a bool.
    Metric("length_words", "Length (words)", False, False,
           "Number of whitespace-separated words in the output; the corpus value is the mean.",
           "words", "local", row=_length),
    Metric("readability", "Readability", False, True,
           "Flesch reading ease of the output (higher is easier; English syllable heuristic); "
           "empty for an output without words; the corpus value is the mean.",
           "Flesch reading ease", "local", row=_readability),
)

METRICS: dict[str, Metric] = {metric.name: metric for metric in _ALL}

PRESETS: dict[str, list[str]] = {
    "reference": ["bleu", "chrf", "rouge1", "rouge2", "rougeL", "exact_match"],
    "basic": ["length_words", "readability"],
}
