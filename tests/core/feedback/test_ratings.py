"""Rating: own queue only, blind shuffled sides, one answer per (item, annotator, question) updated in place and
audited, skip / flag / back, and 20 annotator processes at once on SQLite and PostgreSQL."""
import multiprocessing
import os

import pytest
from sqlmodel import func, select

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.feedback import projects, ratings
from core.governance.roles import Actor, Role
from core.storage.tables import AuditEvent, Rating, User
from tests.core.feedback.conftest import likert_project, make_people, pairwise_project


def _ratings(store):
    with store.read() as session:
        return session.exec(select(Rating)).all()


def test_queue_is_blind_and_pairwise_answers_are_stored_in_the_items_order(store, team):
    pairwise_project(store, team["dan"])
    mine = ratings.queue(store, actor=team["ann"], project="duel")
    assert mine and all("model" not in str(item.to_dict()) for item in mine)
    swapped = next(i for i in ratings.queue(store, actor=team["ann"], project="duel") + ratings.queue(
        store, actor=team["bob"], project="duel") if i.order == [1, 0])
    who = team["ann"] if swapped in mine else team["bob"]
    # The careful answer is the item's first response; shown second to this annotator, it is "B" to them.
    assert swapped.responses[1].startswith("A careful answer")
    ratings.submit(store, actor=who, project="duel", item_id=swapped.item_id, answers={"better": "B"})
    (stored,) = [r for r in _ratings(store) if r.item_id == swapped.item_id]
    assert stored.value == "A"
    again = ratings.get_item(store, actor=who, project="duel", item_id=swapped.item_id)
    assert again.answers == {"better": "B"} and again.status == "done"


def test_a_changed_answer_updates_the_row_and_each_change_is_audited(store, team):
    pairwise_project(store, team["dan"])
    item = ratings.next_item(store, actor=team["ann"], project="duel")
    for value in ("A", "A", "B", "tie"):  # the repeated "A" is a double click: no new row, no audit row
        ratings.submit(store, actor=team["ann"], project="duel", item_id=item.item_id, answers={"better": value})
    (row,) = _ratings(store)
    assert row.revision == 3 and row.value in ("tie",)
    with store.read() as session:
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.action.startswith("feedback.rate"))).all()
    assert sorted(actions) == ["feedback.rate", "feedback.rate.change", "feedback.rate.change"]


def test_submit_needs_the_required_answers_and_checks_values(store, team):
    likert_project(store, team["dan"])
    item = ratings.next_item(store, actor=team["ann"], project="scores")
    with pytest.raises(InvalidInput, match="Answer Ok before submitting"):
        ratings.submit(store, actor=team["ann"], project="scores", item_id=item.item_id,
                       answers={"helpfulness": 4})
    with pytest.raises(InvalidInput, match="from 1 to 5"):
        ratings.submit(store, actor=team["ann"], project="scores", item_id=item.item_id,
                       answers={"helpfulness": 9, "ok": "up"})
    done = ratings.submit(store, actor=team["ann"], project="scores", item_id=item.item_id,
                          answers={"helpfulness": "4", "ok": "up", "fix": ""}, seconds=12)
    assert done.status == "done" and done.results == {"helpfulness": "created", "ok": "created"}
    assert ratings.progress(store, actor=team["ann"], project="scores").done == 1


def test_line_by_line_rating_finishes_an_item_once_all_required_questions_are_answered(store, team):
    likert_project(store, team["dan"])
    item = ratings.next_item(store, actor=team["bob"], project="scores")
    assert ratings.rate(store, actor=team["bob"], project="scores", item_id=item.item_id, question="ok",
                        value="down").status == "pending"
    assert ratings.rate(store, actor=team["bob"], project="scores", item_id=item.item_id, question="helpfulness",
                        value=2).status == "done"


def test_nobody_rates_items_outside_their_queue(store, team):
    pairwise_project(store, team["dan"], annotators=("ann",), per_item=1)
    item = ratings.next_item(store, actor=team["ann"], project="duel")
    with pytest.raises(NotFound):
        ratings.submit(store, actor=team["bob"], project="duel", item_id=item.item_id, answers={"better": "A"})
    with pytest.raises(NotFound):
        ratings.queue(store, actor=team["bob"], project="duel")
    with pytest.raises(PermissionDenied):
        ratings.submit(store, actor=team["vic"], project="duel", item_id=item.item_id, answers={"better": "A"})
    projects.set_status(store, actor=team["dan"], project="duel", status="closed")
    with pytest.raises(Conflict):
        ratings.submit(store, actor=team["ann"], project="duel", item_id=item.item_id, answers={"better": "A"})


