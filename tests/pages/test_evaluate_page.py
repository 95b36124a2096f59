"""The Evaluate page under AppTest: a run's pass rates, flipped cases and outputs (hostile output inert), slices,
gate results, what a viewer may do, and starting a run as a job."""
import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation import runs, suites
from core.governance import logins
from core.governance.roles import SYSTEM
from core.jobs import actions
from core.models import sources
from tests.conftest import PASSWORD
from tests.core.models.helpers import SERVER_KEY, openai_server
from workbench.navigation import PAGES_DIR

PAGE = str(PAGES_DIR / "evaluate.py")
HOSTILE = "<img src=x onerror=alert(1)> **bold** [link](http://evil)"


def _open(store, name="dan") -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


@pytest.fixture
def remote(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        sources.add_endpoint(store, actor=SYSTEM, name="remote2", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        yield "remote"


def _suite(store):
    return suites.create_suite(store, actor=SYSTEM, name="faq", checks=[
        {"check": "contains", "params": {"value": "refund"}}], cases=[
        suites.CaseIn({"input": "refund please", "segment": "pro"}),
        suites.CaseIn({"input": HOSTILE, "segment": "free"})])


def test_results_show_pass_rates_outputs_and_slices(store, people, remote):
    _suite(store)
    run = runs.run_evaluation(store, actor=SYSTEM, suite="faq", models=["remote", "remote2"])
    app = _open(store)
    assert not app.exception
    table = app.dataframe[0].value
    assert {"model", "check", "pass rate", "95% CI"} <= set(table.columns)
    row = table[(table["model"] == "remote") & (table["check"] == "contains (contains)")].iloc[0]
    assert (row["passed"], row["failed"], row["pass rate"]) == (1, 1, 0.5)
    app.selectbox(key="evaluate.case").set_value(1).run()
    assert any(HOSTILE in str(t.value) for t in app.text)  # st.text: shown as written, never rendered
    assert not any("<img" in str(m.value) for m in app.markdown)
    app.selectbox(key="evaluate.slice_by").set_value("segment").run()
    slices = next(d.value for d in app.dataframe if "group" in d.value.columns)
    assert set(slices["group"]) == {"pro", "free"}
    assert run.id == app.selectbox(key="evaluate.run_pick").value


def test_a_viewer_reads_results_but_cannot_run_or_import(store, people, remote):
    _suite(store)
    runs.run_evaluation(store, actor=SYSTEM, suite="faq", models=["remote"])
    app = _open(store, "vic")
    assert not app.exception and app.dataframe
    assert not [b for b in app.button if b.label == "Run"]
    assert "New evaluation run" not in [e.label for e in app.expander]


def test_a_run_starts_as_a_job_from_the_page(store, people, remote):
    _suite(store)
    app = _open(store)
    next(b for b in app.button if b.label == "Run").click().run()
    job_id = app.session_state["evaluate.job_id"]
    done = actions.wait(store, actor=SYSTEM, job_id=job_id, timeout_s=300, poll_s=0.3)
    assert done.status == "succeeded", done.error
    assert runs.list_runs(store, actor=SYSTEM)[0].status == "succeeded"


def test_empty_state(store, people):
    app = _open(store)
    assert not app.exception and any("No suite yet" in str(i.value) for i in app.info)
    assert any("No served event" in str(i.value) for i in app.info)


def test_served_traffic_by_segment(store, people):
    from core.events.log import log_events
    from core.events.schema import EventIn

    log_events(store, [EventIn(model="m", feedback_score=score, metadata={"segment": segment})
                       for score, segment in ((1.0, "claims"), (0.0, "claims"), (1.0, "retail"))])
    app = _open(store, "vic")
    table = next(d.value for d in app.dataframe if "group" in d.value.columns)
    assert dict(zip(table["group"], table["value"])) == {"claims": 0.5, "retail": 1.0}
