"""The Feedback page's project form under AppTest: two models answer a sample of prompts in a real job process,
the form follows the job, and the project appears when it ends."""
from streamlit.testing.v1 import AppTest

from core.feedback import projects, ratings
from core.governance import logins
from core.governance.roles import SYSTEM
from core.jobs import actions
from tests.conftest import PASSWORD
from tests.core.feedback.test_jobs import questions_dataset, two_endpoints
from workbench.navigation import PAGES

PAGE = str(PAGES[0].path.parent / "feedback.py")


def _open(store, name: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _texts(app: AppTest) -> list[str]:
    return [str(e.value) for kind in ("error", "warning", "info", "success") for e in getattr(app, kind)]


def test_a_data_scientist_makes_a_project_from_two_models_answering_now(store, people, monkeypatch):
    questions_dataset(store, rows=6)
    with two_endpoints(store, monkeypatch) as (first, second):
        app = _open(store, "dan")
        assert not app.exception and not app.error, _texts(app)
        app.radio(key="feedback.new.kind").set_value("generate").run()
        app.multiselect(key="feedback.gen.models").set_value([first, second])
        app.selectbox(key="feedback.gen.column").set_value("question")
        app.number_input(key="feedback.gen.rows").set_value(3)
        app.number_input(key="feedback.gen.max_new_tokens").set_value(8)
        app.text_input(key="feedback.new.name").input("live-duel")
        app.multiselect(key="feedback.new.annotators").set_value(["ann"])
        app.number_input(key="feedback.new.k").set_value(1)
        next(b for b in app.button if b.label == "Generate and create the project").click().run()
        assert not app.exception and not app.error, _texts(app)
        job_id = app.session_state["feedback.new.job"]
        assert "Generate and create the project" not in [b.label for b in app.button]  # no second job meanwhile
        done = actions.wait(store, actor=SYSTEM, job_id=job_id, timeout_s=300, poll_s=0.3)
        assert done.status == "succeeded", (done.error, actions.logs(store, actor=SYSTEM, job_id=job_id)[-3000:])
        app.run()
    assert not app.exception and not app.error, _texts(app)
    assert any(t.replace("\\", "").startswith("Created live-duel with 3 items") for t in _texts(app)), _texts(app)
    project = projects.get_project(store, actor=SYSTEM, project="live-duel")
    assert project.source_kind == "generated" and project.source_params["job_id"] == job_id
    assert project.source_params["models"] == [first, second]
    assert len(ratings.queue(store, actor=people["annotator"].as_actor(), project="live-duel")) == 3


def test_the_results_are_computed_again_only_after_a_change(store, people):
    from tests.core.feedback.conftest import pairwise_project

    pairwise_project(store, people["data_scientist"].as_actor(), per_item=1, annotators=("ann",))
    app = _open(store, "vic")
    assert not app.exception and not app.error, _texts(app)
    first = app.session_state["feedback.stats"]
    app.run()
    assert app.session_state["feedback.stats"] is first  # a rerun without a new rating reuses the figures
    ann = people["annotator"].as_actor()
    item = ratings.queue(store, actor=ann, project="duel")[0]
    ratings.submit(store, actor=ann, project="duel", item_id=item.item_id, answers={"better": "A"})
    app.run()
    assert app.session_state["feedback.stats"] is not first
    assert "1" in [m.value for m in app.metric if m.label == "Ratings"]


def test_cancel_stops_the_job_and_no_project_is_made(store, people, monkeypatch):
    import time

    from tests.core.feedback import test_jobs

    class Slow(test_jobs._TwoStyles):
        def do_POST(self):
            time.sleep(3)
            super().do_POST()

    monkeypatch.setattr(test_jobs, "_TwoStyles", Slow)
    questions_dataset(store, rows=4)
    with two_endpoints(store, monkeypatch) as (first, second):
        app = _open(store, "dan")
        app.radio(key="feedback.new.kind").set_value("generate").run()
        app.multiselect(key="feedback.gen.models").set_value([first, second])
        app.selectbox(key="feedback.gen.column").set_value("question")
        app.text_input(key="feedback.new.name").input("never")
        app.multiselect(key="feedback.new.annotators").set_value(["ann"])
        app.number_input(key="feedback.new.k").set_value(1)
        next(b for b in app.button if b.label == "Generate and create the project").click().run()
        assert not app.exception and not app.error, _texts(app)
        job_id = app.session_state["feedback.new.job"]
        app.button(key=f"feedback.gen.cancel.{job_id}").click().run()
        shown = _texts(app)
        done = actions.wait(store, actor=SYSTEM, job_id=job_id, timeout_s=120, poll_s=0.3)
        assert done.status == "cancelled"
        app.run()
    assert not app.exception, _texts(app)
    shown += _texts(app)  # the form says so on the run that finds the job ended
    assert any("cancelled" in t and "no project was made" in t for t in shown), shown
    assert "feedback.new.job" not in app.session_state
    assert [p.name for p in projects.list_projects(store, actor=SYSTEM)] == []
