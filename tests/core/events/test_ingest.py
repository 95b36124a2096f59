"""Event files into the log: Parquet, JSON Lines and CSV; idempotent; bad rows named; nothing half-written."""
import json

import pandas as pd
import pytest

from core.errors import DataError, InvalidInput
from core.events.ingest import ingest_file
from core.events.query import EventFilter, list_events
from core.governance import audit
from core.governance.roles import SYSTEM

ROWS = [
    {"time": "2026-11-01T10:00:00Z", "model": "bot", "input": "How do I reset my password?",
     "output": "Open Settings.", "application": "helpdesk", "user_id": "u1", "latency_s": 0.5, "tokens_in": 12,
     "tokens_out": 4, "cost": 0.001, "status": "ok", "feedback": 1, "segment": "claims", "region": "EU"},
    {"time": "2026-11-01T11:00:00+01:00", "model": "bot", "input": "Where is my refund?", "output": None,
     "application": "helpdesk", "user_id": "u2", "latency_s": 2.5, "tokens_in": 8, "tokens_out": None,
     "cost": None, "status": "error", "feedback": None, "segment": "billing", "region": "US"},
]


def _write(frame: pd.DataFrame, path, kind):
    if kind == "csv":
        frame.to_csv(path, index=False)
    elif kind == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_a_file_lands_as_events_with_metadata_and_again_adds_nothing(any_store, tmp_path, kind):
    path = _write(pd.DataFrame(ROWS), tmp_path / f"traffic.{kind}", kind)
    result = ingest_file(any_store, actor=SYSTEM, path=path)
    assert result.events == 2 and not result.already_ingested and result.metadata_columns == ["segment", "region"]
    events = {e.user_id: e for e in list_events(any_store, actor=SYSTEM)}
    first, second = events["u1"], events["u2"]
    assert first.input == [{"role": "user", "content": "How do I reset my password?"}]
    assert (first.output, first.latency_s, first.tokens_in, first.tokens_out, first.cost) == \
        ("Open Settings.", 0.5, 12, 4, 0.001)
    assert first.feedback_score == 1.0 and first.metadata == {"segment": "claims", "region": "EU"}
    assert first.source == "file" and first.application == "helpdesk" and first.time.hour == 10
    assert second.time.hour == 10 and second.status == "error" and second.output is None
    assert second.tokens_out is None and second.feedback_score is None
    assert [e.user_id for e in list_events(any_store, actor=SYSTEM, filters=EventFilter(where={"region": "US"}))] \
        == ["u2"]

    again = ingest_file(any_store, actor=SYSTEM, path=path)
    assert again.already_ingested and again.events == 0 and "ingested before" in again.message
    assert len(list_events(any_store, actor=SYSTEM)) == 2
    rows = audit.list_events(any_store, actor=SYSTEM, filters=audit.AuditFilter(action="events.ingest"))
    assert len(rows) == 1 and rows[0].after["events"] == 2


def test_chat_messages_in_a_csv_cell_and_in_jsonl_are_kept_as_messages(store, tmp_path):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    csv_path = tmp_path / "chat.csv"
    pd.DataFrame([{"time": "2026-11-01", "model": "m", "input": json.dumps(messages)}]).to_csv(csv_path, index=False)
    jsonl_path = tmp_path / "chat.jsonl"
    jsonl_path.write_text(json.dumps({"time": "2026-11-02", "model": "m", "input": messages}) + "\n")
    ingest_file(store, actor=SYSTEM, path=csv_path)
    ingest_file(store, actor=SYSTEM, path=jsonl_path)
    assert [e.input for e in list_events(store, actor=SYSTEM)] == [messages, messages]


@pytest.mark.parametrize("kind,line", [("csv", "Line 4"), ("jsonl", "Line 3"), ("parquet", "Row 3")])
def test_a_bad_row_is_one_sentence_naming_line_and_column_and_nothing_is_written(store, tmp_path, kind, line):
    rows = [dict(ROWS[0]), dict(ROWS[1]), {**ROWS[0], "tokens_in": "lots", "user_id": "u3"}]
    if kind == "parquet":
        rows[2]["tokens_in"] = -3
    frame = pd.DataFrame(rows)
    if kind != "parquet":
        frame = frame.astype({"tokens_in": "object"})
    path = _write(frame, tmp_path / f"bad.{kind}", kind)
    with pytest.raises(DataError) as caught:
        ingest_file(store, actor=SYSTEM, path=path)
    assert caught.value.message.startswith(f"{line} of bad.{kind}: column 'tokens_in' ")
    assert "--skip-bad-rows" in caught.value.hint
    assert list_events(store, actor=SYSTEM) == []

    kept = ingest_file(store, actor=SYSTEM, path=path, skip_bad_rows=True)
    assert kept.events == 2 and len(kept.skipped) == 1 and kept.skipped[0].startswith(f"{line}: column 'tokens_in'")
    assert sorted(e.user_id for e in list_events(store, actor=SYSTEM)) == ["u1", "u2"]


def test_missing_columns_times_and_statuses_are_refused(store, tmp_path):
    path = tmp_path / "no_input.csv"
    path.write_text("time,model\n2026-11-01,m\n")
    with pytest.raises(DataError, match="has no 'input' column"):
        ingest_file(store, actor=SYSTEM, path=path)
    path = tmp_path / "quoted.csv"
    path.write_text('time,model,input,status\n2026-11-01,m,"two\nlines",ok\nsoon,m,x,ok\n')
    with pytest.raises(DataError, match="Line 4 of quoted.csv: column 'time' is not a date and time \\('soon'\\)"):
        ingest_file(store, actor=SYSTEM, path=path)
    path = tmp_path / "status.csv"
    path.write_text("time,model,input,status\n2026-11-01,m,x,fine\n")
    with pytest.raises(DataError, match="column 'status' must be one of ok, error, rate_limited"):
        ingest_file(store, actor=SYSTEM, path=path)
    path = tmp_path / "short.csv"
    path.write_text("time,model,input\n2026-11-01,m\n")
    with pytest.raises(DataError, match="Line 2 of short.csv has 2 fields instead of 3"):
        ingest_file(store, actor=SYSTEM, path=path)
    with pytest.raises(InvalidInput, match="not an event file"):
        ingest_file(store, actor=SYSTEM, path=tmp_path / "events.xlsx")
    assert list_events(store, actor=SYSTEM) == []
