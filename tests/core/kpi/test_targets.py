"""KPI targets: audited changes, status with since-when, and a failing target raising one "kpi" alert."""
import dataclasses
from datetime import timedelta

import pytest

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Role
from core.kpi import targets
from core.monitoring import alerts
from tests.core.kpi import events as ev

MANAGER = Actor(name="vic", role=Role.VIEWER)
NOW = ev.START + timedelta(days=14)


def _traffic(store):
    """Two weeks: claims gets slow in the second week, billing stays fast."""
    events = []
    for event in ev.make_events(1400, seed=9, days=14):
        slow = event.metadata["segment"] == "claims" and event.time >= ev.START + timedelta(days=7)
        if slow and event.latency_s is not None:
            event = dataclasses.replace(event, latency_s=event.latency_s + 5.0)
        events.append(event)
    ev.log(store, events)
    return events


def test_setting_changing_and_removing_a_target_is_audited(store):
    made = targets.set_target(store, actor=MANAGER, kpi="latency_p95_s", comparison="at_most", threshold=2.0,
                              scope={"segment": "claims"})
    changed = targets.set_target(store, actor=MANAGER, kpi="latency_p95_s", comparison="at_most", threshold=3.0,
                                 scope={"segment": "claims"}, severity="critical")
    assert changed.id == made.id and changed.threshold == 3.0 and changed.severity == "critical"
    other = targets.set_target(store, actor=MANAGER, kpi="latency_p95_s", comparison="at_most", threshold=2.0)
    assert other.id != made.id
    assert [t.id for t in targets.list_targets(store, actor=MANAGER)] == [made.id, other.id]
    targets.remove_target(store, actor=MANAGER, target_id=made.id)
    assert [t.id for t in targets.list_targets(store, actor=MANAGER)] == [other.id]
    trail = audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(target_type="kpi_target"))
    assert [(e.action, e.actor) for e in reversed(trail)] == [
        ("kpi_target.create", "vic"), ("kpi_target.update", "vic"), ("kpi_target.create", "vic"),
        ("kpi_target.remove", "vic")]
    assert trail[-2].before["threshold"] == 2.0 and trail[-2].after["threshold"] == 3.0
    with pytest.raises(NotFound):
        targets.remove_target(store, actor=MANAGER, target_id=made.id)


def test_bad_targets_and_roles_are_refused(store):
    with pytest.raises(InvalidInput, match="not a KPI"):
        targets.set_target(store, actor=MANAGER, kpi="happiness", comparison="at_most", threshold=1)
    with pytest.raises(InvalidInput, match="comparison"):
        targets.set_target(store, actor=MANAGER, kpi="cost", comparison="below", threshold=1)
    with pytest.raises(InvalidInput, match="window"):
        targets.set_target(store, actor=MANAGER, kpi="cost", comparison="at_most", threshold=1, window_hours=0)
    with pytest.raises(PermissionDenied):
        targets.set_target(store, actor=Actor(name="ann", role=Role.ANNOTATOR), kpi="cost", comparison="at_most",
                           threshold=1)


def test_a_failing_target_says_since_when_and_raises_one_alert(store):
    _traffic(store)
    failing = targets.set_target(store, actor=MANAGER, kpi="latency_p95_s", comparison="at_most", threshold=4.0,
                                 scope={"segment": "claims"}, window_hours=48)
    met = targets.set_target(store, actor=MANAGER, kpi="latency_p95_s", comparison="at_most", threshold=4.0,
                             scope={"segment": "billing"}, window_hours=48)
    rule = targets.set_target(store, actor=MANAGER, kpi="cost_per_user", comparison="at_most", threshold=0.0001,
                              window_hours=24, severity="critical")
    statuses = {s.target.id: s for s in targets.check_targets(store, actor=MANAGER, now=NOW)}
    assert statuses[failing.id].status == "failing" and statuses[failing.id].value > 4.0
    assert statuses[failing.id].since == ev.START + timedelta(days=7)
    assert statuses[met.id].status == "met" and statuses[met.id].since == ev.START
    assert statuses[rule.id].status == "failing"
    open_alerts = alerts.list_alerts(store, actor=SYSTEM, kind="kpi")
    assert {a.source for a in open_alerts} == {f"kpi_target:{failing.id}", f"kpi_target:{rule.id}"}
    assert {a.severity for a in open_alerts} == {"warning", "critical"}
    targets.check_targets(store, actor=MANAGER, now=NOW)
    assert len(alerts.list_alerts(store, actor=SYSTEM, kind="kpi")) == 2, "no second alert for the same target"


def test_a_target_without_traffic_has_no_data(store):
    target = targets.set_target(store, actor=MANAGER, kpi="thumbs_up_rate", comparison="at_least", threshold=0.8)
    (status,) = targets.target_statuses(store, actor=MANAGER, now=NOW)
    assert status.target.id == target.id and status.status == "no data" and status.since is None