def test_skip_flag_and_going_back(store, team):
    pairwise_project(store, team["dan"], annotators=("ann",), per_item=1)
    first = ratings.next_item(store, actor=team["ann"], project="duel")
    ratings.skip(store, actor=team["ann"], project="duel", item_id=first.item_id)
    second = ratings.next_item(store, actor=team["ann"], project="duel", after=first.position)
    assert second.item_id != first.item_id
    with pytest.raises(InvalidInput):
        ratings.flag(store, actor=team["ann"], project="duel", item_id=second.item_id, note=" ")
    ratings.flag(store, actor=team["ann"], project="duel", item_id=second.item_id, note="cut off")
    third = ratings.next_item(store, actor=team["ann"], project="duel", after=second.position)
    ratings.submit(store, actor=team["ann"], project="duel", item_id=third.item_id, answers={"better": "A"})
    back = ratings.previous_item(store, actor=team["ann"], project="duel", before=third.position + 1)
    assert back.item_id == third.item_id and back.answers == {"better": "A"}
    progress = ratings.progress(store, actor=team["ann"], project="duel")
    assert (progress.total, progress.done, progress.skipped, progress.flagged) == (6, 1, 1, 1)
    # Skipped items come back after the pending ones.
    remaining = ratings.queue(store, actor=team["ann"], project="duel")
    assert remaining[-1].item_id == first.item_id and len(remaining) == 4


# --- 20 annotator processes at once -----------------------------------------------------------------------

ANNOTATORS = [f"rater{n:02d}" for n in range(20)]


def _annotate(name: str, env: dict, barrier, errors) -> None:
    os.environ.update(env)
    from core.home import open_store

    store = open_store()
    actor = Actor(name=name, role=Role.ANNOTATOR)
    items = ratings.queue(store, actor=actor, project="crowd")
    barrier.wait()
    try:
        for item in items:
            for _ in range(2):  # a double click sends every answer twice
                ratings.submit(store, actor=actor, project="crowd", item_id=item.item_id, answers={"better": "A"},
                               seconds=1)
        ratings.submit(store, actor=actor, project="crowd", item_id=items[0].item_id, answers={"better": "tie"})
    except Exception as exc:  # reported to the test, which fails on any
        errors.put(f"{name}: {type(exc).__name__}: {exc}")
    finally:
        store.dispose()


@pytest.mark.slow  # 20 fresh Python processes: about two minutes on a loaded 2-core machine
@pytest.mark.postgres
def test_twenty_annotators_at_once_make_exact_counts_without_duplicates_or_lock_errors(any_store):
    team = make_people(any_store, annotators=())
    with any_store.write() as session:
        for name in ANNOTATORS:
            session.add(User(name=name, role=Role.ANNOTATOR.value, auth_provider="oidc"))
    pairwise_project(any_store, team["dan"], name="crowd", annotators=ANNOTATORS, per_item=20)
    env = {"WORKBENCH_HOME": str(any_store.settings.home)}
    if not any_store.settings.is_sqlite:
        env["WORKBENCH_DATABASE_URL"] = any_store.settings.database_url
    context = multiprocessing.get_context("spawn")
    barrier, errors = context.Barrier(len(ANNOTATORS)), context.Queue()
    workers = [context.Process(target=_annotate, args=(name, env, barrier, errors)) for name in ANNOTATORS]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == [] and all(w.exitcode == 0 for w in workers)
    rows = _ratings(any_store)
    assert len(rows) == 6 * 20
    assert len({(r.item_id, r.annotator, r.question) for r in rows}) == 120
    assert sum(r.value == "tie" for r in rows) == 20
    with any_store.read() as session:
        created = session.exec(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "feedback.rate")).one()
        changed = session.exec(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "feedback.rate.change")).one()
    assert (created, changed) == (120, 20)
    for name in ANNOTATORS:
        progress = ratings.progress(any_store, actor=Actor(name=name, role=Role.ANNOTATOR), project="crowd")
        assert progress.done == progress.total == 6
