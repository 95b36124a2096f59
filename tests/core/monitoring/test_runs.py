"""Saved monitors: create/list/delete audited, runs per daily window, alerts after N windows in a row, viewers
see timelines without prompt text."""
import zlib

import numpy as np
import pytest

from core.errors import Conflict, InvalidInput, PermissionDenied
from core.governance import audit
from core.governance.audit import AuditFilter
from core.governance.roles import SYSTEM, Actor, Role
from core.monitoring import alerts, monitors, runs
from tests.core.monitoring.traffic import log_traffic

VIEWER = Actor(name="vic", role=Role.VIEWER)
SCIENTIST = Actor(name="dan", role=Role.DATA_SCIENTIST)


def bag_of_words(texts):
    """A small deterministic sentence encoder (hashed words), standing in for MiniLM where speed matters."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, zlib.crc32(word.encode()) % 64] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def _monitor(store, **kw):
    options = dict(name="support", reference="events:2026-01-01..2026-01-04",
                   fields=["prompt_chars", "latency_s", "thumbs_up", "meta.topic", "error"], min_windows=2)
    options.update(kw)
    return monitors.create_monitor(store, actor=SCIENTIST, **options)


@pytest.mark.postgres
def test_a_run_tests_each_daily_window_and_opens_one_alert_after_two_drifting_windows(any_store):
    log_traffic(any_store, days=8, shift_day=5)
    monitor = _monitor(any_store)
    notes = []
    run = runs.run_monitor(any_store, actor=SCIENTIST, monitor_id=monitor.id,
                           progress=lambda done, total, note: notes.append((done, total)))
    assert run.status == "succeeded" and run.windows == 5  # 4 to 8 January, after the reference
    assert notes[-1] == (5, 6)
    assert set(run.drifted_fields) >= {"prompt_chars", "latency_s", "meta.topic"} and "error" not in run.drifted_fields
    assert run.summary.startswith("Since 06 Jan,") and "longer" in run.summary
    points = runs.timeline(any_store, actor=VIEWER, monitor_id=monitor.id)
    chars = [p for p in points if p.field == "prompt_chars"]
    assert [p.window_start.day for p in chars] == [4, 5, 6, 7, 8]
    assert [p.drift_detected for p in chars] == [False, False, True, True, True]  # the shift is on day 6
    assert all(p.current_size == 120 for p in chars) and chars[0].reference_size == 360
    assert "histogram" in chars[-1].details and "change" in chars[-1].details
    active = alerts.list_alerts(any_store, actor=VIEWER, status="active")
    assert len(active) == 1 and active[0].source == f"monitor:{monitor.id}" and active[0].message == run.summary
    again = runs.run_monitor(any_store, actor=SCIENTIST, monitor_id=monitor.id)
    assert again.alert_id == active[0].id
    assert alerts.get_alert(any_store, actor=VIEWER, alert_id=active[0].id).times_raised == 2


def test_no_alert_until_the_minimum_windows_in_a_row(store):
    log_traffic(store, days=6, shift_day=5)  # one shifted window only (6 January)
    monitor = _monitor(store, min_windows=2)
    run = runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id)
    assert run.drifted_fields == [] and run.alert_id is None
    assert alerts.list_alerts(store, actor=VIEWER) == []


def test_viewers_see_timelines_without_prompt_text_and_scientists_see_it(store):
    log_traffic(store, days=7, shift_day=5)
    monitor = _monitor(store, fields=["prompt", "prompt_embedding"], min_windows=1)
    runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id, encoder=bag_of_words)
    for_viewer = [p for p in runs.timeline(store, actor=VIEWER, monitor_id=monitor.id) if p.drift_detected]
    for_scientist = [p for p in runs.timeline(store, actor=SCIENTIST, monitor_id=monitor.id) if p.drift_detected]
    assert {p.field for p in for_scientist} == {"prompt", "prompt_embedding"}
    embedding = next(p for p in for_scientist if p.field == "prompt_embedding")
    assert embedding.test == "mmd" and embedding.details["examples"][0]["text"].startswith("I have a")
    assert any(w["word"] in ("claim", "accident", "damage") for w in next(
        p for p in for_scientist if p.field == "prompt").details["words_grown"])
    text = repr([p.details for p in for_viewer])
    assert "I have a" not in text and "words_grown" not in text and "claim" not in text.replace("claims", "")


def test_create_checks_its_input_and_delete_removes_runs_both_audited(store):
    log_traffic(store, days=6)
    with pytest.raises(InvalidInput, match="not a field"):
        _monitor(store, fields=["colour"])
    with pytest.raises(InvalidInput, match="does not apply"):
        _monitor(store, tests={"meta.topic": "ks"})
    with pytest.raises(InvalidInput, match="not a window"):
        _monitor(store, window="month")
    with pytest.raises(PermissionDenied):
        monitors.create_monitor(store, actor=VIEWER, name="x", reference="events", fields=["latency_s"])
    monitor = _monitor(store, tests={"latency_s": "ks"}, thresholds={"latency_s": 0.01})
    with pytest.raises(Conflict):
        _monitor(store)
    assert [m.name for m in monitors.list_monitors(store, actor=VIEWER)] == ["support"]
    runs.run_monitor(store, actor=SCIENTIST, monitor_id=monitor.id)
    assert {p.test for p in runs.timeline(store, actor=VIEWER, monitor_id=monitor.id) if p.field == "latency_s"} == {"ks"}
    monitors.delete_monitor(store, actor=SCIENTIST, ref="support")
    assert monitors.list_monitors(store, actor=VIEWER) == []
    actions = [e.action for e in audit.list_events(store, actor=SYSTEM, filters=AuditFilter(target_type="monitor"))]
    assert actions == ["monitor.delete", "monitor.run", "monitor.create"]


def test_the_reference_can_come_from_the_deployments_lineage(store, tmp_path):
    import pandas as pd

    from core.data.ingest import import_file
    from core.storage.tables import Deployment, DeploymentVersion, RegisteredModel

    pd.DataFrame({"prompt": ["How do I reset my password?"] * 5, "latency_s": [1.0] * 5}).to_csv(tmp_path / "t.csv",
                                                                                               index=False)
    import_file(store, actor=SYSTEM, path=tmp_path / "t.csv", name="support-train")
    with store.write() as session:  # what a fine-tune (adapter lineage) and a deployment leave behind
        session.add(RegisteredModel(name="support-lora", kind="adapter", task="chat", source="job 1",
                                    info={"dataset_version": "support-train@1"}, created_by="dan"))
        deployment = Deployment(name="support-bot", current_version=1, created_by="dan")
        session.add(deployment)
        session.flush()
        session.add(DeploymentVersion(deployment_id=deployment.id, version=1, model="support-lora", created_by="dan"))
    assert monitors.proposed_reference(store, actor=VIEWER, deployment="support-bot") == "support-train@1"
    info = monitors.create_monitor(store, actor=SCIENTIST, name="lineage", reference="lineage",
                                   deployment="support-bot", fields=["prompt_chars", "latency_s"])
    assert info.reference == {"kind": "dataset", "ref": "support-train@1"}
    assert monitors.proposed_reference(store, actor=VIEWER, deployment="other") is None
    with pytest.raises(InvalidInput, match="needs --deployment"):
        monitors.create_monitor(store, actor=SCIENTIST, name="x", reference="lineage", fields=["latency_s"])
