"""What a project's ratings say: scores per model and prompt version, win rates, the leaderboard, agreement per
question, per-annotator figures, and the items where annotators disagree (with a reviewer's settled answer).

The statistics read ratings and queues as plain columns (one query each) into numpy arrays of small codes and
compute every figure with a few vectorised passes (core/feedback/agreement.py and leaderboard.py); reviews and
exports read the rows with their texts. Nothing here is drawn: the pages and the CLI render the dataclasses.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

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


def _load(session: Session, project_row) -> Loaded:
    """Plain column rows with the items' texts and the ratings' times, for reviews and exports."""
    items = {i.id: ItemRow(*i) for i in session.execute(
        select(AnnotationItem.id, AnnotationItem.position, AnnotationItem.prompt, AnnotationItem.responses,
               AnnotationItem.group_key).where(AnnotationItem.project_id == project_row.id))}
    ratings = [RatingRow(*r) for r in session.execute(
        select(Rating.item_id, Rating.annotator, Rating.question, Rating.value, Rating.updated_at)
        .where(Rating.project_id == project_row.id).order_by(Rating.updated_at, Rating.id))]
    assignments = list(session.execute(select(
        AnnotationAssignment.item_id, AnnotationAssignment.annotator, AnnotationAssignment.status,
        AnnotationAssignment.seconds).where(AnnotationAssignment.project_id == project_row.id)))
    reviews = {(r.item_id, r.question): r.value for r in session.exec(
        select(AnnotationReview).where(AnnotationReview.project_id == project_row.id))}
    return Loaded(project=_info(project_row, items=len(items), ratings=len(ratings)), items=items, ratings=ratings,
                  assignments=assignments, reviews=reviews)


def _check_results_reader(session: Session, actor: Actor, row) -> None:
    _require_view(session, actor, row)
    if not (actor.can(Permission.VIEW_DASHBOARDS) or actor.can(Permission.MANAGE_FEEDBACK)):
        require(actor, Permission.VIEW_DASHBOARDS)  # annotators do not see others' ratings


def load(store: Store, *, actor: Actor, project: str | int) -> Loaded:
    with store.read() as session:
        row = _find(session, project)
        _check_results_reader(session, actor, row)
        return _load(session, row)


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


# --- scores, win rates, leaderboard -----------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    question: str
    group: str  # the model, prompt version or both
    estimate: leaderboard.Estimate

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "group": self.group, **self.estimate.to_dict()}


# --- statistics over columns ------------------------------------------------------------------------------
#
# 100k ratings as 100k Python objects, walked once per figure, cost seconds; the statistics read the ratings and
# queues as plain columns (one Core query each, no ORM objects) into numpy arrays of small codes, and every figure
# below is a few vectorised passes over them. Only rankings (rare, N responses) and Elo (a sequential replay) loop
# in Python, over plain integers.

@dataclass
class Answers:
    """A project's ratings as columns, oldest change first: item ids and codes into the small tables beside them."""

    item: np.ndarray  # item id
    row: np.ndarray  # the item's index in StatsData.item_ids
    person: np.ndarray  # index into people
    question: np.ndarray  # index into questions
    value: np.ndarray  # index into values (equal answers share one code)
    people: list[str]
    questions: list[str]
    values: list[Any]  # each distinct answer once (lists as tuples; None: no answer)

    def has_value(self) -> np.ndarray:
        missing = np.array([v is None for v in self.values], dtype=bool)
        return ~missing[self.value] if len(self.values) else np.zeros(0, dtype=bool)

    def asked(self, names) -> np.ndarray:
        """Rows answering any of these questions."""
        codes = [n for n, q in enumerate(self.questions) if q in set(names)]
        return np.isin(self.question, codes)


@dataclass
class StatsData:
    project: ProjectInfo
    item_ids: np.ndarray  # ascending
    responses: list[list[dict[str, Any]]]  # per item, aligned with item_ids
    answers: Answers
    statuses: dict[str, dict[str, int]]  # annotator -> queue status -> items
    timed: dict[str, list[float]]  # annotator -> seconds spent on each finished item (when recorded)
    pending_items: int  # items some annotator has not finished
    _labels: dict[str, tuple[list[list[int]], list[str]]] = field(default_factory=dict, repr=False)


def _encode(column) -> tuple[np.ndarray, list]:
    table: dict[Any, int] = {}
    codes = np.fromiter((table.setdefault(v, len(table)) for v in column), dtype=np.int64, count=len(column))
    return codes, list(table)


