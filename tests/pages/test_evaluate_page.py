"""The Evaluate page under AppTest: a run's pass rates, flipped cases and outputs (hostile output inert), slices,
gate results, what a viewer may do, and starting a run as a job; charts drawn from real runs; suites from a dataset
version and counterfactual probes from their forms."""
import json

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation import runs, suites
from core.governance import logins
from core.governance.roles import SYSTEM
from core.jobs import actions
from core.models import sources
from tests.conftest import PASSWORD
from tests.core.models.helpers import EchoAndPolite, SERVER_KEY, openai_server
from workbench.navigation import PAGES_DIR

PAGE = str(PAGES_DIR / "evaluate.py")
HOSTILE = "<img src=x onerror=alert(1)> **bold** [link](http://evil)"


def _open(store, name="dan") -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


class _EchoAndPolite(EchoAndPolite):
    polite_answer = "Sure, glad to help with your refund."


@pytest.fixture
def remote(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server(_EchoAndPolite) as url:
        for name, model in (("remote", "tiny-chat"), ("remote2", "tiny-chat"), ("polite", "polite")):
            sources.add_endpoint(store, actor=SYSTEM, name=name, base_url=url, model=model,
                                 api_key_env="TEST_ENDPOINT_KEY")
        yield "remote"


def _charts(app) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]


def _titled(app, start: str) -> dict:
    return next(c for c in _charts(app) if c["layout"]["title"]["text"].startswith(start))


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


def _scored_suite(store):
    return suites.create_suite(store, actor=SYSTEM, name="scored", checks=[
        {"check": "contains", "params": {"value": "refund"}}, {"check": "chrf", "params": {"threshold": 0}}],
        cases=[suites.CaseIn({"input": "refund please", "segment": "pro"}, reference="refund done"),
               suites.CaseIn({"input": "My husband wants his money back", "segment": "free"},
                             reference="refund on its way")])


def test_charts_show_pass_rates_with_intervals_scores_flips_and_slices(store, people, remote):
    _scored_suite(store)
    run = runs.run_evaluation(store, actor=SYSTEM, suite="scored", models=["remote", "polite"])
    app = _open(store)
    assert not app.exception
    rates = _titled(app, "Pass rate per check and model")
    bars = {trace["name"]: dict(zip(trace["x"], trace["y"])) for trace in rates["data"]}
    assert bars["remote"]["contains"] == 0.5 and bars["polite"]["contains"] == 1.0  # "refund" in one echo
    assert bars["remote"]["all checks"] == 0.5
    remote_bar = next(t for t in rates["data"] if t["name"] == "remote")
    assert remote_bar["error_y"]["array"][0] == pytest.approx(0.5)  # 2 cases: the bootstrap interval is 0 to 1
    scores = _titled(app, "Mean score per check")
    table = {m["model"]: {c["check"]: c for c in m["checks"]} for m in runs.report(store, actor=SYSTEM,
                                                                                 run_id=run.id)["models"]}
    means = {trace["name"]: trace["y"][0] for trace in scores["data"]}
    assert means == {m: pytest.approx(table[m]["chrf"]["mean"]) for m in ("remote", "polite")}
    flips = _titled(app, "Flips against remote")
    counts = {(t["name"], t["xaxis"]): t["y"] for t in flips["data"]}
    assert counts[("regressions", "x")] == [0] and counts[("improvements", "x")] == [1]
    assert counts[("improvements", "x2")] == [1]  # the contains check changed
    app.selectbox(key="evaluate.slice_by").set_value("segment").run()
    slices = _titled(app, "case pass rate by segment")
    assert dict(zip(slices["data"][0]["x"], slices["data"][0]["y"])) == {"pro": 1.0, "free": 0.0}


def test_a_viewer_sees_charts_but_no_case_text(store, people, remote):
    _scored_suite(store)
    runs.run_evaluation(store, actor=SYSTEM, suite="scored", models=["remote", "polite"])
    app = _open(store, "vic")
    assert not app.exception
    assert _titled(app, "Pass rate per check and model") and _titled(app, "Flips against remote")
    shown = " ".join(str(d.value.to_dict()) for d in app.dataframe) + " ".join(str(t.value) for t in app.text)
    shown += " ".join(str(c.value) for c in app.code)
    assert "husband" not in shown and "refund please" not in shown and "Missing" not in shown
    assert runs.WITHHELD in shown


