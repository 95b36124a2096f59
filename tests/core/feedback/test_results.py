"""Results over a project's ratings: agreement with the majority per annotator, scores, votes and reviews."""
import pytest

from core.errors import PermissionDenied
from core.feedback import ratings, results
from core.governance.roles import Actor, Role
from tests.core.feedback.conftest import likert_project, make_people, pairwise_project


def _rate_as_shown(store, name, project, pick):
    who = Actor(name=name, role=Role.ANNOTATOR)
    for item in ratings.queue(store, actor=who, project=project):
        ratings.submit(store, actor=who, project=project, item_id=item.item_id, answers=pick(item))


@pytest.mark.postgres
def test_a_careless_annotator_agrees_less_with_the_majority(any_store):
    store = any_store
    team = make_people(store, annotators=("ann", "bob", "cat", "dot"))
    pairwise_project(store, team["dan"], per_item=4)
    careful = lambda item: {"better": "A" if item.responses[0].startswith("A careful") else "B"}  # noqa: E731
    for name in ("ann", "bob", "cat"):
        _rate_as_shown(store, name, "duel", careful)
    _rate_as_shown(store, "dot", "duel", lambda item: {"better": "A"})  # always the left side
    stats = results.project_stats(store, actor=team["vic"], project="duel", rounds=100)
    by = {a.annotator: a for a in stats.annotators}
    assert by["ann"].agreement_with_majority == 1.0 and by["ann"].compared == 6
    flips = sum(1 for item in ratings.queue(store, actor=team["dot"], project="duel", include_done=True)
                if item.order != [0, 1])
    assert by["dot"].agreement_with_majority == pytest.approx((6 - flips) / 6)
    assert stats.leaderboard[0].model == "good" and stats.win_rates[0].model == "good"
    assert stats.agreement["better"].cohen_kappa is None  # more than two annotators: alpha only


def test_scores_per_model_and_the_review_of_disagreements(store):
    team = make_people(store)
    likert_project(store, team["dan"])
    for name, score in (("ann", 5), ("bob", 2), ("cat", 4)):
        who = Actor(name=name, role=Role.ANNOTATOR)
        for item in ratings.queue(store, actor=who, project="scores"):
            good = item.responses[0] in ("good", "fine")
            ratings.submit(store, actor=who, project="scores", item_id=item.item_id,
                           answers={"helpfulness": score if good else 1, "ok": "up" if good else "down"})
    stats = results.project_stats(store, actor=team["dan"], project="scores", rounds=200)
    means = {(s.question, s.group): s.estimate.mean for s in stats.scores}
    assert means[("helpfulness", "m1")] == pytest.approx(11 / 3) and means[("helpfulness", "m2")] == 1.0
    assert means[("ok", "m1")] == 1.0 and means[("ok", "m2")] == 0.0
    found = results.disagreements(store, actor=team["dan"], project="scores")
    assert {d.question for d in found} == {"helpfulness"} and len(found) == 2
    results.settle(store, actor=team["dan"], project="scores", item_id=found[0].item_id, question="helpfulness",
                   value=4, note="the anchor says good")
    assert results.disagreements(store, actor=team["dan"], project="scores")[0].settled == 4
    with pytest.raises(PermissionDenied):
        results.disagreements(store, actor=team["vic"], project="scores")
    with pytest.raises(PermissionDenied):
        results.project_stats(store, actor=team["ann"], project="scores")