def _driver_rows(session: Session, statement) -> list[tuple]:
    """A Core select's rows as the database driver returns them (plain tuples): for 100k rows SQLAlchemy's row
    objects cost about as much again as the fetch itself."""
    connection = session.connection()
    compiled = statement.compile(dialect=connection.dialect)
    positions = compiled.positiontup
    params = tuple(compiled.params[k] for k in positions) if positions is not None else compiled.params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _stats_data(session: Session, project_row) -> StatsData:
    """The items' responses, the ratings as columns, and the queues as counts: no prompts, no ORM rows."""
    from sqlalchemy import Text, cast, func
    from sqlalchemy import select as core_select

    project_id = project_row.id
    items = _driver_rows(session, core_select(AnnotationItem.id, cast(AnnotationItem.responses, Text))
                         .where(AnnotationItem.project_id == project_id).order_by(AnnotationItem.id))
    item_ids = np.fromiter((i for i, _ in items), dtype=np.int64, count=len(items))
    responses = [json.loads(text) if text else [] for _, text in items]
    # Oldest change first: Elo replays them in order.
    rows = _driver_rows(session, core_select(Rating.item_id, Rating.annotator, Rating.question, cast(Rating.value, Text))
                        .where(Rating.project_id == project_id).order_by(Rating.updated_at, Rating.id))
    columns = list(zip(*rows)) if rows else [(), (), (), ()]
    item = np.fromiter(columns[0], dtype=np.int64, count=len(rows))
    person, people = _encode(columns[1])
    question, questions = _encode(columns[2])
    texts, table = _encode(columns[3])
    decoded = [None if t is None else _hashable(json.loads(t)) for t in table]
    canonical: dict[Any, int] = {}  # "5" and "5.0" are one answer, as in Python
    remap = np.array([canonical.setdefault(v, len(canonical)) for v in decoded], dtype=np.int64)
    answers = Answers(item=item, row=np.searchsorted(item_ids, item), person=person, question=question,
                      value=remap[texts] if len(rows) else texts, people=people, questions=questions,
                      values=list(canonical))
    queue = AnnotationAssignment
    statuses: dict[str, dict[str, int]] = defaultdict(dict)
    for annotator, status, count in session.execute(  # the queue index covers this: no table rows read
            core_select(queue.annotator, queue.status, func.count()).where(queue.project_id == project_id)
            .group_by(queue.annotator, queue.status)):
        statuses[annotator][status] = count
    timed: dict[str, list[float]] = defaultdict(list)
    for annotator, seconds in _driver_rows(session, core_select(queue.annotator, queue.seconds).where(
            queue.project_id == project_id, queue.status == "done", col(queue.seconds).is_not(None),
            queue.seconds != 0).order_by(queue.id)):
        timed[annotator].append(seconds)
    pending = session.execute(core_select(func.count(func.distinct(queue.item_id))).where(
        queue.project_id == project_id, queue.status != "done")).scalar_one()
    return StatsData(project=_info(project_row, items=len(items), ratings=len(rows)), item_ids=item_ids,
                     responses=responses, answers=answers, statuses=dict(statuses), timed=dict(timed),
                     pending_items=pending)


def question_agreement(data: StatsData) -> dict[str, QuestionAgreement]:
    out = {}
    a = data.answers
    answered = a.has_value()
    for question in data.project.questions:
        if question.level is None:
            continue
        mask = answered & a.asked([question.name])
        values, people = a.value[mask], a.person[mask]
        alpha = kappa = percent = None
        shared_count = 0
        if len(values):
            present = np.unique(values)
            domain = agreement.domain_order([a.values[c] for c in present], question.level)
            position = {v: n for n, v in enumerate(domain)}
            lookup = np.full(len(a.values), -1, dtype=np.int64)
            lookup[present] = [position[a.values[c]] for c in present]
            codes = lookup[values]
            _, unit = np.unique(a.item[mask], return_inverse=True)
            alpha = agreement.alpha_of_codes(unit, codes, domain, question.level)
            per_unit = np.bincount(unit)
            shared = per_unit >= 2
            shared_count = int(shared.sum())
            if shared_count:
                tally = np.zeros((len(per_unit), len(domain)), dtype=np.int64)
                np.add.at(tally, (unit, codes), 1)
                percent = float(((tally > 0).sum(axis=1) == 1)[shared].mean())
                in_shared = shared[unit]
                names = sorted({a.people[p] for p in np.unique(people[in_shared]).tolist()})
                if len(names) == 2:
                    pair = []
                    for name in names:
                        mine = in_shared & (people == a.people.index(name))
                        order = np.argsort(unit[mine], kind="stable")
                        pair.append([domain[c] for c in codes[mine][order].tolist()])
                    kappa = agreement.cohen_kappa(pair[0], pair[1],
                                                  weights="linear" if question.level == "ordinal" else None)
        out[question.name] = QuestionAgreement(question=question.name, kind=question.kind, level=question.level,
                                               items=shared_count, answers=int(mask.sum()), krippendorff_alpha=alpha,
                                               cohen_kappa=kappa, percent_agreement=percent)
    return out


