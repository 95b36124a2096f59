"""Annotation projects: outputs from a source, a rating schema, guidelines, and each item's annotators.

Assignment is decided once, when the project is made: each item goes to K annotators taken round-robin from the
named people (or everyone with a role), or to one annotator with an overlap share of items going to two or more
for agreement. Each (item, annotator) gets its own seeded order of the responses, so sides are shuffled per item
and per annotator.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from core.errors import Conflict, InvalidInput, NotFound
from core.feedback import sources
from core.feedback.schema import Question, check_questions
from core.governance import audit
from core.governance.roles import Actor, Permission, Role, require
from core.storage.db import Store
from core.storage.tables import (
    AnnotationAssignment,
    AnnotationItem,
    AnnotationProject,
    AnnotationReview,
    Rating,
    User,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_GUIDELINES = 50_000


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    description: str | None
    guidelines: str | None
    source_kind: str
    source: str
    source_params: dict[str, Any]
    questions: list[Question]
    annotators: list[str]
    per_item: int
    overlap: float | None
    allow_markdown: bool
    status: str
    created_at: datetime
    created_by: str
    items: int = 0
    ratings: int = 0

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise InvalidInput(f"Project '{self.name}' has no question '{name}'; its questions are "
                           f"{', '.join(q.name for q in self.questions)}.")

    @property
    def responses_per_item(self) -> int:
        return 2 if any(q.kind == "pairwise" for q in self.questions) else 1

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description, "guidelines": self.guidelines,
                "source_kind": self.source_kind, "source": self.source, "source_params": self.source_params,
                "questions": [q.to_dict() for q in self.questions], "annotators": self.annotators,
                "per_item": self.per_item, "overlap": self.overlap, "allow_markdown": self.allow_markdown,
                "status": self.status, "created_at": self.created_at.isoformat(timespec="seconds"),
                "created_by": self.created_by, "items": self.items, "ratings": self.ratings}

    def for_annotator(self) -> dict[str, Any]:
        """What an annotator may know of the project: no source, no other annotators."""
        return {"name": self.name, "description": self.description, "guidelines": self.guidelines,
                "questions": [q.to_dict() for q in self.questions], "allow_markdown": self.allow_markdown}


def _info(row: AnnotationProject, items: int = 0, ratings: int = 0) -> ProjectInfo:
    assignment = dict(row.assignment or {})
    return ProjectInfo(id=row.id, name=row.name, description=row.description, guidelines=row.guidelines,
                       source_kind=row.source_kind, source=row.source, source_params=dict(row.source_params or {}),
                       questions=[Question.from_dict(q) for q in row.questions],
                       annotators=list(assignment.get("annotators") or []), per_item=int(assignment.get("per_item", 1)),
                       overlap=assignment.get("overlap"), allow_markdown=row.allow_markdown, status=row.status,
                       created_at=row.created_at, created_by=row.created_by, items=items, ratings=ratings)


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(f"'{name}' is not a valid project name: use letters, digits, dots, dashes and underscores "
                           "(up to 128), starting with a letter or digit.")
    return name


# --- assignment -------------------------------------------------------------------------------------------

def resolve_annotators(session: Session, names: list[str]) -> list[str]:
    """Names, or `role:annotator` for every active account of a role; each must be allowed to rate."""
    found: list[str] = []
    for entry in names:
        entry = entry.strip()
        if not entry:
            continue
        if entry.startswith("role:"):
            role = Role.parse(entry[5:])
            members = session.exec(select(User.name).where(User.role == role.value, User.active == True)  # noqa: E712
                                   .order_by(User.name)).all()
            if not members:
                raise InvalidInput(f"No active account has the role {role.value}.")
            found += members
            continue
        user = session.exec(select(User).where(User.name == entry)).first()
        if user is None:
            raise NotFound(f"There is no account named '{entry}'.")
        if not user.active:
            raise InvalidInput(f"The account '{entry}' is disabled and cannot be given items to rate.")
        if not Actor(name=user.name, role=Role(user.role)).can(Permission.ANNOTATE):
            raise InvalidInput(f"{entry} ({Role(user.role).label}) may not rate outputs; give items to annotators.")
        found.append(user.name)
    found = list(dict.fromkeys(found))
    if not found:
        raise InvalidInput("Name at least one annotator (--annotators a,b,c or role:annotator).")
    return found


def plan_assignments(n_items: int, annotators: list[str], *, per_item: int = 1, overlap: float | None = None,
                     seed: int = 0) -> list[list[str]]:
    """For each item, who rates it: round-robin over the annotators, K per item, or one per item plus an overlap
    share of items (seeded) rated by max(2, K)."""
    if per_item < 1:
        raise InvalidInput("Each item needs at least one annotator (--per-item 1 or more).")
    if overlap is not None and not 0 < overlap <= 1:
        raise InvalidInput(f"The overlap share must be above 0 and at most 1 (e.g. 0.2), not {overlap}.")
    wide = max(2, per_item) if overlap is not None else per_item
    if wide > len(annotators):
        raise InvalidInput(f"{wide} annotators per item needs at least {wide} annotators; {len(annotators)} named.")
    counts = [per_item if overlap is None else 1] * n_items
    if overlap is not None:
        for index in random.Random(seed).sample(range(n_items), math.ceil(overlap * n_items)):
            counts[index] = wide
    plan, cursor = [], 0
    for count in counts:
        plan.append([annotators[(cursor + j) % len(annotators)] for j in range(count)])
        cursor += count
    return plan


def side_order(project_id: int, item_position: int, annotator: str, responses: int, seed: int = 0) -> list[int]:
    """The order one annotator sees an item's responses in: a seeded shuffle, stable across reruns."""
    order = list(range(responses))
    if responses > 1:
        digest = hashlib.sha256(f"{seed}:{project_id}:{item_position}:{annotator}".encode()).digest()
        random.Random(int.from_bytes(digest[:8], "big")).shuffle(order)
    return order


