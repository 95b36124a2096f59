"""On the demo traffic, the day-40 change shows in the 'claims' segment (p95 up, thumbs-up down, cost up where the
model has a price), each significant, and one demo target fails with an alert."""
from datetime import datetime, timedelta, timezone

import pytest

from core.events import simulate
from core.events.log import log_events
from core.governance.roles import SYSTEM
from core.kpi import demo, significance, targets
from core.kpi.query import KpiFilter
from core.models import registry, sources
from core.monitoring import alerts


@pytest.mark.slow  # 60 days of simulated traffic (~12k events) and its rollups: ~30 s on a loaded 2-core machine
def test_the_day_40_change_is_significant_in_claims_and_a_demo_target_fails(store):
    model = simulate._chat_model_name()
    registry.register_model(store, actor=SYSTEM, name=model, kind="hf_local", task="chat", source="demo")
    sources.set_price(store, actor=SYSTEM, name=model, input_per_1k=0.5, output_per_1k=1.5)
    now = datetime.now(timezone.utc)
    log_events(store, simulate.simulate_traffic(end=now), source="demo")
    first_day = datetime.combine((now - timedelta(days=simulate.DAYS)).date(), datetime.min.time(),
                                 tzinfo=timezone.utc)
    shift = first_day + timedelta(days=simulate.SHIFT_DAY)
    after = KpiFilter(since=shift, until=shift + timedelta(days=simulate.DAYS - simulate.SHIFT_DAY),
                      where={"segment": "claims"})
    result = significance.compare_periods(store, actor=SYSTEM, filters=after)
    for name in ("latency_p95_s", "cost_per_1k_requests", "thumbs_up_rate"):
        change = result.change(name)
        assert change.significant and change.verdict == "worse", change
    assert result.change("latency_p95_s").change > 0 and result.change("thumbs_up_rate").change < 0

    made = demo.seed_kpi_targets(store, actor=SYSTEM)
    assert len(made) == len(demo.DEMO_TARGETS)
    assert demo.seed_kpi_targets(store, actor=SYSTEM) == [], "seeding again keeps what exists"
    failing = [s for s in targets.target_statuses(store, actor=SYSTEM) if s.status == "failing"]
    assert [s.target.kpi for s in failing] == ["thumbs_up_rate"]
    assert [a.source for a in alerts.list_alerts(store, actor=SYSTEM, kind="kpi")] == [f"kpi_target:{made[0]}"]