def _level_units(data: StatsData) -> tuple[np.ndarray, np.ndarray]:
    """Rows answering a question with a level of measurement, and each row's (item, question) unit code."""
    a = data.answers
    mask = a.has_value() & a.asked([q.name for q in data.project.questions if q.level is not None])
    _, unit = np.unique(a.item[mask] * max(len(a.questions), 1) + a.question[mask], return_inverse=True)
    return mask, unit


def _agreement_with_majority(data: StatsData) -> dict[str, list[int]]:
    """annotator -> [answers equal to the strict majority of the other annotators, answers compared]: per
    (item, question) the counts of each value, minus the annotator's own answer, give the others' tally."""
    a = data.answers
    mask, unit = _level_units(data)
    if not mask.any():
        return {}
    _, value = np.unique(a.value[mask], return_inverse=True)
    person = a.person[mask]
    counts = np.zeros((int(unit.max()) + 1, int(value.max()) + 1), dtype=np.int64)
    np.add.at(counts, (unit, value), 1)
    others = counts[unit]
    others[np.arange(len(unit)), value] -= 1
    top = others.max(axis=1)
    strict = (others == top[:, None]).sum(axis=1) == 1
    usable = strict & (others.sum(axis=1) >= 2)  # a majority of others needs at least two others
    matched = usable & (others.argmax(axis=1) == value)
    compared_by = np.bincount(person[usable], minlength=len(a.people))
    matched_by = np.bincount(person[matched], minlength=len(a.people))
    return {a.people[n]: [int(matched_by[n]), int(compared_by[n])] for n in np.unique(person).tolist()}


def annotator_stats(data: StatsData) -> list[AnnotatorStats]:
    a = data.answers
    ratings_of = np.bincount(a.person, minlength=len(a.people))
    agree = _agreement_with_majority(data)
    out = []
    for person in sorted(data.statuses):
        counts = data.statuses[person]
        timed = data.timed.get(person, [])
        spent = sum(timed)
        matched, compared = agree.get(person, [0, 0])
        out.append(AnnotatorStats(
            annotator=person, assigned=sum(counts.values()), done=counts.get("done", 0),
            skipped=counts.get("skipped", 0), flagged=counts.get("flagged", 0),
            ratings=int(ratings_of[a.people.index(person)]) if person in a.people else 0,
            median_seconds=statistics.median(timed) if timed else None,
            items_per_hour=len(timed) * 3600.0 / spent if spent else None,
            agreement_with_majority=matched / compared if compared else None, compared=compared))
    return out


def _labels(data: StatsData, by: str) -> tuple[list[list[int]], list[str]]:
    """Each item's responses as codes of who made them (model, prompt version or both), and the names."""
    if by not in data._labels:
        names: dict[str, int] = {}
        codes = [[names.setdefault(response_label(r, by), len(names)) for r in responses]
                 for responses in data.responses]
        data._labels[by] = (codes, list(names))
    return data._labels[by]


def scores(data: StatsData, *, by: str = "column", rounds: int = leaderboard.ROUNDS) -> list[Score]:
    """Mean Likert score and thumbs-up share per model / prompt version, with bootstrap intervals."""
    if by not in BY:
        raise InvalidInput(f"Group scores by one of {', '.join(BY)}, not '{by}'.")
    a = data.answers
    numeric = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in a.values], dtype=float)
    codes, names = _labels(data, by)
    first = np.array([c[0] if c else -1 for c in codes], dtype=np.int64)
    out = []
    for question in data.project.questions:
        if question.kind not in ("likert", "thumbs"):
            continue
        mask = a.asked([question.name])
        mask &= ~np.isnan(numeric[a.value]) if len(a.values) else mask
        group, value = first[a.row[mask]], numeric[a.value[mask]]
        present = sorted((names[g], g) for g in np.unique(group).tolist())
        for n, (label, code) in enumerate(present):
            out.append(Score(question.name, label,
                             leaderboard.bootstrap_mean(value[group == code], rounds=rounds, seed=n)))
    return out


