"""BLEU of the output against the reference (sacrebleu sentence BLEU, 0-100); passes at or above `threshold`."""
from core.evaluation.checks._metric import metric_runner
from core.evaluation.checks.base import Check

CHECK = Check("bleu", "BLEU", "reference", __doc__, metric_runner("bleu", 20.0, "0-100"), needs_reference=True,
              defaults={"threshold": 20.0})
