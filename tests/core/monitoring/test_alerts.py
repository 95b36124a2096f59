"""Alerts: one open alert per source, acknowledge and resolve audited, the webhook never blocks."""
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core.errors import Conflict, InvalidInput, PermissionDenied
from core.governance import audit
from core.governance.audit import AuditFilter
from core.governance.roles import SYSTEM, Actor, Role
from core.monitoring import alerts, webhook

VIEWER = Actor(name="vic", role=Role.VIEWER)
SCIENTIST = Actor(name="dan", role=Role.DATA_SCIENTIST)


def _open(store, source="monitor:1", **kw):
    return alerts.open_alert(store, kind="drift", source=source, title="Prompt length drifted",
                             message="Prompts are 70% longer since 10 Feb.", **{"severity": "warning", **kw})


@pytest.mark.postgres
def test_raising_the_same_source_again_updates_the_open_alert_instead_of_opening_another(any_store):
    first = _open(any_store)
    again = _open(any_store, severity="critical", details={"windows": 3})
    assert again.id == first.id and again.times_raised == 2
    assert again.severity == "critical" and again.details == {"windows": 3}
    other = _open(any_store, source="kpi_target:2")
    assert other.id != first.id
    assert [a.id for a in alerts.list_alerts(any_store, actor=VIEWER, status="active")] == [other.id, first.id]


@pytest.mark.postgres
def test_acknowledge_and_resolve_keep_who_and_when_and_are_audited(any_store):
    alert = _open(any_store)
    acked = alerts.acknowledge(any_store, actor=SCIENTIST, alert_id=alert.id, note="looking")
    assert acked.status == "acknowledged" and acked.acknowledged_by == "dan" and acked.acknowledged_at
    assert _open(any_store).id == alert.id  # still active: a new breach raises the same alert
    resolved = alerts.resolve(any_store, actor=SCIENTIST, alert_id=alert.id, note="retrained")
    assert resolved.status == "resolved" and resolved.resolved_by == "dan" and resolved.note == "retrained"
    with pytest.raises(Conflict):
        alerts.resolve(any_store, actor=SCIENTIST, alert_id=alert.id)
    reopened = _open(any_store)
    assert reopened.id != alert.id and reopened.status == "open"
    actions = [e.action for e in audit.list_events(any_store, actor=SYSTEM, filters=AuditFilter(target_type="alert"))]
    assert actions == ["alert.open", "alert.resolve", "alert.acknowledge", "alert.open"]


def test_viewers_read_alerts_but_may_not_handle_them(store):
    alert = _open(store)
    assert alerts.get_alert(store, actor=VIEWER, alert_id=alert.id).title == "Prompt length drifted"
    with pytest.raises(PermissionDenied):
        alerts.acknowledge(store, actor=VIEWER, alert_id=alert.id)
    with pytest.raises(PermissionDenied):
        alerts.list_alerts(store, actor=Actor(name="ann", role=Role.ANNOTATOR))


def test_bad_kind_or_severity_is_one_sentence(store):
    with pytest.raises(InvalidInput, match="not an alert kind"):
        alerts.open_alert(store, kind="other", source="x", title="t", message="m")
    with pytest.raises(InvalidInput, match="not a severity"):
        alerts.open_alert(store, kind="kpi", source="x", title="t", message="m", severity="meh")


class _Receiver(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    _Receiver.status = 200
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_a_new_alert_is_posted_to_the_allow_listed_webhook_once(store, receiver, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{receiver.server_port}/hook")
    monkeypatch.setenv("WORKBENCH_ALERT_WEBHOOK_HOSTS", "127.0.0.1")
    alert = _open(store)
    _open(store)  # raised again: no second post
    alerts.wait_for_webhooks()
    assert [p["alert"]["source"] for p in _Receiver.received] == ["monitor:1"]
    assert alerts.get_alert(store, actor=VIEWER, alert_id=alert.id).webhook_status == "delivered (HTTP 200)"


def test_a_host_off_the_allow_list_is_never_called(store, receiver, monkeypatch):
    monkeypatch.setenv("WORKBENCH_ALERT_WEBHOOK_URL", f"http://localhost:{receiver.server_port}/hook")
    monkeypatch.setenv("WORKBENCH_ALERT_WEBHOOK_HOSTS", "hooks.example.com")
    alert = _open(store)
    alerts.wait_for_webhooks()
    assert _Receiver.received == []
    assert "not in WORKBENCH_ALERT_WEBHOOK_HOSTS" in alerts.get_alert(store, actor=VIEWER, alert_id=alert.id).webhook_status


def test_a_failing_webhook_is_retried_then_recorded_without_failing_the_caller(receiver):
    _Receiver.status = 503
    status = webhook.post(f"http://127.0.0.1:{receiver.server_port}/hook", {"x": 1}, attempts=3, backoff_s=0.01)
    assert status == "failed after 3 attempts: HTTP 503" and len(_Receiver.received) == 3
    closed = webhook.post("http://127.0.0.1:9/nothing", {"x": 1}, attempts=2, backoff_s=0.01, timeout_s=1)
    assert closed.startswith("failed after 2 attempts")
