"""Share of current values whose category never occurs in the reference."""
from __future__ import annotations

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, counts, fmt


@register("new_categories", label="New-category share", kinds=("categorical",), score="distance", threshold=0.05,
          help="Share of current values unseen in the reference; drift at or above the threshold.")
def new_categories(reference, current, *, threshold: float) -> DriftResult:
    ref, cur = counts(reference), counts(current)
    total = sum(cur.values())
    new = {k: v for k, v in cur.items() if k not in ref}
    share = sum(new.values()) / total if total else 0.0
    drift = share >= threshold
    top = sorted(new, key=new.get, reverse=True)[:5]
    return DriftResult(test="new_categories", statistic=share, p_value=None, threshold=threshold, drift_detected=drift,
                       reference_size=sum(ref.values()), current_size=total,
                       sentence=f"{share:.1%} of current values are categories the reference never had"
                                + (f" ({len(new)} new)." if new else "."),
                       details={"new_categories": {k: new[k] for k in top}})
