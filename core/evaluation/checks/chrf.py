"""chrF of the output against the reference (sacrebleu sentence chrF, 0-100); passes at or above `threshold`."""
from core.evaluation.checks._metric import metric_runner
from core.evaluation.checks.base import Check

CHECK = Check("chrf", "chrF", "reference", __doc__, metric_runner("chrf", 40.0, "0-100"), needs_reference=True,
              defaults={"threshold": 40.0})
