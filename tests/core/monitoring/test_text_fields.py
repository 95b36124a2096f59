"""Text fields derived once per event: a second run reads the cache instead of the events' JSON, new events are
picked up, and token-count fields equal the bundled tokenizer's counts of each prompt and output."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import func, select, update

from core.data.textstats import token_lengths
from core.errors import InvalidInput
from core.events.log import log_events
from core.events.schema import EventIn
from core.governance.roles import SYSTEM, Actor, Role
from core.models import bundled
from core.monitoring import drift, monitors, runs
from core.monitoring.sources import parse_source
from core.storage.tables import EventTextStat, InferenceEvent
from tests.core.monitoring.traffic import log_traffic

SCIENTIST = Actor(name="dan", role=Role.DATA_SCIENTIST)


def _cached(store) -> dict[int, tuple]:
    with store.read() as session:
        rows = session.execute(select(EventTextStat.event_id, EventTextStat.prompt_chars, EventTextStat.prompt_words,
                                      EventTextStat.output_chars, EventTextStat.prompt_tokens))
        return {row[0]: tuple(row[1:]) for row in rows}


def _event_count(store) -> int:
    with store.read() as session:
        return session.execute(select(func.count()).select_from(InferenceEvent)).scalar()


def test_a_second_run_reads_the_cached_lengths_and_new_events_are_picked_up(store):
    log_traffic(store, days=7, shift_day=5)
    monitor = monitors.create_monitor(store, actor=SCIENTIST, name="lengths", min_windows=1,
                                      reference="events:2026-01-01..2026-01-04",
                                      fields=["prompt_chars", "prompt_words", "output_chars", "latency_s"])
    runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id)
    cached = _cached(store)
    assert len(cached) == _event_count(store) == 7 * 120
    with store.read() as session:
        first = session.execute(select(InferenceEvent.id, InferenceEvent.input).order_by(InferenceEvent.id)).first()
    prompt = first.input[-1]["content"]
    assert cached[first.id][:2] == (len(prompt), len(prompt.split()))
    assert cached[first.id][2] in {len(f"Here is how to handle your {t} case.") for t in ("billing", "claims", "login")}

    # The second run reads the cache, not the JSON: a cached length changed by hand shows in its results.
    with store.write() as session:
        session.execute(update(EventTextStat).values(prompt_chars=EventTextStat.prompt_chars + 1000)
                        .where(EventTextStat.event_id.in_(
                            select(InferenceEvent.id).where(InferenceEvent.time >= datetime(2026, 1, 7,
                                                                                           tzinfo=timezone.utc)))))
    runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id)
    chars = [p for p in runs.timeline(store, actor=SCIENTIST, monitor_id=monitor.id) if p.field == "prompt_chars"]
    assert chars[-1].window_start.day == 7 and chars[-1].details["quantiles"]["current"]["p50"] > 1000
    assert all(p.details["quantiles"]["current"]["p50"] < 1000 for p in chars[:-1])

    # Events of a new day get their text fields on the next run and form a new window.
    log_events(store, [EventIn(model="m", deployment="support-bot", time=datetime(2026, 1, 8, 9, tzinfo=timezone.utc)
                               + timedelta(minutes=i), input=[{"role": "user", "content": "word " * (i + 1)}],
                               output=None, latency_s=1.0) for i in range(30)], source="sdk")
    runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id)
    cached = _cached(store)
    assert len(cached) == _event_count(store) == 7 * 120 + 30
    new = [values for event_id, values in sorted(cached.items())[-30:]]
    assert [v[0] for v in new] == [len("word " * (i + 1)) for i in range(30)]
    assert [v[1] for v in new] == list(range(1, 31)) and {v[2] for v in new} == {None}  # no output
    points = runs.timeline(store, actor=SCIENTIST, monitor_id=monitor.id)
    eighth = [p for p in points if p.window_start.day == 8]
    assert {p.field for p in eighth} == {"prompt_chars", "prompt_words", "latency_s"}  # no output that day
    assert {p.current_size for p in eighth} == {30}


def test_events_without_a_user_message_or_output_have_no_length_and_do_not_count(store):
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    events = [EventIn(model="m", time=base + timedelta(hours=i), latency_s=1.0,
                      input=[{"role": "system", "content": "be brief"}] if i % 2 else {"prompt": f"complete {i}"},
                      output="two words" if i % 3 else None) for i in range(12)]
    log_events(store, events, source="sdk")
    report = drift.compare_sources(store, actor=SCIENTIST, reference=parse_source("events:2026-01-01..2026-01-02"),
                                   current=parse_source("events:2026-01-01..2026-01-02"),
                                   fields=["prompt_chars", "output_words"])
    sizes = {f.field: f.reference_size for f in report.fields}
    assert sizes == {"prompt_chars": 6, "output_words": 8}  # completions' prompts only; outputs where present


@pytest.mark.slow
def test_token_count_fields_equal_the_bundled_tokenizer_and_are_kept(models_store):
    store = models_store
    log_traffic(store, days=4, per_day=40, shift_day=2)
    with store.read() as session:
        rows = session.execute(select(InferenceEvent.id, InferenceEvent.time, InferenceEvent.input,
                                      InferenceEvent.output).order_by(InferenceEvent.id)).all()
    folder = str(bundled.store_path(store.settings.models_dir, bundled.CHAT_MODEL))
    prompts = token_lengths([r.input[-1]["content"] for r in rows], folder)
    outputs = token_lengths([r.output for r in rows], folder)
    split = datetime(2026, 1, 3, tzinfo=timezone.utc)
    before = [i for i, r in enumerate(rows) if r.time.replace(tzinfo=timezone.utc) < split]
    after = [i for i, r in enumerate(rows) if r.time.replace(tzinfo=timezone.utc) >= split]
    report = drift.compare_sources(store, actor=SCIENTIST, reference=parse_source("events:2026-01-01..2026-01-03"),
                                   current=parse_source("events:2026-01-03.."),
                                   fields=["prompt_tokens", "output_tokens"], tests={"prompt_tokens": "ks",
                                                                                     "output_tokens": "ks"})
    by_field = {f.field: f for f in report.fields}
    from scipy import stats

    expected = stats.ks_2samp(prompts[before], prompts[after])
    assert by_field["prompt_tokens"].p_value == pytest.approx(expected.pvalue)
    assert by_field["prompt_tokens"].drift_detected  # the prompts get longer from day 3
    assert by_field["prompt_tokens"].reference_size == len(before) and by_field["prompt_tokens"].current_size == len(after)
    assert by_field["output_tokens"].p_value == pytest.approx(stats.ks_2samp(outputs[before], outputs[after]).pvalue)
    cached = _cached(store)
    assert [cached[r.id][3] for r in rows] == [int(n) for n in prompts]
    with store.read() as session:
        kept = dict(session.execute(select(EventTextStat.event_id, EventTextStat.output_tokens)).all())
    assert [kept[r.id] for r in rows] == [int(n) for n in outputs]
    again = drift.compare_sources(store, actor=SCIENTIST, reference=parse_source("events:2026-01-01..2026-01-03"),
                                  current=parse_source("events:2026-01-03.."), fields=["prompt_tokens"],
                                  tests={"prompt_tokens": "ks"})
    assert again.fields[0].p_value == by_field["prompt_tokens"].p_value
    assert np.isfinite(again.fields[0].statistic)


def test_token_counts_need_the_bundled_tokenizer(store):
    log_traffic(store, days=2, per_day=10)
    if bundled.is_installed(store.settings.models_dir, bundled.CHAT_MODEL):
        pytest.skip("this home has the bundled chat model")
    with pytest.raises(InvalidInput, match="tokenizer"):
        drift.compare_sources(store, actor=SYSTEM, reference=parse_source("events:2026-01-01..2026-01-02"),
                              current=parse_source("events:2026-01-02.."), fields=["prompt_tokens"])
