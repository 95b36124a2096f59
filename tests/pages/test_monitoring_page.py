"""The Monitoring page under AppTest: timelines and summary for everyone allowed, prompt text for data scientists
only, alerts acknowledged from the page, a monitor created from the form; the home page lists open alerts."""
from streamlit.testing.v1 import AppTest

from core.governance import logins
from core.governance.roles import Role
from core.monitoring import alerts, monitors, runs
from tests.conftest import PASSWORD
from tests.core.monitoring.test_runs import bag_of_words
from tests.core.monitoring.traffic import log_traffic
from workbench.navigation import PAGES

PAGES_DIR = PAGES[0].path.parent
PAGE = str(PAGES_DIR / "monitoring.py")


def _open(store, name: str, page: str = PAGE) -> AppTest:
    app = AppTest.from_file(page, default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _said(elements, text: str) -> bool:
    return any(text in e.value.replace("\\", "") for e in elements)


def _seeded(store, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    log_traffic(store, days=7, shift_day=5)
    monitor = monitors.create_monitor(store, actor=dan, name="support", reference="events:2026-01-01..2026-01-04",
                                      fields=["prompt_chars", "meta.topic", "prompt_embedding"], min_windows=1)
    runs.run_monitor(store, actor=dan, monitor_id=monitor.id, encoder=bag_of_words)
    return monitor


def test_scientists_see_the_summary_timelines_and_the_most_novel_prompts(store, people):
    _seeded(store, people)
    app = _open(store, "dan")
    assert not app.exception, app.exception
    assert _said(app.warning, "Since 06 Jan") and _said(app.warning, "longer")
    app.selectbox(key="monitoring.field.1").select("prompt_embedding").run()
    assert not app.exception
    frames = [f.value for f in app.dataframe]
    assert any("text" in f.columns and f["text"].str.startswith("I have a").any() for f in frames)


def test_viewers_see_timelines_and_alerts_but_no_prompt_text_nor_buttons(store, people):
    _seeded(store, people)
    app = _open(store, "vic")
    assert not app.exception
    assert _said(app.warning, "Since 06 Jan")
    assert not any(b.label in ("Run now", "Acknowledge", "Resolve") for b in app.button)
    app.selectbox(key="monitoring.field.1").select("prompt_embedding").run()
    assert not any("text" in f.value.columns for f in app.dataframe)
    assert _said(app.caption, "Prompt text is shown to data scientists only")


def test_an_alert_is_acknowledged_from_the_page_and_shown_on_home(store, people):
    _seeded(store, people)
    home = _open(store, "vic", str(PAGES_DIR / "home.py"))
    assert not home.exception and _said(home.markdown, "Drift on monitor support")
    app = _open(store, "dan")
    next(b for b in app.button if b.label == "Acknowledge").click().run()
    assert not app.exception
    [alert] = alerts.list_alerts(store, actor=people[Role.VIEWER].as_actor(), status="active")
    assert alert.status == "acknowledged" and alert.acknowledged_by == "dan"


def test_a_monitor_is_created_from_the_form_and_annotators_are_refused(store, people):
    log_traffic(store, days=5)
    app = _open(store, "dan")
    assert any("No monitor yet" in i.value for i in app.info)
    inputs = {t.label: t for t in app.text_input}
    inputs["Name"].input("latency watch")
    inputs["Reference"].input("events:2026-01-01..2026-01-03")
    next(b for b in app.button if b.label == "Create monitor").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert [m.name for m in monitors.list_monitors(store, actor=people[Role.DATA_SCIENTIST].as_actor())] == ["latency watch"]
    refused = _open(store, "ann")
    assert _said(refused.error, "Not authorised")
