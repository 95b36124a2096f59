"""Metrics for the prompt/model comparison grid: each model output scored against a reference column.

BLEU and chrF (sacrebleu), ROUGE-1/2/L (rouge-score) go through Hugging Face `evaluate` modules shipped
in `core/metrics/modules` and loaded by path, so they work offline; exact match, length and readability
are small local functions. Importing this package is light: `evaluate` is imported on the first score.
"""
from core.metrics.registry import METRICS, PRESETS, ROUGE_USE_STEMMER, Metric
from core.metrics.scores import score_corpus, score_pairs
from core.metrics.text import flesch_reading_ease, normalise_answer

__all__ = [
    "METRICS",
    "PRESETS",
    "ROUGE_USE_STEMMER",
    "Metric",
    "flesch_reading_ease",
    "normalise_answer",
    "score_corpus",
    "score_pairs",
]
