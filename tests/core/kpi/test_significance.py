"""Significance markers: present for a real change between versions or periods, absent on an A/A split."""
import dataclasses
import random
from datetime import timedelta

import pytest

from core.errors import InvalidInput
from core.governance.roles import Actor, Role
from core.kpi import significance
from core.kpi.query import KpiFilter
from tests.core.kpi import events as ev

VIEWER = Actor(name="vic", role=Role.VIEWER)


def test_the_z_test_matches_the_textbook_value():
    # pooled p = 0.6, se = sqrt(0.24 * 0.02), z = 2.8868 -> two-sided p = 0.00389
    assert significance.two_proportion_test(50, 100, 70, 100) == pytest.approx(0.003892, abs=1e-6)
    assert significance.two_proportion_test(0, 10, 0, 10) == 1.0
    assert significance.two_proportion_test(1, 0, 1, 10) is None


def test_no_marker_on_an_a_a_split(any_store):
    events = ev.make_events(1500, seed=11, versions=(1,))
    for index, event in enumerate(events):
        event.deployment, event.deployment_version = "support-bot", 1 + index % 2
    ev.log(any_store, events)
    result = significance.compare_versions(any_store, actor=VIEWER, filters=KpiFilter(), deployment="support-bot",
                                           version_a=1, version_b=2)
    tested = [c for c in result.changes if c.test]
    assert {c.kpi for c in tested} >= {"error_rate", "thumbs_up_rate", "latency_p95_s", "cost_per_1k_requests"}
    assert all(c.n_a > 0 and c.n_b > 0 for c in tested)
    assert not [c.kpi for c in result.changes if c.significant]
    assert all(c.verdict is None for c in result.changes)


def test_a_worse_version_is_flagged_with_sample_sizes(any_store):
    rng = random.Random(3)
    events = ev.make_events(2000, seed=5, versions=(1,))
    for index, event in enumerate(events):
        event.deployment = "support-bot"
        if index % 2:
            event.deployment_version = 2
            if event.latency_s is not None:
                event.latency_s *= 1.6
            if event.cost is not None:
                event.cost *= 1.5
            if event.feedback_score is not None:
                event.feedback_score = 1.0 if rng.random() < 0.25 else 0.0
    ev.log(any_store, events)
    result = significance.compare_versions(any_store, actor=VIEWER, filters=KpiFilter(), deployment="support-bot",
                                           version_a=1, version_b=2)
    for name in ("latency_p95_s", "latency_p50_s", "cost_per_1k_requests", "thumbs_up_rate"):
        change = result.change(name)
        assert change.significant and change.verdict == "worse", change
        assert change.p_value < significance.ALPHA and change.n_a > 100 and change.n_b > 100
    assert result.change("thumbs_up_rate").n_a == sum(1 for e in events[::2] if e.feedback_score is not None)
    assert not result.change("requests").significant and result.change("requests").test is None


def test_period_over_period_uses_the_period_just_before(store):
    first = ev.make_events(400, seed=1, days=7)
    later = [dataclasses.replace(e, time=e.time + timedelta(days=7), latency_s=e.latency_s * 2 if e.latency_s else None)
             for e in ev.make_events(400, seed=2, days=7)]
    ev.log(store, first + later)
    period = KpiFilter(since=ev.START + timedelta(days=7), until=ev.START + timedelta(days=14))
    result = significance.compare_periods(store, actor=VIEWER, filters=period)
    assert result.a.since == ev.START and result.a.until == period.since
    assert result.change("requests").a == 400 and result.change("requests").b == 400
    assert result.change("latency_p95_s").significant and result.change("latency_p95_s").verdict == "worse"
    with pytest.raises(InvalidInput, match="start and an end"):
        significance.compare_periods(store, actor=VIEWER, filters=KpiFilter())
