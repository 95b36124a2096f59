"""End-user feedback on live traffic: thumbs up/down (1.0/0.0) or a score, onto one event."""
from __future__ import annotations

import math

from sqlmodel import col, select

from core.errors import InvalidInput, NotFound
from core.events.query import EventInfo
from core.events.schema import utcnow
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import InferenceEvent


def record_feedback(store: Store, *, actor: Actor, event_id: str | None = None, response_id: str | None = None,
                    score: float, comment: str | None = None) -> EventInfo:
    """Sets the end user's feedback on the event named by `event_id` or by the server's `response_id`; audited.

    Feedback given again replaces the earlier one (the audit row keeps what it was).
    """
    require(actor, Permission.INGEST_EVENTS)
    if (event_id is None) == (response_id is None):
        raise InvalidInput("Name the event by its event_id or by the response_id the server returned (one of them).")
    if isinstance(score, bool):
        score = float(score)
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        raise InvalidInput(f"Feedback must be a number (1 for thumbs up, 0 for thumbs down, or a score), not {score!r}.")
    if comment is not None and len(comment) > 10_000:
        raise InvalidInput("A feedback comment may be at most 10,000 characters.")
    with store.write() as session:
        query = select(InferenceEvent)
        query = query.where(InferenceEvent.event_id == event_id) if event_id else \
            query.where(InferenceEvent.response_id == response_id)
        row = session.exec(query.order_by(col(InferenceEvent.id))).first()
        if row is None:
            named = f"event '{event_id}'" if event_id else f"event with response id '{response_id}'"
            raise NotFound(f"There is no {named}.")
        before = {"feedback_score": row.feedback_score, "feedback_comment": row.feedback_comment}
        row.feedback_score = float(score)
        row.feedback_comment = comment
        row.feedback_at = utcnow()
        session.add(row)
        audit.record(session=session, actor=actor, action="event.feedback", target_type="event",
                     target_id=row.event_id, before=before,
                     after={"feedback_score": float(score), "feedback_comment": comment})
        session.flush()
        return EventInfo.of(row, with_text=actor.can(Permission.VIEW_EVENTS))
