"""Rating: an annotator's queue, one item at a time, and answers stored once per (item, annotator, question).

Every answer is an upsert on the unique (item, annotator, question) index: the first write inserts, any later
one (a changed answer, a double click, the same line sent twice, two processes at once) updates that row in place
and adds an audit row only when the value changed. On SQLite each write transaction starts with BEGIN IMMEDIATE
(core/storage/db.py), so writers queue instead of failing; on PostgreSQL the insert is ON CONFLICT DO NOTHING and
the row is then locked and updated, so two sessions racing on the same answer make one row.

Annotators see an item's responses in their own shuffled order; values are stored in the item's order
(core/feedback/schema.py), and shown back in the annotator's order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case
from sqlmodel import Session, col, func, select

from core.errors import Conflict, InvalidInput, NotFound
from core.feedback.projects import ProjectInfo, _find, _info, _is_assigned
from core.feedback.schema import Question, to_shown, to_stored
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import AnnotationAssignment, AnnotationItem, AnnotationProject, Rating, utcnow

STATUSES = ("pending", "done", "skipped", "flagged")
MAX_SECONDS = 3600.0  # time on one item counted at most (a tab left open over lunch is not work)
STREAK_GAP = timedelta(minutes=10)


@dataclass(frozen=True)
class QueueItem:
    """One item as one annotator sees it: responses in their order, no model names, only their own answers."""

    item_id: int
    position: int
    prompt: list[dict[str, Any]]
    responses: list[str]  # shown order
    status: str
    answers: dict[str, Any]  # question -> value as shown to this annotator
    note: str | None
    order: list[int] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {"item": self.item_id, "position": self.position, "prompt": _prompt_text(self.prompt),
               "messages": self.prompt, "status": self.status, "answers": self.answers, "note": self.note}
        if len(self.responses) == 1:
            out["response"] = self.responses[0]
        else:
            out["responses"] = {chr(65 + i): text for i, text in enumerate(self.responses)}
        return out


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    """The last user turn: what the annotator reads as 'the prompt'."""
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    return str(users[-1]) if users else ""


@dataclass(frozen=True)
class Progress:
    total: int
    done: int
    skipped: int
    flagged: int
    streak: int  # items finished one after another (no pause over 10 minutes), ending with the latest
    per_hour: float | None  # items an hour over that streak
    median_seconds: float | None

    @property
    def pending(self) -> int:
        return self.total - self.done - self.skipped - self.flagged

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "done": self.done, "pending": self.pending, "skipped": self.skipped,
                "flagged": self.flagged, "streak": self.streak, "per_hour": self.per_hour,
                "median_seconds": self.median_seconds}


# --- reading the queue ------------------------------------------------------------------------------------

def _project_for_annotator(session: Session, actor: Actor, project: str | int) -> AnnotationProject:
    require(actor, Permission.ANNOTATE)
    row = _find(session, project)
    if not _is_assigned(session, row.id, actor.name):
        raise NotFound(f"Project '{row.name}' has no items for {actor.name} to rate.")
    return row


def _queue_item(item: AnnotationItem, assignment: AnnotationAssignment, answers: dict[str, Any],
                questions: list[Question]) -> QueueItem:
    order = list(assignment.order)
    by_name = {q.name: q for q in questions}
    shown = {name: to_shown(by_name[name], value, order) for name, value in answers.items() if name in by_name}
    return QueueItem(item_id=item.id, position=item.position, prompt=list(item.prompt),
                     responses=[str(item.responses[i].get("text") or "") for i in order], status=assignment.status,
                     answers=shown, note=assignment.note, order=order)


def _answers(session: Session, item_ids: list[int], annotator: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for chunk in range(0, len(item_ids), 1000):
        for item_id, question, value in session.exec(select(Rating.item_id, Rating.question, Rating.value).where(
                col(Rating.item_id).in_(item_ids[chunk:chunk + 1000]), Rating.annotator == annotator)):
            out.setdefault(item_id, {})[question] = value
    return out


_QUEUE_ORDER = case((AnnotationAssignment.status == "pending", 0), (AnnotationAssignment.status == "skipped", 1),
                    else_=2)


def queue(store: Store, *, actor: Actor, project: str | int, include_done: bool = False,
          limit: int | None = None) -> list[QueueItem]:
    """The acting annotator's items: pending first, then skipped; with include_done also the rated and flagged."""
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        questions = _info(row).questions
        query = select(AnnotationAssignment, AnnotationItem).join(
            AnnotationItem, AnnotationItem.id == AnnotationAssignment.item_id).where(
            AnnotationAssignment.project_id == row.id, AnnotationAssignment.annotator == actor.name)
        if include_done:
            query = query.order_by(AnnotationAssignment.position)
        else:
            query = query.where(col(AnnotationAssignment.status).in_(("pending", "skipped"))).order_by(
                _QUEUE_ORDER, AnnotationAssignment.position)
        if limit:
            query = query.limit(limit)
        pairs = session.exec(query).all()
        answers = _answers(session, [item.id for _, item in pairs], actor.name)
        return [_queue_item(item, a, answers.get(item.id, {}), questions) for a, item in pairs]


