"""Every KPI computed in the database from the events equals the same KPI computed with pandas on the same events
(percentiles exactly; the rollup path is tested in test_rollups.py)."""
import math
from datetime import timedelta

import pytest

from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.kpi import query, registry
from core.kpi.query import KpiFilter
from tests.core.kpi import events as ev

VIEWER = Actor(name="vic", role=Role.VIEWER)


def _same(got: dict, expected: dict) -> None:
    assert set(got) == set(registry.KPIS)
    for name, value in expected.items():
        if value is None or isinstance(value, int):
            assert got[name] == value, name
        else:
            assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.fixture
def logged(any_store):
    events = ev.make_events(600)
    ev.log(any_store, events)
    return any_store, events, ev.frame(events)


def test_every_kpi_overall_per_group_and_per_week_equals_pandas(logged):
    store, _events, df = logged
    report = query.compute_kpis(store, actor=VIEWER, by="segment", every="week", source="events")
    assert set(ev.pandas_kpis(df)) == set(registry.KPIS), "every registered KPI has a pandas computation to meet"
    _same(report.overall, ev.pandas_kpis(df))
    assert {g["by"]["segment"] for g in report.groups} == {"claims", "billing", "sales"}
    for group in report.groups:
        _same(group["kpis"], ev.pandas_kpis(df[df["segment"] == group["by"]["segment"]]))
    weeks = df["time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("W-SUN").dt.start_time
    assert {s["period"] for s in report.series} == {f"{w:%Y-%m-%d}" for w in weeks}
    for entry in report.series:
        rows = df[(weeks == entry["period"]) & (df["segment"] == entry["by"]["segment"])]
        _same(entry["kpis"], ev.pandas_kpis(rows))


def test_filters_by_period_metadata_deployment_and_version(logged):
    store, _events, df = logged
    since, until = ev.START + timedelta(days=3), ev.START + timedelta(days=9)
    filters = KpiFilter(since=since, until=until, deployment="support-bot", where={"region": "eu",
                                                                                 "deployment_version": "2"})
    report = query.compute_kpis(store, actor=VIEWER, filters=filters, by="model", every="day", source="events")
    rows = df[(df["time"] >= since) & (df["time"] < until) & (df["deployment"] == "support-bot")
              & (df["region"] == "eu") & (df["deployment_version"] == 2)]
    assert 0 < len(rows) < len(df)
    _same(report.overall, ev.pandas_kpis(rows))
    for group in report.groups:
        _same(group["kpis"], ev.pandas_kpis(rows[rows["model"] == group["by"]["model"]]))
    days = rows["time"].dt.strftime("%Y-%m-%d")
    for entry in report.series:
        _same(entry["kpis"], ev.pandas_kpis(rows[(days == entry["period"])
                                                  & (rows["model"] == entry["by"]["model"])]))


def test_a_deployment_version_split_and_an_empty_period(logged):
    store, _events, df = logged
    report = query.compute_kpis(store, actor=VIEWER, by="deployment_version", source="events")
    assert sorted(g["by"]["deployment_version"] for g in report.groups) == [1, 2]
    for group in report.groups:
        _same(group["kpis"], ev.pandas_kpis(df[df["deployment_version"] == group["by"]["deployment_version"]]))
    empty = query.compute_kpis(store, actor=VIEWER, filters=KpiFilter(since=ev.START - timedelta(days=30),
                                                                      until=ev.START - timedelta(days=29)))
    assert empty.overall["requests"] == 0 and empty.overall["latency_p95_s"] is None
    assert empty.overall["error_rate"] is None and not math.isnan(empty.overall["cost"])


def test_bad_input_is_one_sentence_and_roles_are_checked(store):
    with pytest.raises(InvalidInput, match="not a period"):
        query.compute_kpis(store, actor=SYSTEM, every="month")
    with pytest.raises(InvalidInput, match="not a field"):
        query.compute_kpis(store, actor=SYSTEM, by="seg'ment")
    with pytest.raises(InvalidInput, match="not a filter"):
        query.parse_where(["segment"])
    with pytest.raises(InvalidInput, match="starts"):
        KpiFilter(since=ev.START, until=ev.START)
    with pytest.raises(PermissionDenied):
        query.compute_kpis(store, actor=Actor(name="ann", role=Role.ANNOTATOR))


def test_until_as_a_bare_date_includes_that_day():
    assert query.parse_day("2026-11-02", end=True) - query.parse_day("2026-11-02") == timedelta(days=1)
