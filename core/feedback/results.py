"""What a project's ratings say: scores per model and prompt version, win rates, the leaderboard, agreement per
question, per-annotator figures, and the items where annotators disagree (with a reviewer's settled answer).

Ratings are read as plain columns in one query and analysed in numpy (core/feedback/agreement.py and
leaderboard.py); nothing here is drawn, the pages and the CLI render the returned dataclasses.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from core.errors import InvalidInput, NotFound
from core.feedback import agreement, leaderboard
from core.feedback.projects import ProjectInfo, _find, _info, _require_view
from core.feedback.schema import SIDES, TIE, to_stored
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import AnnotationAssignment, AnnotationItem, AnnotationReview, Rating, utcnow

BY = ("column", "model", "prompt_version")


def response_label(response: dict[str, Any], by: str = "column") -> str:
    """Who made a response: the model, the prompt version, or both ('ticket-reply@2 · smollm2')."""
    model = str(response.get("model") or "?")
    version = response.get("prompt_version")
    if by == "model":
        return model
    if by == "prompt_version":
        return str(version or "?")
    return f"{version} · {model}" if version else model


@dataclass(frozen=True)
class RatingRow:
    item_id: int
    annotator: str
    question: str
    value: Any
    updated_at: datetime | None  # None when loaded for statistics only


@dataclass
class Loaded:
    project: ProjectInfo
    items: dict[int, ItemRow]
    ratings: list[RatingRow]
    assignments: list[Any]  # rows of item_id, annotator, status, seconds
    reviews: dict[tuple[int, str], Any]


@dataclass(frozen=True)
class ItemRow:
    id: int
    position: int
    prompt: list[dict[str, Any]] | None  # None when loaded for statistics only
    responses: list[dict[str, Any]]
    group_key: str | None


def _load(session: Session, project_row, *, with_times: bool = True) -> Loaded:
    """Plain column rows, not ORM objects. For statistics (with_times=False) neither prompts nor times are read,
    and answers come as JSON text decoded once per distinct text (a project's answers take few distinct values)."""
    from sqlalchemy import Text, cast

    if with_times:
        items = {i.id: ItemRow(*i) for i in session.execute(
            select(AnnotationItem.id, AnnotationItem.position, AnnotationItem.prompt, AnnotationItem.responses,
                   AnnotationItem.group_key).where(AnnotationItem.project_id == project_row.id))}
        ratings = [RatingRow(*r) for r in session.execute(
            select(Rating.item_id, Rating.annotator, Rating.question, Rating.value, Rating.updated_at)
            .where(Rating.project_id == project_row.id).order_by(Rating.updated_at, Rating.id))]
    else:
        items = {i.id: ItemRow(i.id, i.position, None, i.responses, i.group_key) for i in session.execute(
            select(AnnotationItem.id, AnnotationItem.position, AnnotationItem.responses, AnnotationItem.group_key)
            .where(AnnotationItem.project_id == project_row.id))}
        decoded: dict[str | None, Any] = {None: None}

        def value(text):
            if text not in decoded:
                decoded[text] = json.loads(text)
            return decoded[text]

        # Oldest change first: Elo replays them in order.
        ratings = [RatingRow(item, person, question, value(text), None) for item, person, question, text in
                   session.execute(select(Rating.item_id, Rating.annotator, Rating.question, cast(Rating.value, Text))
                                   .where(Rating.project_id == project_row.id)
                                   .order_by(Rating.updated_at, Rating.id))]
    assignments = list(session.execute(select(
        AnnotationAssignment.item_id, AnnotationAssignment.annotator, AnnotationAssignment.status,
        AnnotationAssignment.seconds).where(AnnotationAssignment.project_id == project_row.id)))
    reviews = {(r.item_id, r.question): r.value for r in session.exec(
        select(AnnotationReview).where(AnnotationReview.project_id == project_row.id))}
    return Loaded(project=_info(project_row, items=len(items), ratings=len(ratings)), items=items, ratings=ratings,
                  assignments=assignments, reviews=reviews)


def load(store: Store, *, actor: Actor, project: str | int, with_times: bool = True) -> Loaded:
    with store.read() as session:
        row = _find(session, project)
        _require_view(session, actor, row)
        if not (actor.can(Permission.VIEW_DASHBOARDS) or actor.can(Permission.MANAGE_FEEDBACK)):
            require(actor, Permission.VIEW_DASHBOARDS)  # annotators do not see others' ratings
        return _load(session, row, with_times=with_times)


# --- agreement --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class QuestionAgreement:
    question: str
    kind: str
    level: str
    items: int  # items with two or more answers
    answers: int
    krippendorff_alpha: float | None
    cohen_kappa: float | None  # when exactly two annotators answered the same items
    percent_agreement: float | None  # share of items where all answers are equal

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "items": self.items, "answers": self.answers,
                "krippendorff_alpha": self.krippendorff_alpha, "cohen_kappa": self.cohen_kappa,
                "percent_agreement": self.percent_agreement}


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def question_agreement(data: Loaded) -> dict[str, QuestionAgreement]:
    out = {}
    for question in data.project.questions:
        if question.level is None:
            continue
        rows = [r for r in data.ratings if r.question == question.name and r.value is not None]
        units = [r.item_id for r in rows]
        values = [_hashable(r.value) for r in rows]
        by_item: dict[int, dict[str, Any]] = defaultdict(dict)
        for r in rows:
            by_item[r.item_id][r.annotator] = _hashable(r.value)
        shared = {i: v for i, v in by_item.items() if len(v) >= 2}
        alpha = agreement.krippendorff_alpha(units, values, question.level) if rows else None
        kappa = None
        people = sorted({a for v in shared.values() for a in v})
        if len(people) == 2:
            pairs = [(v[people[0]], v[people[1]]) for v in shared.values()]
            kappa = agreement.cohen_kappa([p[0] for p in pairs], [p[1] for p in pairs],
                                          weights="linear" if question.level == "ordinal" else None)
        percent = (sum(len(set(v.values())) == 1 for v in shared.values()) / len(shared)) if shared else None
        out[question.name] = QuestionAgreement(question=question.name, kind=question.kind, level=question.level,
                                               items=len(shared), answers=len(rows), krippendorff_alpha=alpha,
                                               cohen_kappa=kappa, percent_agreement=percent)
    return out


