"""`workbench kpi ...` as real processes: the JSON shape of show, compare, targets, check, export."""
import csv
import io
import json

from core.governance.roles import SYSTEM
from core.home import open_store
from core.monitoring import alerts
from tests.cli.test_cli import run
from tests.core.kpi import events as ev

KPI_NAMES = {"requests", "errors", "error_rate", "latency_p50_s", "latency_p95_s", "latency_p99_s", "tokens_in",
             "tokens_out", "cost", "feedback_count", "thumbs_up_rate", "users"}


def _seed(home, n=400):
    store = open_store(home)
    events = ev.make_events(n)
    ev.log(store, events)
    store.dispose()
    return ev.frame(events)


def test_show_prints_overall_groups_and_series_as_json(home):
    df = _seed(home)
    done = run("kpi", "show", "--since", "2026-11-02", "--until", "2026-11-08", "--by", "segment",
               "--where", "region=eu", "--deployment", "support-bot", "--every", "day", "--json", home=home)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"overall", "groups", "series"} <= set(result) and result["percentiles"] == "exact"
    assert KPI_NAMES <= set(result["overall"])
    rows = df[(df["time"] < ev.START.replace(day=9)) & (df["region"] == "eu") & (df["deployment"] == "support-bot")]
    assert result["overall"]["requests"] == len(rows)
    assert {tuple(g["by"]) for g in result["groups"]} == {("segment",)}
    assert sum(g["kpis"]["requests"] for g in result["groups"]) == len(rows)
    assert all(set(s) == {"period", "by", "kpis"} and KPI_NAMES <= set(s["kpis"]) for s in result["series"])
    assert {s["period"] for s in result["series"]} <= {f"2026-11-{d:02d}" for d in range(2, 9)}
    text = run("kpi", "show", "--by", "model", home=home)
    assert text.returncode == 0 and "latency_p95_s" in text.stdout
    assert "Percentiles: sketch (each within 1% of the exact value)." in text.stdout, "from the hourly rollups"
    exact = run("kpi", "show", "--by", "model", "--exact", home=home)
    assert exact.returncode == 0 and "Percentiles: exact." in exact.stdout


def test_compare_targets_check_and_export(home, tmp_path):
    _seed(home)
    refreshed = json.loads(run("kpi", "refresh", "--json", home=home).stdout)
    assert refreshed["hours"] > 0
    assert json.loads(run("kpi", "refresh", "--json", home=home).stdout)["hours"] == 0, "nothing new: nothing to do"
    compared = json.loads(run("kpi", "compare", "--deployment", "support-bot", "--versions", "1", "2", "--json",
                              home=home).stdout)
    change = next(c for c in compared["changes"] if c["kpi"] == "error_rate")
    assert change["test"] == "two-proportion z-test" and change["n_a"] > 0 and "significant" in change
    made = run("kpi", "target-set", "error_rate", "--at-most", "0.0001", "--window-hours", "2160", "--json",
               home=home)
    assert made.returncode == 0, made.stderr
    target = json.loads(made.stdout)
    checked = json.loads(run("kpi", "check", "--json", home=home).stdout)
    assert [c["status"] for c in checked] == ["failing"] and checked[0]["target"]["id"] == target["id"]
    store = open_store(home)
    assert [a.source for a in alerts.list_alerts(store, actor=SYSTEM, kind="kpi")] == [f"kpi_target:{target['id']}"]
    store.dispose()
    out = tmp_path / "kpis.csv"
    assert run("kpi", "export", "--by", "segment", "--out", str(out), home=home).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows[0]["part"] == "overall" and rows[0]["requests"] == "400"
    assert {r["value"] for r in rows if r["part"] == "group"} == {"claims", "billing", "sales"}
    report = tmp_path / "kpis.html"
    assert run("kpi", "export", "--out", str(report), home=home).returncode == 0
    html = report.read_text()
    assert "<script" in html and "plotly" in html.lower() and "secret prompt" not in html


def test_bad_input_is_one_line(home):
    for args, message in [
        (("kpi", "show", "--since", "yesterday"), "is not a date"),
        (("kpi", "show", "--where", "segment"), "is not a filter"),
        (("kpi", "show", "--kpis", "happiness"), "is not a KPI"),
        (("kpi", "target-set", "cost"), "exactly one of --at-most"),
        (("kpi", "compare", "--versions", "1", "2"), "Name the deployment"),
        (("kpi", "compare"), "start and an end"),
    ]:
        done = run(*args, home=home)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done
