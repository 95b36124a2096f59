"""Demo KPI targets on the demo traffic (core/events/simulate.py): one of them fails after the day-40 shift.

Seeded after the traffic, through the real calls: targets are set (audited, by the seeding admin) and checked once,
so the failing one is already in the alert list when the app opens.
"""
from __future__ import annotations

from core.governance.roles import Actor, Permission, require
from core.kpi import targets
from core.storage.db import Store

# (kpi, comparison, threshold, scope, window hours, severity, note)
DEMO_TARGETS = (
    ("thumbs_up_rate", "at_least", 0.65, {"segment": "claims"}, 24 * 7, "warning",
     "Claims customers should be happy with at least two answers in three."),
    ("latency_p95_s", "at_most", 8.0, {}, 24, "critical", "Answers within 8 s for 95% of the calls."),
    ("error_rate", "at_most", 0.10, {}, 24, "warning", "At most one call in ten fails."),
    ("cost_per_user", "at_most", 0.50, {}, 24, "warning", "Rolling rule: cost per end user over 24 h."),
)


def seed_kpi_targets(store: Store, *, actor: Actor) -> list[int]:
    """The demo targets, when there is none yet; then one check, which raises the failing target's alert."""
    require(actor, Permission.SEED_DEMO)
    if targets.list_targets(store, actor=actor):
        return []
    made = []
    for kpi, comparison, threshold, scope, window, severity, note in DEMO_TARGETS:
        made.append(targets.set_target(store, actor=actor, kpi=kpi, comparison=comparison, threshold=threshold,
                                       scope=scope, window_hours=window, severity=severity, note=note).id)
    targets.check_targets(store, actor=actor)
    return made