def next_item(store: Store, *, actor: Actor, project: str | int, after: int | None = None) -> QueueItem | None:
    """The next item to rate: the first pending one after position `after` (wrapping round), then skipped ones."""
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        base = select(AnnotationAssignment).where(AnnotationAssignment.project_id == row.id,
                                                  AnnotationAssignment.annotator == actor.name)
        assignment = None
        if after is not None:
            assignment = session.exec(base.where(AnnotationAssignment.status == "pending",
                                                 AnnotationAssignment.position > after)
                                      .order_by(AnnotationAssignment.position).limit(1)).first()
        if assignment is None:
            assignment = session.exec(base.where(col(AnnotationAssignment.status).in_(("pending", "skipped")))
                                      .order_by(_QUEUE_ORDER, AnnotationAssignment.position).limit(1)).first()
        if assignment is None:
            return None
        item = session.get(AnnotationItem, assignment.item_id)
        answers = _answers(session, [item.id], actor.name).get(item.id, {})
        return _queue_item(item, assignment, answers, _info(row).questions)


def get_item(store: Store, *, actor: Actor, project: str | int, item_id: int) -> QueueItem:
    """One item of the acting annotator's queue (to go back to it and change an answer)."""
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        assignment = _assignment(session, row, actor, item_id)
        item = session.get(AnnotationItem, item_id)
        answers = _answers(session, [item_id], actor.name).get(item_id, {})
        return _queue_item(item, assignment, answers, _info(row).questions)


def previous_item(store: Store, *, actor: Actor, project: str | int, before: int) -> QueueItem | None:
    """The item rated (or skipped, flagged) most recently before position `before` in the queue's order."""
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        assignment = session.exec(select(AnnotationAssignment).where(
            AnnotationAssignment.project_id == row.id, AnnotationAssignment.annotator == actor.name,
            AnnotationAssignment.status != "pending", AnnotationAssignment.position < before)
            .order_by(col(AnnotationAssignment.position).desc()).limit(1)).first()
        if assignment is None:
            assignment = session.exec(select(AnnotationAssignment).where(
                AnnotationAssignment.project_id == row.id, AnnotationAssignment.annotator == actor.name,
                col(AnnotationAssignment.done_at).is_not(None))
                .order_by(col(AnnotationAssignment.done_at).desc()).limit(1)).first()
            if assignment is None or assignment.position == before:
                return None
        item = session.get(AnnotationItem, assignment.item_id)
        answers = _answers(session, [item.id], actor.name).get(item.id, {})
        return _queue_item(item, assignment, answers, _info(row).questions)


def progress(store: Store, *, actor: Actor, project: str | int) -> Progress:
    """How far the acting annotator is, with their current streak and pace."""
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        return _progress(session, row.id, actor.name)


