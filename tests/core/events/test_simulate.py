"""The demo traffic: 60 days through log_events, deterministic, with the known shift from day 40."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import func
from sqlmodel import select

from core.events.simulate import SHIFT_DAY, load_bank, seed_traffic, simulate_traffic
from core.governance.roles import SYSTEM
from core.storage.tables import InferenceEvent

END = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)


def _share(events, test) -> float:
    return sum(1 for e in events if test(e)) / len(events)


def test_the_traffic_is_deterministic_and_shifts_on_day_40():
    events = simulate_traffic(end=END)
    again = simulate_traffic(end=END)
    assert [(e.event_id, e.time, e.output) for e in events] == [(e.event_id, e.time, e.output) for e in again]
    shift = datetime.combine((END - timedelta(days=60)).date(), datetime.min.time(), tzinfo=timezone.utc) \
        + timedelta(days=SHIFT_DAY)
    before = [e for e in events if e.time < shift]
    after = [e for e in events if e.time >= shift]
    assert 150 * 40 * 0.8 < len(before) < 300 * 40 and after
    assert {e.deployment_version for e in before} == {1} and {e.deployment_version for e in after} == {2}
    assert {e.deployment for e in events} == {"support-bot"}
    claims = _share(after, lambda e: e.metadata["segment"] == "claims")
    assert claims > 2 * _share(before, lambda e: e.metadata["segment"] == "claims")
    assert {"segment", "region", "product", "campaign"} <= set(events[0].metadata)

    def mean(values):
        values = list(values)
        return sum(values) / len(values)

    assert mean(e.tokens_in for e in after) > 1.2 * mean(e.tokens_in for e in before)
    assert mean(e.latency_s for e in after if e.status == "ok") > 1.3 * mean(e.latency_s for e in before
                                                                             if e.status == "ok")
    assert _share(after, lambda e: e.status != "ok") > 2 * _share(before, lambda e: e.status != "ok")
    rated_before = [e.feedback_score for e in before if e.feedback_score is not None]
    rated_after = [e.feedback_score for e in after if e.feedback_score is not None]
    assert mean(rated_after) < mean(rated_before) - 0.1
    answers = set(load_bank().values())
    assert all(e.output in answers for e in events if e.status == "ok")


def test_the_seed_logs_through_log_events_once(store):
    added = seed_traffic(store, actor=SYSTEM, now=END)
    assert added > 9000
    assert seed_traffic(store, actor=SYSTEM, now=END) == 0
    with store.read() as session:
        assert session.exec(select(func.count()).select_from(InferenceEvent)
                            .where(InferenceEvent.source == "demo")).one() == added
        versions = session.exec(select(InferenceEvent.deployment_version).distinct()).all()
    assert sorted(versions) == [1, 2]