@dataclass(frozen=True)
class AnnotatorStats:
    annotator: str
    assigned: int
    done: int
    skipped: int
    flagged: int
    ratings: int
    median_seconds: float | None  # per item
    items_per_hour: float | None  # over the time spent on items
    agreement_with_majority: float | None  # share of answers equal to the other annotators' majority
    compared: int  # answers that had a majority of others to compare with

    def to_dict(self) -> dict[str, Any]:
        return {"annotator": self.annotator, "assigned": self.assigned, "done": self.done, "skipped": self.skipped,
                "flagged": self.flagged, "ratings": self.ratings, "median_seconds": self.median_seconds,
                "items_per_hour": self.items_per_hour, "agreement_with_majority": self.agreement_with_majority,
                "compared": self.compared}


def _agreement_with_majority(data: Loaded) -> dict[str, list[int]]:
    """annotator -> [answers equal to the strict majority of the other annotators, answers compared], vectorised:
    per (item, question) the counts of each value, minus the annotator's own answer, give the others' tally."""
    import numpy as np

    kinds = {q.name for q in data.project.questions if q.level is not None}
    rows = [(r.item_id, r.question, r.annotator, _hashable(r.value)) for r in data.ratings
            if r.question in kinds and r.value is not None]
    if not rows:
        return {}
    units = {key: n for n, key in enumerate(dict.fromkeys((item, q) for item, q, _, _ in rows))}
    values = {v: n for n, v in enumerate(dict.fromkeys(v for _, _, _, v in rows))}
    people = sorted({p for _, _, p, _ in rows})
    who = {p: n for n, p in enumerate(people)}
    unit = np.fromiter((units[(i, q)] for i, q, _, _ in rows), dtype=np.int64, count=len(rows))
    value = np.fromiter((values[v] for _, _, _, v in rows), dtype=np.int64, count=len(rows))
    person = np.fromiter((who[p] for _, _, p, _ in rows), dtype=np.int64, count=len(rows))
    counts = np.zeros((len(units), len(values)), dtype=np.int64)
    np.add.at(counts, (unit, value), 1)
    others = counts[unit].copy()
    others[np.arange(len(rows)), value] -= 1
    top = others.max(axis=1)
    strict = (others == top[:, None]).sum(axis=1) == 1
    usable = strict & (others.sum(axis=1) >= 2)  # a majority of others needs at least two others
    matched = usable & (others.argmax(axis=1) == value)
    compared_by = np.bincount(person[usable], minlength=len(people))
    matched_by = np.bincount(person[matched], minlength=len(people))
    return {p: [int(matched_by[n]), int(compared_by[n])] for p, n in who.items()}