def _progress(session: Session, project_id: int, annotator: str) -> Progress:
    counts = dict(session.exec(select(AnnotationAssignment.status, func.count()).where(
        AnnotationAssignment.project_id == project_id, AnnotationAssignment.annotator == annotator)
        .group_by(AnnotationAssignment.status)).all())
    recent = session.exec(select(AnnotationAssignment.done_at, AnnotationAssignment.seconds).where(
        AnnotationAssignment.project_id == project_id, AnnotationAssignment.annotator == annotator,
        col(AnnotationAssignment.done_at).is_not(None)).order_by(col(AnnotationAssignment.done_at).desc())
        .limit(500)).all()
    streak, per_hour = 0, None
    if recent:
        streak = 1
        for (later, _), (earlier, _) in zip(recent, recent[1:]):
            if later - earlier > STREAK_GAP:
                break
            streak += 1
        span = (recent[0][0] - recent[streak - 1][0]).total_seconds()
        first_seconds = recent[streak - 1][1] or 0.0
        if span + first_seconds > 0 and streak > 1:
            per_hour = streak * 3600.0 / (span + first_seconds)
    seconds = sorted(s for _, s in recent if s)
    median = seconds[len(seconds) // 2] if seconds else None
    return Progress(total=sum(counts.values()), done=counts.get("done", 0), skipped=counts.get("skipped", 0),
                    flagged=counts.get("flagged", 0), streak=streak, per_hour=per_hour, median_seconds=median)


# --- writing answers --------------------------------------------------------------------------------------

def _assignment(session: Session, row: AnnotationProject, actor: Actor, item_id: int,
                lock: bool = False) -> AnnotationAssignment:
    query = select(AnnotationAssignment).where(AnnotationAssignment.item_id == item_id,
                                               AnnotationAssignment.annotator == actor.name,
                                               AnnotationAssignment.project_id == row.id)
    if lock:
        query = query.with_for_update()
    assignment = session.exec(query).first()
    if assignment is None:
        raise NotFound(f"Item {item_id} is not in your queue of project '{row.name}'.")
    return assignment


def _open_project(session: Session, actor: Actor, project: str | int) -> AnnotationProject:
    row = _project_for_annotator(session, actor, project)
    if row.status != "open":
        raise Conflict(f"Project '{row.name}' is closed; ratings can no longer change.")
    return row


def _insert_rating(session: Session, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on the unique (item, annotator, question); True when a row was made."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(Rating).values(**values).on_conflict_do_nothing(
        index_elements=["item_id", "annotator", "question"]).returning(Rating.id)
    return session.execute(statement).first() is not None


def _upsert(session: Session, *, actor: Actor, row: AnnotationProject, item_id: int, question: Question,
            value: Any) -> str:
    """Stores one answer; returns 'created', 'changed' or 'unchanged'. The caller holds the write transaction."""
    key = (Rating.item_id == item_id, Rating.annotator == actor.name, Rating.question == question.name)
    existing = session.exec(select(Rating).where(*key).with_for_update()).first()
    now = utcnow()
    if existing is None:
        if _insert_rating(session, {"project_id": row.id, "item_id": item_id, "annotator": actor.name,
                                    "question": question.name, "value": value, "revision": 1, "created_at": now,
                                    "updated_at": now}):
            audit.record(session=session, actor=actor, action="feedback.rate", target_type="annotation_item",
                         target_id=item_id, after={"project": row.name, "question": question.name, "value": value})
            return "created"
        existing = session.exec(select(Rating).where(*key).with_for_update()).first()
    if existing.value == value:
        return "unchanged"
    before = existing.value
    existing.value = value
    existing.revision += 1
    existing.updated_at = now
    session.add(existing)
    audit.record(session=session, actor=actor, action="feedback.rate.change", target_type="annotation_item",
                 target_id=item_id, before={"value": before},
                 after={"project": row.name, "question": question.name, "value": value, "revision": existing.revision})
    return "changed"


def _finish(session: Session, row: AnnotationProject, assignment: AnnotationAssignment, questions: list[Question],
            annotator: str, seconds: float | None, note: str | None) -> None:
    answered = set(session.exec(select(Rating.question).where(Rating.item_id == assignment.item_id,
                                                              Rating.annotator == annotator)).all())
    missing = [q.name for q in questions if q.required and q.name not in answered]
    if seconds is not None and seconds > 0:
        assignment.seconds = (assignment.seconds or 0.0) + min(float(seconds), MAX_SECONDS)
    if note is not None:
        assignment.note = note.strip()[:2000] or None
    if not missing and assignment.status != "done":
        assignment.status = "done"
        assignment.done_at = assignment.done_at or utcnow()
    session.add(assignment)


@dataclass(frozen=True)
class RateResult:
    item_id: int
    results: dict[str, str]  # question -> created | changed | unchanged
    status: str  # the item's status in the annotator's queue afterwards

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item_id, "results": self.results, "status": self.status}


