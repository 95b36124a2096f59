"""The demo's feedback: projects from the demo comparison and demo traffic, rated through the core calls, with
real leaderboard, agreement and export figures and a few items left in ann's queue; seeding twice adds nothing."""
from datetime import datetime, timedelta, timezone

from core.compare.demo import DEMO_NAME
from core.events.log import log_events
from core.events.schema import EventIn
from core.feedback import demo, exports, ratings, results
from core.governance import users
from core.governance.roles import SYSTEM, Actor, Role
from core.storage.tables import ComparisonCell, ComparisonRun
from tests.core.feedback.conftest import PASSWORD


def _demo_sources(store):
    users.create_user(store, actor=SYSTEM, name="ann", role=Role.ANNOTATOR, password=PASSWORD)
    with store.write() as session:
        run = ComparisonRun(name=DEMO_NAME, status="succeeded", prompts=["ticket-reply@1", "ticket-reply@2"],
                            models=["smollm2-135m-instruct"], settings={}, rows=4, created_by="system",
                            finished_at=datetime.now(timezone.utc))
        session.add(run)
        session.flush()
        for row in range(4):
            for prompt, text in (("ticket-reply@1", "Dear customer, thank you for your message regarding the matter "
                                  "you described, we will look into it and"),
                                 ("ticket-reply@2", f"Sorry about that! I have reset it for you (ticket {row}).")):
                session.add(ComparisonCell(run_id=run.id, row_index=row, prompt=prompt, model="smollm2-135m-instruct",
                                           variables={"body": f"Ticket {row}"},
                                           messages=[{"role": "user", "content": f"{prompt}: Ticket {row}"}],
                                           output=text))
    start = datetime.now(timezone.utc) - timedelta(days=2)
    log_events(store, [EventIn(model="smollm2-135m-instruct", deployment="support-bot", deployment_version=v,
                               template_version=f"ticket-reply@{v}", time=start + timedelta(minutes=n),
                               input=[{"role": "user", "content": f"Question {n}"}],
                               output="Thanks! Done." if v == 2 else "We will", status="ok")
                       for n in range(60) for v in (1 + n % 2,)], source="demo")


def test_demo_feedback_has_real_numbers_and_leaves_ann_some_items(store):
    _demo_sources(store)
    assert demo.seed_feedback(store, actor=SYSTEM) == [demo.DUEL, demo.TRAFFIC]
    duel = results.project_stats(store, actor=SYSTEM, project=demo.DUEL, rounds=200)
    assert [s.model for s in duel.leaderboard][0].startswith("ticket-reply@2")
    assert duel.agreement["better"].krippendorff_alpha is not None
    traffic = results.project_stats(store, actor=SYSTEM, project=demo.TRAFFIC, rounds=200)
    assert {s.group.split(" ·")[0] for s in traffic.scores} == {"ticket-reply@1", "ticket-reply@2"}
    assert traffic.agreement["helpfulness"].items > 0 and len(traffic.annotators) == 3
    ann = Actor(name="ann", role=Role.ANNOTATOR)
    assert len(ratings.queue(store, actor=ann, project=demo.TRAFFIC)) == demo.LEFT_FOR_ANN
    assert len(ratings.queue(store, actor=ann, project=demo.DUEL)) == 1
    assert exports.export(store, actor=SYSTEM, project=demo.DUEL, fmt="dpo").rows > 0
    assert demo.seed_feedback(store, actor=SYSTEM) == []
