"""The demo monitor finds the traffic's shift and opens one alert; seeding again keeps it."""
from core.governance.roles import SYSTEM
from core.monitoring import alerts, demo, monitors, runs
from tests.core.monitoring.traffic import log_traffic


def test_the_demo_monitor_finds_the_shift_and_opens_one_alert(store):
    assert demo.seed_monitor(store, actor=SYSTEM) is None  # no traffic yet: nothing to watch
    log_traffic(store, days=34, per_day=60, shift_day=30)
    monitor_id = demo.seed_monitor(store, actor=SYSTEM)
    run = runs.latest_run(store, actor=SYSTEM, monitor_id=monitor_id)
    assert {"meta.topic", "prompt_chars", "latency_s"} <= set(run.drifted_fields)
    assert run.summary.startswith("Since 31 Jan,") and "'claims'" in run.summary
    points = [p for p in runs.timeline(store, actor=SYSTEM, monitor_id=monitor_id) if p.field == "prompt_chars"]
    assert [p.drift_detected for p in points][-4:] == [True] * 4 and points[0].window_start.day == 29
    assert len(alerts.list_alerts(store, actor=SYSTEM, status="active")) == 1
    assert demo.seed_monitor(store, actor=SYSTEM) == monitor_id
    assert len(monitors.list_monitors(store, actor=SYSTEM)) == 1
