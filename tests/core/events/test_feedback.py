"""End-user feedback onto an event, by its event id or the server's response id; audited."""
import pytest

from core.errors import InvalidInput, NotFound, PermissionDenied
from core.events.feedback import record_feedback
from core.events.log import log_events
from core.events.query import get_event
from core.events.schema import EventIn
from core.governance import audit
from core.governance.roles import SYSTEM, Actor, Role


@pytest.mark.postgres
def test_feedback_by_event_id_and_by_response_id_is_stored_and_audited(any_store):
    log_events(any_store, [EventIn(model="m", input="a", event_id="evt_one"),
                           EventIn(model="m", input="b", response_id="chatcmpl-xyz")])
    record_feedback(any_store, actor=SYSTEM, event_id="evt_one", score=1.0, comment="great")
    by_response = record_feedback(any_store, actor=SYSTEM, response_id="chatcmpl-xyz", score=0)
    one = get_event(any_store, actor=SYSTEM, event_id="evt_one")
    assert (one.feedback_score, one.feedback_comment) == (1.0, "great") and one.feedback_at is not None
    assert by_response.feedback_score == 0.0
    again = record_feedback(any_store, actor=SYSTEM, event_id="evt_one", score=0.0)
    assert again.feedback_score == 0.0 and again.feedback_comment is None
    rows = audit.list_events(any_store, actor=SYSTEM, filters=audit.AuditFilter(action="event.feedback"))
    assert [(r.target_id, r.after["feedback_score"]) for r in rows][:1] == [("evt_one", 0.0)]
    assert rows[0].before == {"feedback_score": 1.0, "feedback_comment": "great"}
    assert len(rows) == 3


def test_feedback_needs_one_known_event_a_number_and_the_right(store):
    log_events(store, [EventIn(model="m", input="a", event_id="evt_one")])
    with pytest.raises(NotFound, match="no event 'evt_two'"):
        record_feedback(store, actor=SYSTEM, event_id="evt_two", score=1)
    with pytest.raises(NotFound, match="response id 'chatcmpl-none'"):
        record_feedback(store, actor=SYSTEM, response_id="chatcmpl-none", score=1)
    with pytest.raises(InvalidInput, match="one of them"):
        record_feedback(store, actor=SYSTEM, score=1)
    with pytest.raises(InvalidInput, match="must be a number"):
        record_feedback(store, actor=SYSTEM, event_id="evt_one", score="good")
    with pytest.raises(PermissionDenied):
        record_feedback(store, actor=Actor(name="vic", role=Role.VIEWER), event_id="evt_one", score=1)
    assert get_event(store, actor=SYSTEM, event_id="evt_one").feedback_score is None
