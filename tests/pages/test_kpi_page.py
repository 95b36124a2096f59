"""The KPI page under AppTest: viewers see tiles, charts and targets but no prompt or output text; filters travel
in the URL; a manager sets a target from the page (audited)."""
from streamlit.testing.v1 import AppTest

from core.governance import audit, logins
from core.governance.roles import SYSTEM
from core.kpi import targets
from tests.conftest import PASSWORD
from tests.core.kpi import events as ev
from workbench.navigation import PAGES

PAGE = str(PAGES[0].path.parent.parent / "pages" / "kpi.py")
HOME = str(PAGES[0].path.parent.parent / "pages" / "home.py")


def _open(store, name: str, page: str = PAGE, params: dict | None = None) -> AppTest:
    app = AppTest.from_file(page, default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    for key, value in (params or {}).items():
        app.query_params[key] = value
    return app.run()


def _everything(app: AppTest) -> str:
    """Every text element, table cell and chart the page holds, as one string."""
    parts = [str(e.value) for kind in ("markdown", "caption", "text", "code", "info", "success", "warning", "error",
                                       "subheader", "header", "title") for e in getattr(app, kind)]
    parts += [m.label + str(m.value) for m in app.metric]
    parts += [app.dataframe[i].value.to_csv() for i in range(len(app.dataframe))]
    parts += [str(c.proto.spec) for c in app.get("plotly_chart")]
    return "\n".join(parts)


def test_a_viewer_sees_kpis_and_no_prompt_or_output_text(store, people):
    ev.log(store, ev.make_events(300))
    targets.set_target(store, actor=SYSTEM, kpi="latency_p95_s", comparison="at_most", threshold=0.5,
                       window_hours=2160)
    app = _open(store, "vic", params={"since": "2026-11-02", "until": "2026-11-15", "by": "segment"})
    assert not app.exception and not app.error, [e.value for e in app.error]
    labels = {m.label for m in app.metric}
    assert {"Requests", "Latency p95", "Thumbs-up rate", "Cost (USD)"} <= labels
    assert next(m for m in app.metric if m.label == "Requests").value == "300"
    assert app.get("plotly_chart"), "charts are drawn"
    everything = _everything(app)
    assert "claims" in everything and "failing" in everything
    assert "secret prompt" not in everything and "secret answer" not in everything
    assert "Open the events" not in everything, "viewers get no link into events"


def test_filters_travel_in_the_url_and_a_manager_sets_a_target(store, people):
    ev.log(store, ev.make_events(200))
    app = _open(store, "vic", params={"since": "2026-11-02", "until": "2026-11-08"})
    app.selectbox(key="kpi.by").set_value("region").run()
    assert app.query_params["by"] == "region" and app.query_params["since"] == "2026-11-02"
    assert "token" not in "".join(app.query_params.keys())
    app.selectbox(key="kpi.targets.kpi").set_value("error_rate")
    app.selectbox(key="kpi.targets.comparison").set_value("at_most")
    app.number_input(key="kpi.targets.threshold").set_value(0.05)
    app.text_input(key="kpi.targets.scope_key").input("segment")
    app.text_input(key="kpi.targets.scope_value").input("claims")
    next(b for b in app.button if b.label == "Save target").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    (target,) = targets.list_targets(store, actor=SYSTEM)
    assert (target.kpi, target.threshold, target.scope, target.created_by) == ("error_rate", 0.05,
                                                                              {"segment": "claims"}, "vic")
    assert audit.list_events(store, actor=SYSTEM)[0].action == "kpi_target.create"


def test_an_annotator_may_not_open_the_page(store, people):
    app = _open(store, "ann")
    assert [e.value for e in app.error][0].startswith("Not authorised")


def test_a_viewer_home_shows_kpi_tiles_and_targets(store, people):
    ev.log(store, ev.make_events(200))
    targets.set_target(store, actor=SYSTEM, kpi="requests", comparison="at_least", threshold=1, window_hours=2160)
    app = _open(store, "vic", page=HOME)
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert "KPIs, last 7 days" in [h.value for h in app.subheader]
    assert "Requests" in {m.label for m in app.metric}
    assert "secret prompt" not in _everything(app)


def test_a_chart_exports_as_png_offline_with_the_system_chromium(store):
    from core.kpi import query
    from workbench.ui import kpi_charts

    ev.log(store, ev.make_events(100))
    report = query.compute_kpis(store, actor=SYSTEM, by="segment", every="day")
    image = kpi_charts.png(kpi_charts.series_figure(report, "latency_p95_s"))
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 10_000