def _dataset(store, tmp_path):
    from core.data import ingest

    file = tmp_path / "tickets.csv"
    file.write_text("body,segment,agent_reply\nMy husband cannot log in,pro,Reset it here\n"
                    "Refund please,free,Refund sent\nWhere is my invoice?,pro,Attached\n")
    ingest.import_file(store, actor=SYSTEM, path=file, name="tickets")


def test_a_suite_is_made_from_a_dataset_version_on_the_page(store, people, tmp_path):
    from core.governance import audit

    _dataset(store, tmp_path)
    app = _open(store)
    assert app.text_input(key="evaluate.ds_name").value == "tickets-cases"
    assert app.selectbox(key="evaluate.ds_reference").value == "agent_reply"  # guessed from the column name
    assert app.selectbox(key="evaluate.ds_input").value == "body"
    app.number_input(key="evaluate.ds_rows").set_value(2)
    app.number_input(key="evaluate.ds_max_chars").set_value(300)
    next(b for b in app.button if b.label == "Create suite").click().run()
    assert not app.exception and not app.error
    suite = suites.get_suite(store, actor=SYSTEM, ref="tickets-cases")
    assert suite.dataset_version == "tickets@1" and suite.case_count == 2
    assert [c.reference for c in suite.cases] == ["Reset it here", "Refund sent"]
    assert [c["check"] for c in suite.checks] == ["refusal", "no_pii", "length"]
    events = audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="eval.suite.create"))
    assert [(e.actor, e.target_id) for e in events] == [("dan", "tickets-cases@1")]


def test_a_bad_suite_name_is_one_sentence(store, people, tmp_path):
    _dataset(store, tmp_path)
    app = _open(store)
    app.text_input(key="evaluate.ds_name").set_value("no spaces allowed!")
    next(b for b in app.button if b.label == "Create suite").click().run()
    assert not app.exception and len(app.error) == 1
    assert not suites.list_suites(store, actor=SYSTEM)


def test_a_counterfactual_probe_runs_as_a_job_from_the_page(store, people, remote):
    from core.evaluation import bias

    _scored_suite(store)
    app = _open(store)
    app.selectbox(key="evaluate.probe_model").set_value("remote")
    app.text_area(key="evaluate.probe_swaps").set_value("husband = wife\nhis = her")
    next(b for b in app.button if b.label == "Run probe").click().run()
    assert not app.exception and not app.error
    job_id = app.session_state["evaluate.probe_job"]
    done = actions.wait(store, actor=SYSTEM, job_id=job_id, timeout_s=300, poll_s=0.3)
    assert done.status == "succeeded", done.error
    app = _open(store)
    chart = _titled(app, "Counterfactual probe: 1 pair(s) of scored@1 on remote")
    assert dict(zip(chart["data"][0]["y"], chart["data"][0]["x"]))["verdict changed"] == 0.0
    worst = next(d.value for d in app.dataframe if "swapped answer" in d.value.columns)
    assert worst["swapped answer"][0] == "echo: My wife wants her money back"
    viewer = _open(store, "vic")
    assert _titled(viewer, "Counterfactual probe")
    assert not [d for d in viewer.dataframe if "swapped answer" in d.value.columns]
    assert "Run probe" not in [b.label for b in viewer.button]
    assert [p.job_id for p in bias.list_probes(store, actor=SYSTEM)] == [job_id]


def test_a_bad_swap_list_is_one_sentence(store, people, remote):
    _scored_suite(store)
    app = _open(store)
    app.text_area(key="evaluate.probe_swaps").set_value("husband wife")
    next(b for b in app.button if b.label == "Run probe").click().run()
    assert not app.exception and len(app.error) == 1 and "Line 1" in app.error[0].value
    assert "evaluate.probe_job" not in app.session_state