def submit(store: Store, *, actor: Actor, project: str | int, item_id: int, answers: dict[str, Any],
           note: str | None = None, seconds: float | None = None, complete: bool = True) -> RateResult:
    """Stores an item's answers (as the annotator saw the sides) in one transaction.

    complete=True (the rating screen's Submit) requires every required question; the CLI's line-by-line `rate`
    passes complete=False, and the item counts as done once all its required questions have answers.
    """
    with store.write() as session:
        row = _open_project(session, actor, project)
        questions = _info(row).questions
        assignment = _assignment(session, row, actor, int(item_id), lock=True)
        stored = {}
        for name, value in answers.items():
            question = _info(row).question(name)
            if value is None or value == [] or (isinstance(value, str) and not value.strip()):
                continue  # no answer (an empty correction is no correction)
            stored[name] = (question, to_stored(question, value, list(assignment.order)))
        if complete:
            missing = [q.title for q in questions if q.required and q.name not in stored and
                       session.exec(select(Rating.id).where(Rating.item_id == assignment.item_id,
                                                            Rating.annotator == actor.name,
                                                            Rating.question == q.name)).first() is None]
            if missing:
                raise InvalidInput(f"Answer {', '.join(missing)} before submitting.")
        results = {name: _upsert(session, actor=actor, row=row, item_id=assignment.item_id, question=q, value=v)
                   for name, (q, v) in stored.items()}
        _finish(session, row, assignment, questions, actor.name, seconds, note)
        return RateResult(item_id=assignment.item_id, results=results, status=assignment.status)


def rate(store: Store, *, actor: Actor, project: str | int, item_id: int, question: str, value: Any,
         seconds: float | None = None) -> RateResult:
    """One answer to one question, in its own transaction."""
    return submit(store, actor=actor, project=project, item_id=item_id, answers={question: value},
                  seconds=seconds, complete=False)


def skip(store: Store, *, actor: Actor, project: str | int, item_id: int, seconds: float | None = None) -> str:
    """Puts an item at the back of the acting annotator's queue (answers already given stay)."""
    return _set_status(store, actor, project, item_id, "skipped", None, seconds)


def flag(store: Store, *, actor: Actor, project: str | int, item_id: int, note: str,
         seconds: float | None = None) -> str:
    """Takes an item out of the queue for a reviewer, with the reason (broken, offensive, unclear...)."""
    if not (note or "").strip():
        raise InvalidInput("Say why the item is flagged (e.g. 'the response is cut off').")
    return _set_status(store, actor, project, item_id, "flagged", note, seconds)


def _set_status(store: Store, actor: Actor, project, item_id: int, status: str, note: str | None,
                seconds: float | None) -> str:
    with store.write() as session:
        row = _open_project(session, actor, project)
        assignment = _assignment(session, row, actor, int(item_id), lock=True)
        if assignment.status == "done" and status == "skipped":
            return "done"  # a finished item is not sent back by a stray skip
        before = assignment.status
        assignment.status = status
        if note is not None:
            assignment.note = note.strip()[:2000]
        if seconds:
            assignment.seconds = (assignment.seconds or 0.0) + min(float(seconds), MAX_SECONDS)
        session.add(assignment)
        audit.record(session=session, actor=actor, action=f"feedback.{'skip' if status == 'skipped' else 'flag'}",
                     target_type="annotation_item", target_id=assignment.item_id,
                     before={"status": before}, after={"project": row.name, "status": status, "note": note})
        return status


def my_projects(store: Store, *, actor: Actor) -> list[tuple[ProjectInfo, Progress]]:
    """The acting annotator's open projects with their progress, for the home page and the rating screen."""
    require(actor, Permission.ANNOTATE)
    with store.read() as session:
        rows = session.exec(select(AnnotationProject).where(
            AnnotationProject.status == "open",
            col(AnnotationProject.id).in_(select(AnnotationAssignment.project_id).where(
                AnnotationAssignment.annotator == actor.name))).order_by(col(AnnotationProject.id).desc())).all()
        return [(_info(r), _progress(session, r.id, actor.name)) for r in rows]


def last_rated_at(store: Store, *, actor: Actor, project: str | int) -> datetime | None:
    with store.read() as session:
        row = _project_for_annotator(session, actor, project)
        return session.exec(select(func.max(Rating.updated_at)).where(Rating.project_id == row.id,
                                                                      Rating.annotator == actor.name)).one()