def votes(data: StatsData, *, by: str = "column") -> leaderboard.VoteArrays:
    """Pairwise answers (and rankings, as every pair they order) as votes between response labels, oldest first."""
    a = data.answers
    kinds = {q.name: q.kind for q in data.project.questions if q.kind in ("pairwise", "ranking")}
    codes, names = _labels(data, by)
    answered = a.has_value()
    pairwise = answered & a.asked([n for n, k in kinds.items() if k == "pairwise"])
    outcome_of = np.array([2 if v == TIE else 0 if v == "A" else 1 for v in a.values], dtype=np.int64)
    side = [np.array([c[n] if len(c) > n else -1 for c in codes], dtype=np.int64) for n in (0, 1)]
    at = [np.flatnonzero(pairwise)]
    left, right = [side[0][a.row[pairwise]]], [side[1][a.row[pairwise]]]
    outcome = [outcome_of[a.value[pairwise]]]
    ranking = answered & a.asked([n for n, k in kinds.items() if k == "ranking"])
    if ranking.any():  # each ranking orders every pair of its outputs: a few votes per answer
        extra = [], [], [], []
        for position, row, value in zip(np.flatnonzero(ranking).tolist(), a.row[ranking].tolist(),
                                        a.value[ranking].tolist()):
            ranked = [SIDES.index(v) for v in a.values[value]]
            for n, better in enumerate(ranked):
                for worse in ranked[n + 1:]:
                    for column, item in zip(extra, (position, codes[row][better], codes[row][worse], 0)):
                        column.append(item)
        for target, column in zip((at, left, right, outcome), extra):
            target.append(np.array(column, dtype=np.int64))
    order = np.argsort(np.concatenate(at), kind="stable")
    return leaderboard.VoteArrays(names, np.concatenate(left)[order], np.concatenate(right)[order],
                                  np.concatenate(outcome)[order])


def _disagreement_count(data: StatsData) -> int:
    """Items and questions where two or more answers differ (Likert: by two points or more)."""
    a = data.answers
    mask, unit = _level_units(data)
    if not mask.any():
        return 0
    likert_names = [q.name for q in data.project.questions if q.kind == "likert"]
    numeric = np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in a.values], dtype=float)
    size = int(unit.max()) + 1
    count = np.bincount(unit, minlength=size)
    likert = np.zeros(size, dtype=bool)
    likert[unit[a.asked(likert_names)[mask]]] = True
    value = np.where(likert[unit], numeric[a.value[mask]], a.value[mask].astype(float))
    low, high = np.full(size, np.inf), np.full(size, -np.inf)
    np.minimum.at(low, unit, value)
    np.maximum.at(high, unit, value)
    differ = np.where(likert, high - low >= 2, high != low)
    return int((differ & (count >= 2)).sum())


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
    if by not in BY:
        raise InvalidInput(f"Group scores by one of {', '.join(BY)}, not '{by}'.")
    with store.read() as session:
        row = _find(session, project)
        _check_results_reader(session, actor, row)
        data = _stats_data(session, row)
    return stats_of(data, by=by, rounds=rounds)


def stats_key(store: Store, *, actor: Actor, project: str | int) -> tuple:
    """What a project's statistics depend on, read from indexes alone (how many ratings and their latest change,
    reviews, each annotator's queue counts), so a page recomputes them when something changed, not on every rerun.
    Time spent on items that changes without any of these (an unchanged answer submitted again) is not in it."""
    from sqlalchemy import func

    with store.read() as session:
        row = _find(session, project)
        _check_results_reader(session, actor, row)
        count = session.execute(select(func.count()).select_from(Rating).where(Rating.project_id == row.id)).scalar()
        latest = session.execute(select(func.max(Rating.updated_at)).where(Rating.project_id == row.id)).scalar()
        reviews = tuple(session.execute(select(func.count(), func.max(AnnotationReview.at))
                                        .where(AnnotationReview.project_id == row.id)).one())
        queue = AnnotationAssignment
        queues = tuple(tuple(r) for r in session.execute(
            select(queue.annotator, queue.status, func.count()).where(queue.project_id == row.id)
            .group_by(queue.annotator, queue.status).order_by(queue.annotator, queue.status)))
        return (row.id, row.status, count, latest, reviews, queues)


def stats_of(data: StatsData, *, by: str = "column", rounds: int = leaderboard.ROUNDS) -> ProjectStats:
    all_votes = votes(data, by=by)
    return ProjectStats(
        project=data.project, items=len(data.item_ids), ratings=len(data.answers.item),
        done_items=len(data.item_ids) - data.pending_items, agreement=question_agreement(data),
        annotators=annotator_stats(data), scores=scores(data, by=by, rounds=rounds),
        win_rates=leaderboard.win_rates(all_votes), leaderboard=leaderboard.leaderboard(all_votes, rounds=rounds),
        by=by, disagreements=_disagreement_count(data))


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