# --- create, read -----------------------------------------------------------------------------------------

def create_project(store: Store, *, actor: Actor, name: str, source: sources.Source, questions: list[Question],
                   annotators: list[str], per_item: int = 1, overlap: float | None = None,
                   guidelines: str | None = None, description: str | None = None, allow_markdown: bool = False,
                   seed: int = 0) -> ProjectInfo:
    """Collects the items from the source, checks the schema fits them, and stores project, items and queues."""
    require(actor, Permission.MANAGE_FEEDBACK)
    name = validate_name(name)
    if guidelines and len(guidelines) > MAX_GUIDELINES:
        raise InvalidInput(f"The guidelines are longer than {MAX_GUIDELINES:,} characters.")
    items = sources.collect(store, actor=actor, source=source)
    widths = {len(i.responses) for i in items}
    if len(widths) != 1:
        raise InvalidInput("Items of one project must all hold the same number of responses.")
    check_questions(questions, responses=widths.pop())
    with store.write() as session:
        if session.exec(select(AnnotationProject.id).where(AnnotationProject.name == name)).first() is not None:
            raise Conflict(f"An annotation project named '{name}' exists already.")
        people = resolve_annotators(session, annotators)
        plan = plan_assignments(len(items), people, per_item=per_item, overlap=overlap, seed=seed)
        row = AnnotationProject(
            name=name, description=(description or None) and description[:2000], guidelines=guidelines or None,
            source_kind=source.kind, source=source.describe()[:1024], source_params=source.params(),
            questions=[q.to_dict() for q in questions],
            assignment={"annotators": people, "per_item": per_item, "overlap": overlap, "seed": seed},
            allow_markdown=allow_markdown, created_by=actor.name)
        session.add(row)
        session.flush()
        session.execute(insert(AnnotationItem), [
            {"project_id": row.id, "position": n, "prompt": spec.prompt, "responses": spec.responses,
             "group_key": spec.group_key, "reference": spec.reference, "meta": spec.meta}
            for n, spec in enumerate(items)])
        ids = dict(session.exec(select(AnnotationItem.position, AnnotationItem.id)
                                .where(AnnotationItem.project_id == row.id)).all())
        session.execute(insert(AnnotationAssignment), [
            {"project_id": row.id, "item_id": ids[n], "annotator": person, "position": n,
             "order": side_order(row.id, n, person, len(items[n].responses), seed), "status": "pending"}
            for n, people_of_item in enumerate(plan) for person in people_of_item])
        info = _info(row, items=len(items))
        audit.record(session=session, actor=actor, action="feedback.project.create", target_type="annotation_project",
                     target_id=name, after={"source": info.source, "items": len(items), "annotators": people,
                                            "per_item": per_item, "overlap": overlap,
                                            "questions": [q.name for q in questions]})
    return info


def _find(session: Session, project: str | int) -> AnnotationProject:
    text = str(project).strip()
    query = select(AnnotationProject).where(AnnotationProject.name == text)
    row = session.exec(query).first()
    if row is None and text.lstrip("#").isdigit():
        row = session.get(AnnotationProject, int(text.lstrip("#")))
    if row is None:
        raise NotFound(f"There is no annotation project '{text}'.", hint="`workbench feedback list` shows them.")
    return row