def annotator_stats(data: Loaded) -> list[AnnotatorStats]:
    ratings_of: dict[str, int] = defaultdict(int)
    for r in data.ratings:
        ratings_of[r.annotator] += 1
    agree = _agreement_with_majority(data)
    per: dict[str, list[Any]] = defaultdict(list)
    for a in data.assignments:
        per[a.annotator].append(a)
    out = []
    for person in sorted(per):
        mine = per[person]
        statuses = [a.status for a in mine]
        seconds = [a.seconds for a in mine if a.status == "done" and a.seconds]
        spent = sum(seconds)
        matched, compared = agree.get(person, [0, 0])
        out.append(AnnotatorStats(
            annotator=person, assigned=len(mine), done=statuses.count("done"), skipped=statuses.count("skipped"),
            flagged=statuses.count("flagged"), ratings=ratings_of.get(person, 0),
            median_seconds=statistics.median(seconds) if seconds else None,
            items_per_hour=len(seconds) * 3600.0 / spent if spent else None,
            agreement_with_majority=matched / compared if compared else None, compared=compared))
    return out


# --- scores, win rates, leaderboard -----------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    question: str
    group: str  # the model, prompt version or both
    estimate: leaderboard.Estimate

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "group": self.group, **self.estimate.to_dict()}


def scores(data: Loaded, *, by: str = "column", rounds: int = leaderboard.ROUNDS) -> list[Score]:
    """Mean Likert score and thumbs-up share per model / prompt version, with bootstrap intervals."""
    if by not in BY:
        raise InvalidInput(f"Group scores by one of {', '.join(BY)}, not '{by}'.")
    out = []
    for question in data.project.questions:
        if question.kind not in ("likert", "thumbs"):
            continue
        groups: dict[str, list[float]] = defaultdict(list)
        for r in data.ratings:
            if r.question == question.name and isinstance(r.value, (int, float)):
                item = data.items[r.item_id]
                groups[response_label(item.responses[0], by)].append(float(r.value))
        for n, (group, values) in enumerate(sorted(groups.items())):
            out.append(Score(question.name, group, leaderboard.bootstrap_mean(values, rounds=rounds, seed=n)))
    return out


def votes(data: Loaded, *, question: str | None = None, by: str = "column") -> list[leaderboard.Vote]:
    """Pairwise answers (and rankings, as every pair they order) as votes between response labels, oldest first."""
    asked = {q.name: q for q in data.project.questions if q.kind in ("pairwise", "ranking")}
    if question is not None and question not in asked:
        raise InvalidInput(f"'{question}' is not a pairwise or ranking question of project '{data.project.name}'.")
    out = []
    labels_of: dict[int, list[str]] = {}
    for r in data.ratings:
        if r.question not in asked or (question and r.question != question) or r.value is None:
            continue
        labels = labels_of.get(r.item_id)
        if labels is None:
            labels = labels_of[r.item_id] = [response_label(x, by) for x in data.items[r.item_id].responses]
        if asked[r.question].kind == "pairwise":
            winner = "tie" if r.value == TIE else "a" if r.value == "A" else "b"
            out.append(leaderboard.Vote(labels[0], labels[1], winner))
        else:
            ranked = [SIDES.index(v) for v in r.value]
            for n, better in enumerate(ranked):
                for worse in ranked[n + 1:]:
                    out.append(leaderboard.Vote(labels[better], labels[worse], "a"))
    return out


@dataclass(frozen=True)
class ProjectStats:
    project: ProjectInfo
    items: int
    ratings: int
    done_items: int  # items whose every assigned annotator finished
    agreement: dict[str, QuestionAgreement]
    annotators: list[AnnotatorStats]
    scores: list[Score]
    win_rates: list[leaderboard.WinRate]
    leaderboard: list[leaderboard.Standing]
    by: str = "column"
    disagreements: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project.name, "items": self.items, "ratings": self.ratings,
                "done_items": self.done_items, "disagreements": self.disagreements,
                "agreement": {q: a.to_dict() for q, a in self.agreement.items()},
                "annotators": [a.to_dict() for a in self.annotators], "by": self.by,
                "scores": [s.to_dict() for s in self.scores], "win_rates": [w.to_dict() for w in self.win_rates],
                "leaderboard": [s.to_dict() for s in self.leaderboard]}


def project_stats(store: Store, *, actor: Actor, project: str | int, by: str = "column",
                  rounds: int = leaderboard.ROUNDS) -> ProjectStats:
    """Everything the results view shows, for data scientists and viewers (viewers never see item texts)."""
    data = load(store, actor=actor, project=project, with_times=False)
    return stats_of(data, by=by, rounds=rounds)


def stats_of(data: Loaded, *, by: str = "column", rounds: int = leaderboard.ROUNDS) -> ProjectStats:
    all_votes = votes(data, by=by)
    pending = {a.item_id for a in data.assignments if a.status != "done"}
    return ProjectStats(
        project=data.project, items=len(data.items), ratings=len(data.ratings),
        done_items=len(set(data.items) - pending), agreement=question_agreement(data),
        annotators=annotator_stats(data), scores=scores(data, by=by, rounds=rounds),
        win_rates=leaderboard.win_rates(all_votes), leaderboard=leaderboard.leaderboard(all_votes, rounds=rounds),
        by=by, disagreements=len(disagreements_of(data)))


