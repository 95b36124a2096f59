"""The Data page on real demo datasets: profile, lineage, redaction, export and overlap, without an exception."""
import pytest
from streamlit.testing.v1 import AppTest

from core.data import versions
from core.demo import seed_datasets
from core.governance import logins
from core.governance.roles import SYSTEM, Role
from tests.conftest import PASSWORD
from tests.pages.test_pages import ROOT


@pytest.fixture
def data_page(models_store, people):
    seed_datasets(models_store, actor=SYSTEM)
    token = logins.log_in(models_store, name=people[Role.DATA_SCIENTIST].name, password=PASSWORD).token
    app = AppTest.from_file(str(ROOT / "pages" / "data.py"), default_timeout=120)
    app.session_state["auth.token"] = token
    return app.run()


def _button(app, label):
    return next(b for b in app.button if b.label == label)


@pytest.mark.slow
def test_profiling_the_demo_tickets_shows_alerts_and_readiness(data_page):
    app = data_page
    assert not app.exception
    assert app.selectbox(key="data.selected").value == "support-chat-sft"
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Profile this version").click().run()
    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Rows"] == "3,000" and int(metrics["Alerts"]) > 0
    frames = [df.value for df in app.dataframe]
    alerts = next(f for f in frames if "Finding" in f.columns)
    assert alerts["Finding"].str.contains("personal data").any()
    assert alerts["Severity"].iloc[0].endswith("high")


@pytest.mark.slow
def test_the_chat_set_shows_its_broken_conversations(data_page):
    app = data_page
    _button(app, "Profile this version").click().run()
    assert not app.exception
    readiness = next(df.value for df in app.dataframe if list(df.value.columns) == ["Row", "Problem"])
    assert readiness["Problem"].str.contains("does not end with an assistant reply").any()


def test_redacting_from_the_page_makes_a_new_version(data_page, models_store):
    app = data_page
    app.selectbox(key="data.selected").set_value("support-tickets").run()
    _button(app, "Redact into a new version").click().run()
    assert not app.exception
    assert any("support-tickets@2" in s.value.replace("\\", "") for s in app.success)
    assert versions.get_version(models_store, actor=SYSTEM, ref="support-tickets").parents == ["support-tickets@1"]


def test_overlap_and_export_run(data_page):
    app = data_page
    _button(app, "Check overlap").click().run()
    assert not app.exception
    assert {m.label for m in app.metric} >= {"Exact copies", "Near-duplicates", "Contaminated"}
    _button(app, "Prepare download").click().run()
    assert not app.exception
