"""`workbench monitor ...` as real processes: drift JSON shape, a saved monitor run end to end, alerts handled."""
import json

from core.home import open_store
from tests.cli.test_cli import run
from tests.core.monitoring.traffic import log_traffic

FIELD_KEYS = {"field", "kind", "test", "statistic", "p_value", "threshold", "drift_detected", "reference_size",
              "current_size"}


def _traffic(home):
    store = open_store(home)
    log_traffic(store, days=8, shift_day=5)
    store.dispose()


def test_drift_between_event_ranges_prints_the_documented_json(home):
    _traffic(home)
    out = run("monitor", "drift", "--reference", "events:2026-01-01..2026-01-05", "--current", "events:2026-01-06..",
              "--fields", "prompt_chars,latency_s,meta.topic,error", "--test", "latency_s=ks", "--json", home=home)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"fields", "share_drifted"} and all(set(f) == FIELD_KEYS for f in data["fields"])
    verdicts = {f["field"]: f["drift_detected"] for f in data["fields"]}
    assert verdicts == {"prompt_chars": True, "latency_s": True, "meta.topic": True, "error": False}
    assert data["share_drifted"] == 0.75
    latency = next(f for f in data["fields"] if f["field"] == "latency_s")
    assert latency["test"] == "ks" and latency["p_value"] < 0.05 and latency["reference_size"] == 480
    filtered = json.loads(run("monitor", "drift", "--reference", "events:..2026-01-05", "--current",
                              "events:2026-01-06..", "--where", "topic=login", "--fields", "meta.topic", "--json",
                              home=home).stdout)
    assert filtered["fields"][0]["current_size"] < 3 * 120 * 0.3


def test_create_run_show_and_handle_the_alert(home):
    _traffic(home)
    created = run("monitor", "create", "support", "--reference", "events:2026-01-01..2026-01-04",
                  "--fields", "prompt_chars,latency_s,thumbs_up,meta.topic", "--min-windows", "2", "--json", home=home)
    assert created.returncode == 0, created.stderr
    ran = run("monitor", "run", "support", home=home)
    assert ran.returncode == 0, ran.stderr
    assert "Since 06 Jan" in ran.stdout and "Alert 1 is open" in ran.stdout
    shown = json.loads(run("monitor", "show", "support", "--json", home=home).stdout)
    assert shown["latest_run"]["windows"] == 5 and len(shown["latest_window"]) == 4
    assert all(p["drift_detected"] for p in shown["latest_window"] if p["field"] != "thumbs_up")
    alerts = json.loads(run("monitor", "alerts", "--status", "active", "--json", home=home).stdout)
    assert [a["source"] for a in alerts] == ["monitor:1"]
    acked = run("monitor", "ack", "1", "--note", "looking", home=home)
    assert acked.stdout.strip() == "Alert 1 acknowledged by local-operator."
    assert json.loads(run("monitor", "resolve", "1", "--json", home=home).stdout)["status"] == "resolved"
    again = run("monitor", "resolve", "1", home=home)
    assert again.returncode == 2 and again.stderr.startswith("error: Alert 1 was already resolved")
    assert run("monitor", "delete", "support", home=home).returncode == 0
    assert "No monitor yet" in run("monitor", "list", home=home).stdout


def test_bad_input_is_one_line(home):
    for args, message in [
        (("monitor", "drift", "--reference", "events:2026-02-01", "--current", "events"), "not an event range"),
        (("monitor", "drift", "--reference", "nope", "--current", "events"), "no dataset named 'nope'"),
        (("monitor", "create", "m", "--reference", "events", "--fields", "colour"), "'colour' is not a field"),
        (("monitor", "drift", "--reference", "events", "--current", "events", "--threshold", "a=b"), "not a number"),
    ]:
        out = run(*args, home=home)
        assert out.returncode == 2 and out.stderr.startswith("error: ") and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
