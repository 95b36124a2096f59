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


def test_two_annotators_agreement_equals_the_reference_packages(store):
    import krippendorff
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    team = make_people(store, annotators=("ann", "bob"))
    likert_project(store, team["dan"], per_item=2, annotators=("ann", "bob"))
    given = {"ann": [5, 2, 4, 1], "bob": [4, 2, 4, 3]}
    for name, scores in given.items():
        who = Actor(name=name, role=Role.ANNOTATOR)
        for item, score in zip(ratings.queue(store, actor=who, project="scores"), scores):
            ratings.submit(store, actor=who, project="scores", item_id=item.item_id,
                           answers={"helpfulness": score, "ok": "up" if score > 2 else "down"})
    stats = results.project_stats(store, actor=team["dan"], project="scores", rounds=100)
    helpful = stats.agreement["helpfulness"]
    assert helpful.items == 4 and helpful.answers == 8 and helpful.percent_agreement == 0.5
    assert helpful.cohen_kappa == pytest.approx(cohen_kappa_score(given["ann"], given["bob"], weights="linear"))
    assert helpful.krippendorff_alpha == pytest.approx(krippendorff.alpha(
        reliability_data=np.array([given["ann"], given["bob"]], dtype=float), level_of_measurement="ordinal"))
    thumbs = [[s > 2 for s in given[n]] for n in ("ann", "bob")]
    assert stats.agreement["ok"].cohen_kappa == pytest.approx(cohen_kappa_score(*thumbs))
    assert stats.disagreements == 2  # the fourth item: 1 vs 3 (two points apart), and thumbs down vs up
    assert {a.annotator: a.ratings for a in stats.annotators} == {"ann": 8, "bob": 8}


def test_the_change_key_moves_with_ratings_reviews_and_queues_only(store):
    team = make_people(store)
    pairwise_project(store, team["dan"], per_item=2)
    key = results.stats_key(store, actor=team["vic"], project="duel")
    assert results.stats_key(store, actor=team["vic"], project="duel") == key
    ann = team["ann"]
    first, second = ratings.queue(store, actor=ann, project="duel")[:2]
    ratings.submit(store, actor=ann, project="duel", item_id=first.item_id, answers={"better": "A"})
    rated = results.stats_key(store, actor=team["vic"], project="duel")
    assert rated != key
    ratings.skip(store, actor=ann, project="duel", item_id=second.item_id)
    skipped = results.stats_key(store, actor=team["vic"], project="duel")
    assert skipped != rated
    results.settle(store, actor=team["dan"], project="duel", item_id=first.item_id, question="better", value="B")
    assert results.stats_key(store, actor=team["vic"], project="duel") != skipped
    with pytest.raises(PermissionDenied):
        results.stats_key(store, actor=ann, project="duel")
