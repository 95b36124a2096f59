"""`workbench events ...` as real processes: ingest (JSON shape, idempotent, bad rows), list with filters, export."""
import json

from tests.cli.test_cli import run

CSV = (
    "time,model,input,output,application,user_id,latency_s,tokens_in,tokens_out,status,feedback,segment\n"
    "2026-11-01T10:00:00Z,bot,Where is my parcel?,It ships today.,helpdesk,u1,0.4,9,4,ok,up,claims\n"
    "2026-11-02T10:00:00Z,bot,Cancel my order,Done.,web,u2,0.3,5,2,ok,down,billing\n"
    "2026-11-03T10:00:00Z,other,Hello,,web,u3,,,,error,,claims\n"
)


def test_ingest_prints_the_events_added_and_the_same_file_again_adds_none(home, tmp_path):
    path = tmp_path / "traffic.csv"
    path.write_text(CSV)
    first = run("events", "ingest", str(path), "--json", home=home)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["events"] == 3
    again = run("events", "ingest", str(path), "--json", home=home)
    data = json.loads(again.stdout)
    assert data["events"] == 0 and data["already_ingested"] and "ingested before" in data["message"]
    plain = run("events", "ingest", str(path), home=home)
    assert plain.stdout == "traffic.csv was ingested before (same content); nothing was added.\n"


def test_list_filters_and_prints_event_objects_with_the_contract_fields(home, tmp_path):
    path = tmp_path / "traffic.csv"
    path.write_text(CSV)
    run("events", "ingest", str(path), home=home)
    listed = json.loads(run("events", "list", "--json", home=home).stdout)
    assert [e["user_id"] for e in listed] == ["u3", "u2", "u1"]
    newest = listed[0]
    for name in ("event_id", "response_id", "time", "deployment", "deployment_version", "arm", "model", "adapter",
                 "template_version", "application", "user_id", "input", "output", "finish_reason", "latency_s",
                 "ttft_s", "tokens_in", "tokens_out", "cost", "status", "error", "feedback_score",
                 "feedback_comment", "feedback_at", "metadata", "guard_flags", "source"):
        assert name in newest, name
    assert newest["metadata"] == {"segment": "claims"} and newest["status"] == "error"
    assert listed[2]["input"] == [{"role": "user", "content": "Where is my parcel?"}]
    assert listed[2]["time"] == "2026-11-01T10:00:00+00:00" and listed[2]["feedback_score"] == 1.0

    def users(*args):
        out = run("events", "list", *args, "--json", home=home)
        assert out.returncode == 0, out.stderr
        return [e["user_id"] for e in json.loads(out.stdout)]

    assert users("--where", "segment=claims") == ["u3", "u1"]
    assert users("--where", "segment=claims", "--model", "bot") == ["u1"]
    assert users("--application", "web", "--since", "2026-11-02", "--until", "2026-11-03") == ["u2"]
    assert users("--limit", "1") == ["u3"]
    text = run("events", "list", home=home).stdout
    assert text.startswith("EVENT") and "helpdesk" in text


def test_bad_rows_are_one_line_and_skip_bad_rows_keeps_the_rest(home, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(CSV.replace("0.3,5,2", "0.3,five,2"))
    bad = run("events", "ingest", str(path), "--json", home=home)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: Line 3 of bad.csv: column 'tokens_in' is not a number ('five').")
    assert json.loads(run("events", "list", "--json", home=home).stdout) == []
    kept = run("events", "ingest", str(path), "--skip-bad-rows", "--json", home=home)
    assert json.loads(kept.stdout)["events"] == 2 and json.loads(kept.stdout)["skipped_rows"] == 1


def test_export_makes_a_dataset_version_with_its_window_as_lineage(home, tmp_path):
    path = tmp_path / "traffic.csv"
    path.write_text(CSV)
    run("events", "ingest", str(path), home=home)
    out = run("events", "export", "--model", "bot", "--since", "2026-11-01", "--until", "2026-11-05",
              "--name", "live-traffic", "--json", home=home)
    assert out.returncode == 0, out.stderr
    version = json.loads(out.stdout)
    assert version["ref"] == "live-traffic@1" and version["rows"] == 2
    assert version["source"] == "from events 2026-11-01 00:00 to 2026-11-05 00:00 (model = bot)"
    names = [c["name"] for c in version["columns"]]
    assert {"event_id", "prompt", "output", "messages", "segment"} <= set(names)
    empty = run("events", "export", "--model", "nobody", "--name", "x", home=home)
    assert empty.returncode == 2 and "No event matches" in empty.stderr
