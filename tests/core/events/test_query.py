"""Who reads events: data scientists everything, viewers no text, annotators nothing."""
import pytest

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.events.log import log_events
from core.events.query import EventFilter, get_event, list_events, parse_time, parse_where
from core.events.schema import EventIn


def test_viewers_never_get_input_or_output_text_and_annotators_get_nothing(store, people):
    log_events(store, [EventIn(model="m", input="my card number is 4242", output="secret answer", error=None,
                               metadata={"segment": "claims"})])
    scientist = people[next(r for r in people if r.value == "data_scientist")].as_actor()
    viewer = people[next(r for r in people if r.value == "viewer")].as_actor()
    annotator = people[next(r for r in people if r.value == "annotator")].as_actor()
    [full] = list_events(store, actor=scientist)
    assert full.output == "secret answer" and full.prompt == "my card number is 4242"
    [hidden] = list_events(store, actor=viewer)
    assert hidden.input is None and hidden.output is None and hidden.text_hidden
    assert hidden.metadata == {"segment": "claims"}
    assert "secret" not in str(hidden.to_dict()) and "4242" not in str(hidden.to_dict())
    assert get_event(store, actor=viewer, event_id=full.event_id).output is None
    with pytest.raises(PermissionDenied):
        list_events(store, actor=annotator)
    with pytest.raises(PermissionDenied):
        get_event(store, actor=annotator, event_id=full.event_id)
    with pytest.raises(NotFound):
        get_event(store, actor=scientist, event_id="evt_missing")


def test_filters_refuse_bad_values_in_one_sentence():
    with pytest.raises(InvalidInput, match="not an event status"):
        EventFilter(status="fine")
    with pytest.raises(InvalidInput, match="limit must be a whole number"):
        EventFilter(limit=0)
    with pytest.raises(InvalidInput, match="not a metadata filter"):
        parse_where(["segment"])
    with pytest.raises(InvalidInput, match="not a metadata key"):
        EventFilter(where={"a'b": "x"})
    with pytest.raises(InvalidInput, match="is not a date or time"):
        parse_time("last tuesday", "--since")
    assert parse_where(["segment=claims", "region = EU"]) == {"segment": "claims", "region": "EU"}
    assert parse_time("2026-11-01Z", "--since").isoformat() == "2026-11-01T00:00:00+00:00"
