"""Projects: sources, schema checks, round-robin assignment, overlap share, shuffled sides, who sees what."""
import pytest
from sqlmodel import select

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.feedback import projects, sources
from core.feedback.projects import plan_assignments, side_order
from core.feedback.schema import parse_question
from core.governance import audit
from core.governance.roles import SYSTEM
from core.storage.tables import AnnotationAssignment
from tests.core.feedback.conftest import make_people, pairs_dataset, pairwise_project


def test_round_robin_gives_each_item_k_different_annotators_evenly():
    plan = plan_assignments(9, ["a", "b", "c"], per_item=2)
    assert all(len(set(p)) == 2 for p in plan)
    counts = {name: sum(name in p for p in plan) for name in "abc"}
    assert counts == {"a": 6, "b": 6, "c": 6}


def test_overlap_share_gives_that_share_of_items_two_annotators():
    plan = plan_assignments(50, ["a", "b", "c", "d"], overlap=0.2)
    assert sum(len(p) == 2 for p in plan) == 10
    assert sum(len(p) == 1 for p in plan) == 40
    with pytest.raises(InvalidInput, match="overlap"):
        plan_assignments(5, ["a", "b"], overlap=1.5)
    with pytest.raises(InvalidInput, match="at least 3 annotators"):
        plan_assignments(5, ["a", "b"], per_item=3)


def test_sides_are_shuffled_per_item_and_annotator_but_stable():
    orders = [side_order(1, n, who, 2) for n in range(20) for who in ("ann", "bob")]
    assert 10 <= orders.count([1, 0]) <= 30 and orders.count([0, 1]) + orders.count([1, 0]) == 40
    assert [side_order(1, n, "ann", 2) for n in range(20)] != [side_order(1, n, "bob", 2) for n in range(20)]
    assert side_order(1, 3, "ann", 2) == side_order(1, 3, "ann", 2)


@pytest.mark.postgres
def test_create_from_a_dataset_version_stores_items_queues_and_an_audit_row(any_store):
    team = make_people(any_store)
    project = pairwise_project(any_store, team["dan"])
    assert project.items == 6 and project.annotators == ["ann", "bob", "cat"]
    with any_store.read() as session:
        rows = session.exec(select(AnnotationAssignment)).all()
    assert len(rows) == 12 and len({(r.item_id, r.annotator) for r in rows}) == 12
    shown = {tuple(r.order) for r in rows}
    assert shown == {(0, 1), (1, 0)}  # some annotators see the sides swapped
    events = audit.list_events(any_store, actor=SYSTEM, filters=audit.AuditFilter(action="feedback.project.create"))
    assert events[0].actor == "dan" and events[0].after["items"] == 6


def test_schema_must_fit_the_items(store, team):
    pairs_dataset(store)
    with pytest.raises(InvalidInput, match="pairwise, which needs items with two responses"):
        projects.create_project(store, actor=team["dan"], name="bad",
                                source=sources.DatasetSource(ref="answers", prompt_column="question",
                                                             response_columns=("good",)),
                                questions=[parse_question("better:pairwise")], annotators=["ann"])
    with pytest.raises(InvalidInput, match="rates one response"):
        projects.create_project(store, actor=team["dan"], name="bad",
                                source=sources.DatasetSource(ref="answers", prompt_column="question",
                                                             response_columns=("good", "bad")),
                                questions=[parse_question("help:likert")], annotators=["ann"])
    with pytest.raises(InvalidInput, match="not a question kind"):
        parse_question("x:stars")
    with pytest.raises(InvalidInput, match="may not rate outputs"):
        pairwise_project(store, team["dan"], annotators=("vic",))
    with pytest.raises(NotFound):
        pairwise_project(store, team["dan"], name="p2", annotators=("nobody",))


def test_only_data_scientists_create_and_names_are_unique(store, team):
    pairwise_project(store, team["dan"])
    with pytest.raises(Conflict):
        projects.create_project(store, actor=team["dan"], name="duel",
                                source=sources.DatasetSource(ref="answers", prompt_column="question",
                                                             response_columns=("good", "bad")),
                                questions=[parse_question("better:pairwise")], annotators=["ann"])
    with pytest.raises(PermissionDenied):
        pairwise_project(store, team["ann"], name="mine")


def test_annotators_see_only_their_projects_and_nothing_of_the_source(store, team):
    pairwise_project(store, team["dan"], annotators=("ann", "bob"), per_item=1)
    assert [p.name for p in projects.list_projects(store, actor=team["ann"])] == ["duel"]
    assert [p.name for p in projects.list_projects(store, actor=team["cat"])] == []
    with pytest.raises(NotFound):
        projects.get_project(store, actor=team["cat"], project="duel")
    public = projects.get_project(store, actor=team["ann"], project="duel").for_annotator()
    assert "source" not in public and "annotators" not in public


def test_comparison_source_makes_cells_or_pairs(store, team):
    from datetime import datetime, timezone

    from core.storage.tables import ComparisonCell, ComparisonRun

    with store.write() as session:
        run = ComparisonRun(name="r", status="succeeded", prompts=["t@1", "t@2"], models=["m"], settings={},
                            rows=2, created_by="dan", finished_at=datetime.now(timezone.utc))
        session.add(run)
        session.flush()
        for row in range(2):
            for prompt in ("t@1", "t@2"):
                session.add(ComparisonCell(run_id=run.id, row_index=row, prompt=prompt, model="m",
                                           variables={"x": f"in{row}"},
                                           messages=[{"role": "user", "content": f"{prompt} in{row}"}],
                                           output=f"out {prompt} {row}"))
        run_id = run.id
    cells = sources.collect(store, actor=team["dan"], source=sources.ComparisonSource(run_id=run_id))
    assert len(cells) == 4 and cells[0].responses[0]["prompt_version"] == "t@1"
    pairs = sources.collect(store, actor=team["dan"], source=sources.ComparisonSource(run_id=run_id, pairs=True))
    assert len(pairs) == 2 and [r["prompt_version"] for r in pairs[0].responses] == ["t@1", "t@2"]
    assert pairs[0].prompt == [{"role": "user", "content": "x: in0"}]  # prompts differ: the shared input is shown
