"""The Annotate page (annotators) and the Feedback page (data scientists, viewers) under AppTest."""
import pandas as pd
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from core.data import versions
from core.feedback import projects, ratings, sources
from core.feedback.schema import parse_question
from core.governance import logins
from core.governance.roles import SYSTEM
from core.storage.tables import Rating
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

PAGES_DIR = PAGES[0].path.parent
XSS = "<script>alert('x')</script><img src=https://evil.example/x.png> **bold**"


def _open(store, name: str, page: str) -> AppTest:
    app = AppTest.from_file(str(PAGES_DIR / page), default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _project(store, people, questions=("better:pairwise",)):
    frame = pd.DataFrame({"q": ["Reset my password?", "Where is my order?"], "one": [XSS, "It ships today."],
                          "two": ["Click 'Forgot password'.", "No idea."]})
    versions.save_version(store, actor=SYSTEM, name="replies", frame=frame, transformation="import", source="r.csv")
    return projects.create_project(
        store, actor=people["data_scientist"].as_actor(), name="duel",
        source=sources.DatasetSource(ref="replies", prompt_column="q", response_columns=("one", "two")),
        questions=[parse_question(q) for q in questions], annotators=["ann"], guidelines="Be **fair**.")


def _button(app, label):
    return next(b for b in app.button if b.label == label)


def test_an_annotator_rates_a_pairwise_item_with_one_press_and_outputs_stay_text(store, people):
    _project(store, people)
    app = _open(store, "ann", "annotate.py")
    assert not app.exception and not app.error, [e.value for e in app.error]
    codes = [c.value for c in app.code]
    assert XSS in codes  # shown verbatim in a code block, never as HTML
    assert not any("evil.example" in m.value for m in app.markdown)
    assert {b.label for b in app.button} >= {"A is better", "Tie", "B is better", "Skip", "Back"}
    assert "one" not in [m.value for m in app.markdown]  # no column or model names
    _button(app, "A is better").click().run()
    assert not app.exception
    with store.read() as session:
        (rating,) = session.exec(select(Rating)).all()
    assert rating.annotator == "ann" and rating.question == "better"
    assert "1 of 2 rated" in app.get("progress")[0].proto.text
    # Back, then change the answer: the same row is updated.
    _button(app, "Back").click().run()
    _button(app, "Tie").click().run()
    with store.read() as session:
        (rating,) = session.exec(select(Rating)).all()
    assert rating.value == "tie" and rating.revision == 2


def test_likert_and_submit(store, people):
    frame = pd.DataFrame({"q": ["Hi?"], "a": ["Hello!"]})
    versions.save_version(store, actor=SYSTEM, name="single", frame=frame, transformation="import", source="s.csv")
    projects.create_project(store, actor=people["data_scientist"].as_actor(), name="likert",
                            source=sources.DatasetSource(ref="single", prompt_column="q", response_columns=("a",)),
                            questions=[parse_question("helpfulness:likert")], annotators=["ann"])
    app = _open(store, "ann", "annotate.py")
    assert _button(app, "Submit").disabled
    _button(app, "4 · Good").click().run()
    _button(app, "Submit").click().run()
    assert not app.exception
    assert any("queue is empty" in s.value for s in app.success)
    assert ratings.progress(store, actor=people["annotator"].as_actor(), project="likert").done == 1


def test_other_roles_cannot_rate_and_annotators_cannot_open_the_feedback_page(store, people):
    _project(store, people)
    for name in ("dan", "vic"):
        app = _open(store, name, "annotate.py")
        assert app.error[0].value.startswith("Not authorised")
    app = _open(store, "ann", "feedback.py")
    assert app.error[0].value.startswith("Not authorised")


def test_home_lists_the_annotators_queue(store, people):
    _project(store, people)
    app = _open(store, "ann", "home.py")
    assert not app.exception
    assert "Your rating queue" in [h.value for h in app.subheader]
    assert "0 of 2 rated · 2 waiting" in app.get("progress")[0].proto.text


def test_viewers_read_the_leaderboard_and_data_scientists_also_review_and_export(store, people):
    _project(store, people)
    ann = people["annotator"].as_actor()
    for item in ratings.queue(store, actor=ann, project="duel"):
        ratings.submit(store, actor=ann, project="duel", item_id=item.item_id,
                       answers={"better": "A" if item.order == [0, 1] else "B"})
    viewer = _open(store, "vic", "feedback.py")
    assert not viewer.exception and not viewer.error, [e.value for e in viewer.error]
    assert "Leaderboard" in [h.value for h in viewer.subheader]
    assert len(viewer.tabs) == 1  # results only
    assert not any(XSS in c.value for c in viewer.code)
    scientist = _open(store, "dan", "feedback.py")
    assert not scientist.exception and len(scientist.tabs) == 4
