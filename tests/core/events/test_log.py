"""log_events: the bulk write applications call, on SQLite and PostgreSQL; cost from the price table."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import func, select

from core.errors import InvalidInput
from core.events.log import log_events
from core.events.query import EventFilter, list_events
from core.events.schema import EventIn
from core.governance.roles import SYSTEM
from core.models import registry
from core.storage.tables import InferenceEvent

START = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _events(n=300):
    return [EventIn(model="bot-a" if i % 3 else "bot-b", time=START + timedelta(minutes=i),
                    input=[{"role": "user", "content": f"question {i}"}], output=f"answer {i}",
                    deployment="support-bot", deployment_version=1 if i < 200 else 2,
                    application="helpdesk" if i % 2 else "web", user_id=f"u{i % 7}", latency_s=0.1 * (i % 5),
                    tokens_in=10, tokens_out=20, status="error" if i % 50 == 0 else "ok",
                    metadata={"segment": "claims" if i % 4 == 0 else "billing", "region": "EU"})
            for i in range(n)]


@pytest.mark.postgres
def test_a_bulk_log_lands_every_event_and_filters_find_them(any_store):
    events = _events()
    assert log_events(any_store, events, source="sdk") == 300
    assert len({e.event_id for e in events}) == 300 and all(e.event_id.startswith("evt_") for e in events)
    with any_store.read() as session:
        assert session.exec(select(func.count()).select_from(InferenceEvent)).one() == 300

    def ids(**filters):
        return {e.output for e in list_events(any_store, actor=SYSTEM, filters=EventFilter(limit=1000, **filters))}

    assert len(ids()) == 300
    assert ids(model="bot-b") == {f"answer {i}" for i in range(0, 300, 3)}
    assert ids(where={"segment": "claims"}) == {f"answer {i}" for i in range(0, 300, 4)}
    assert ids(where={"segment": "claims"}, application="web") == {f"answer {i}" for i in range(0, 300, 4)}
    assert ids(status="error") == {f"answer {i}" for i in range(0, 300, 50)}
    window = ids(since=START + timedelta(minutes=10), until=START + timedelta(minutes=20))
    assert window == {f"answer {i}" for i in range(10, 20)}
    newest = list_events(any_store, actor=SYSTEM, filters=EventFilter(limit=2, deployment="support-bot"))
    assert [e.output for e in newest] == ["answer 299", "answer 298"]
    assert newest[0].time == START + timedelta(minutes=299) and newest[0].time.tzinfo is not None
    assert newest[0].metadata == {"segment": "billing", "region": "EU"} and newest[0].source == "sdk"
    assert newest[0].input == [{"role": "user", "content": "question 299"}]
    assert newest[0].event_id == events[299].event_id and newest[0].deployment_version == 2


@pytest.mark.postgres
def test_cost_comes_from_the_models_price_table_unless_given(any_store):
    registry.register_model(any_store, actor=SYSTEM, name="priced", kind="openai", task="chat", source="x",
                            details={"info": {"price": {"input_per_1k": 1.0, "output_per_1k": 2.0}}})
    log_events(any_store, [
        EventIn(model="priced", input="a", tokens_in=1000, tokens_out=500, output="computed"),
        EventIn(model="priced", input="b", tokens_in=1000, tokens_out=500, cost=0.5, output="given"),
        EventIn(model="unknown", input="c", tokens_in=1000, tokens_out=500, output="unpriced"),
    ])
    costs = {e.output: e.cost for e in list_events(any_store, actor=SYSTEM)}
    assert costs == {"computed": pytest.approx(2.0), "given": 0.5, "unpriced": None}


def test_a_bad_event_is_named_and_nothing_of_the_batch_is_written(store):
    events = _events(3) + [EventIn(model="m", input="x", status="maybe")]
    with pytest.raises(InvalidInput, match="Event 4: 'status' must be one of ok, error, rate_limited"):
        log_events(store, events)
    with pytest.raises(InvalidInput, match="Event 1: 'model' is required"):
        log_events(store, [EventIn(input="x")])
    with pytest.raises(InvalidInput, match="'tokens_in' must be a whole number"):
        log_events(store, [EventIn(model="m", input="x", tokens_in=-1)])
    assert list_events(store, actor=SYSTEM) == []


def test_text_input_becomes_a_user_message_and_a_prompt_object_stays(store):
    log_events(store, [EventIn(model="m", input="hello", time=START),
                       EventIn(model="m", input={"prompt": "complete me"}, time=START + timedelta(seconds=1))])
    older, newer = reversed(list_events(store, actor=SYSTEM))
    assert older.input == [{"role": "user", "content": "hello"}] and older.prompt == "hello"
    assert newer.input == {"prompt": "complete me"} and newer.prompt == "complete me"