def _is_assigned(session: Session, project_id: int, annotator: str) -> bool:
    # LIMIT 1: `.first()` alone fetches every matching row before it returns one (10,000 rows, 15 ms, on each
    # submit and next item of an annotator with a large queue).
    return session.exec(select(AnnotationAssignment.id).where(AnnotationAssignment.project_id == project_id,
                                                              AnnotationAssignment.annotator == annotator)
                        .limit(1)).first() is not None


def _require_view(session: Session, actor: Actor, row: AnnotationProject) -> None:
    """Data scientists and viewers see every project; an annotator only those they have items in."""
    if actor.can(Permission.VIEW_DASHBOARDS) or actor.can(Permission.MANAGE_FEEDBACK):
        return
    require(actor, Permission.ANNOTATE)
    if not _is_assigned(session, row.id, actor.name):
        raise NotFound(f"There is no annotation project '{row.name}' for you.")


def get_project(store: Store, *, actor: Actor, project: str | int) -> ProjectInfo:
    with store.read() as session:
        row = _find(session, project)
        _require_view(session, actor, row)
        items = session.exec(select(func.count()).select_from(AnnotationItem)
                             .where(AnnotationItem.project_id == row.id)).one()
        ratings = session.exec(select(func.count()).select_from(Rating).where(Rating.project_id == row.id)).one()
        return _info(row, items=items, ratings=ratings)


def list_projects(store: Store, *, actor: Actor) -> list[ProjectInfo]:
    """Newest first; an annotator gets only the projects with items for them."""
    with store.read() as session:
        query = select(AnnotationProject).order_by(col(AnnotationProject.created_at).desc(),
                                                   col(AnnotationProject.id).desc())
        if not (actor.can(Permission.VIEW_DASHBOARDS) or actor.can(Permission.MANAGE_FEEDBACK)):
            require(actor, Permission.ANNOTATE)
            mine = select(AnnotationAssignment.project_id).where(AnnotationAssignment.annotator == actor.name)
            query = query.where(col(AnnotationProject.id).in_(mine))
        rows = session.exec(query).all()
        ids = [r.id for r in rows]
        items = dict(session.exec(select(AnnotationItem.project_id, func.count()).where(
            col(AnnotationItem.project_id).in_(ids)).group_by(AnnotationItem.project_id)).all()) if ids else {}
        ratings = dict(session.exec(select(Rating.project_id, func.count()).where(
            col(Rating.project_id).in_(ids)).group_by(Rating.project_id)).all()) if ids else {}
        return [_info(r, items=items.get(r.id, 0), ratings=ratings.get(r.id, 0)) for r in rows]


def set_status(store: Store, *, actor: Actor, project: str | int, status: str) -> ProjectInfo:
    """Closes a project (no more ratings) or opens it again."""
    require(actor, Permission.MANAGE_FEEDBACK)
    if status not in ("open", "closed"):
        raise InvalidInput(f"A project is open or closed, not '{status}'.")
    with store.write() as session:
        row = _find(session, project)
        before = row.status
        row.status = status
        session.add(row)
        audit.record(session=session, actor=actor, action=f"feedback.project.{'close' if status == 'closed' else 'open'}",
                     target_type="annotation_project", target_id=row.name, before={"status": before},
                     after={"status": status})
        return _info(row)


def delete_project(store: Store, *, actor: Actor, project: str | int) -> ProjectInfo:
    """Deletes a project with its items, queues and ratings (the audit log keeps what happened)."""
    require(actor, Permission.MANAGE_FEEDBACK)
    from sqlalchemy import delete

    with store.write() as session:
        row = _find(session, project)
        info = _info(row)
        for table in (AnnotationReview, Rating, AnnotationAssignment, AnnotationItem):
            session.execute(delete(table).where(table.project_id == row.id))
        session.delete(row)
        audit.record(session=session, actor=actor, action="feedback.project.delete", target_type="annotation_project",
                     target_id=info.name, before={"source": info.source, "annotators": info.annotators})
    return info


def count_projects(store: Store) -> int:
    with store.read() as session:
        return session.exec(select(func.count()).select_from(AnnotationProject)).one()


def list_annotators(store: Store, *, actor: Actor) -> list[str]:
    """Active accounts that may rate, to pick a project's annotators from."""
    require(actor, Permission.MANAGE_FEEDBACK)
    raters = [r.value for r in Role if Actor(name="", role=r).can(Permission.ANNOTATE)]
    with store.read() as session:
        return list(session.exec(select(User.name).where(col(User.role).in_(raters), User.active == True)  # noqa: E712
                                 .order_by(User.name)).all())