# --- review -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Disagreement:
    item_id: int
    position: int
    question: str
    answers: dict[str, Any]  # annotator -> value, in the item's response order
    settled: Any  # the reviewer's value, or None
    prompt: list[dict[str, Any]] = field(repr=False)
    responses: list[dict[str, Any]] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item_id, "position": self.position, "question": self.question, "answers": self.answers,
                "settled": self.settled, "prompt": self.prompt,
                "responses": [{"text": r.get("text"), "model": r.get("model"),
                               "prompt_version": r.get("prompt_version")} for r in self.responses]}


def disagreements_of(data: Loaded, *, include_settled: bool = True) -> list[Disagreement]:
    """Items where annotators' answers differ (Likert: by two points or more), and flagged items."""
    by_key: dict[tuple[int, str], dict[str, Any]] = defaultdict(dict)
    kinds = {q.name: q for q in data.project.questions if q.level is not None}
    for r in data.ratings:
        if r.question in kinds:
            by_key[(r.item_id, r.question)][r.annotator] = r.value
    out = []
    for (item_id, name), answers in by_key.items():
        if len(answers) < 2:
            continue
        values = list(answers.values())
        if kinds[name].kind == "likert":
            differ = max(values) - min(values) >= 2
        else:
            differ = len({_hashable(v) for v in values}) > 1
        settled = data.reviews.get((item_id, name))
        if differ and (include_settled or settled is None):
            item = data.items[item_id]
            out.append(Disagreement(item_id=item_id, position=item.position, question=name, answers=answers,
                                    settled=settled, prompt=list(item.prompt or []),
                                    responses=list(item.responses)))
    return sorted(out, key=lambda d: (d.position, d.question))


def disagreements(store: Store, *, actor: Actor, project: str | int, include_settled: bool = True) -> list[Disagreement]:
    """For reviewers: the texts, every annotator's answer and the model names."""
    require(actor, Permission.MANAGE_FEEDBACK)
    return disagreements_of(load(store, actor=actor, project=project), include_settled=include_settled)


def flagged(store: Store, *, actor: Actor, project: str | int) -> list[dict[str, Any]]:
    require(actor, Permission.MANAGE_FEEDBACK)
    with store.read() as session:
        row = _find(session, project)
        found = session.exec(select(AnnotationAssignment, AnnotationItem).join(
            AnnotationItem, AnnotationItem.id == AnnotationAssignment.item_id).where(
            AnnotationAssignment.project_id == row.id, AnnotationAssignment.status == "flagged")
            .order_by(AnnotationAssignment.position)).all()
        return [{"item": item.id, "position": item.position, "annotator": a.annotator, "note": a.note,
                 "prompt": item.prompt, "responses": item.responses} for a, item in found]


def settle(store: Store, *, actor: Actor, project: str | int, item_id: int, question: str, value: Any,
           note: str | None = None) -> Any:
    """A reviewer's final answer for an item and question (sides in the item's own order: A is its first response)."""
    require(actor, Permission.MANAGE_FEEDBACK)
    with store.write() as session:
        row = _find(session, project)
        info = _info(row)
        q = info.question(question)
        item = session.get(AnnotationItem, int(item_id))
        if item is None or item.project_id != row.id:
            raise NotFound(f"Project '{row.name}' has no item {item_id}.")
        stored = to_stored(q, value, list(range(len(item.responses))))
        existing = session.exec(select(AnnotationReview).where(AnnotationReview.item_id == item.id,
                                                               AnnotationReview.question == q.name)).first()
        before = existing.value if existing else None
        if existing is None:
            existing = AnnotationReview(project_id=row.id, item_id=item.id, question=q.name, value=stored,
                                        reviewer=actor.name, note=note)
        else:
            existing.value, existing.reviewer, existing.note, existing.at = stored, actor.name, note, utcnow()
        session.add(existing)
        audit.record(session=session, actor=actor, action="feedback.review", target_type="annotation_item",
                     target_id=item.id, before={"value": before} if before is not None else None,
                     after={"project": row.name, "question": q.name, "value": stored, "note": note})
        return stored


def consensus(data: Loaded) -> dict[tuple[int, str], Any]:
    """(item, question) -> the reviewer's answer, else the majority (nominal answers) or the mean (Likert, thumbs)."""
    given: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for r in data.ratings:
        if r.value is not None:
            given[(r.item_id, r.question)].append(r.value)
    out: dict[tuple[int, str], Any] = {}
    for key, values in given.items():
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = sum(values) / len(values)
        elif all(isinstance(v, str) for v in values):
            out[key] = agreement.majority(values)
    out.update(data.reviews)
    return out
