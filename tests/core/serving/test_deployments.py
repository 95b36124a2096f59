"""Deployments: versions, promotion through the gate, rollback, sticky traffic split, traffic counts and lineage."""
import pytest

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.events.log import log_events
from core.events.schema import EventIn
from core.governance import audit
from core.governance.roles import SYSTEM, Role
from core.models import bundled
from core.serving import deployments, gates

CHAT = bundled.DEFAULT_CHAT_MODEL


def test_versions_promote_and_roll_back_one_audited_step_each(models_store):
    store = models_store
    first = deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT, defaults={"max_tokens": 50})
    assert first.version == 1 and first.promoted_at is not None  # the first version serves at once
    second = deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT, defaults={"temperature": 0.3},
                                        fallback_model=CHAT, timeout_s=5)
    assert deployments.resolve(store, "bot").version.version == 1  # a new version waits for promotion
    assert deployments.promote(store, actor=SYSTEM, name="bot").current_version == 2
    resolved = deployments.resolve(store, "bot", "anyone")
    assert (resolved.version.version, resolved.arm, resolved.version.defaults) == (2, "primary", {"temperature": 0.3})
    with pytest.raises(Conflict):
        deployments.promote(store, actor=SYSTEM, name="bot", version=2)
    assert deployments.rollback(store, actor=SYSTEM, name="bot").current_version == 1
    with pytest.raises(Conflict, match="no earlier"):
        deployments.rollback(store, actor=SYSTEM, name="bot")
    actions = [e.action for e in audit.list_events(store, actor=SYSTEM) if e.action.startswith("deployment.")]
    assert actions[:4] == ["deployment.rollback", "deployment.promote", "deployment.version", "deployment.version"]
    assert second.fallback_model == CHAT
    assert deployments.resolve(store, "no-such") is None


def test_a_failed_gate_refuses_promotion_unless_an_admin_forces_it(models_store, people, monkeypatch):
    store = models_store
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT)
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT)
    monkeypatch.setattr(gates, "check_promotion", lambda *a, **k: {"passed": False, "summary": "accuracy 0.4 < 0.8"})
    with pytest.raises(Conflict, match="accuracy 0.4"):
        deployments.promote(store, actor=SYSTEM, name="bot")
    # A data scientist may promote, but not past a failed gate: that is an admin's audited call.
    with pytest.raises(PermissionDenied):
        deployments.promote(store, actor=people[Role.DATA_SCIENTIST].as_actor(), name="bot", force=True)
    assert deployments.get_deployment(store, actor=SYSTEM, name="bot").current_version == 1
    promoted = deployments.promote(store, actor=SYSTEM, name="bot", force=True)
    assert promoted.current.gate_result == {"passed": False, "summary": "accuracy 0.4 < 0.8"}


def test_a_traffic_split_is_sticky_per_end_user_and_near_its_weight(models_store):
    store = models_store
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT)
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT)
    deployments.set_traffic(store, actor=SYSTEM, name="bot", candidate=2, weight=0.3)
    arms = {f"user-{i}": deployments.resolve(store, "bot", f"user-{i}").arm for i in range(400)}
    assert all(deployments.resolve(store, "bot", u).arm == arm for u, arm in list(arms.items())[:50])
    share = sum(a == "candidate" for a in arms.values()) / len(arms)
    assert 0.2 < share < 0.4
    with pytest.raises(InvalidInput):
        deployments.set_traffic(store, actor=SYSTEM, name="bot", candidate=2, weight=1.5)
    deployments.set_traffic(store, actor=SYSTEM, name="bot", candidate=None, weight=0)
    assert {deployments.resolve(store, "bot", u).arm for u in list(arms)[:50]} == {"primary"}


def test_bad_versions_are_refused_and_viewers_cannot_deploy(models_store, people):
    store = models_store
    with pytest.raises(NotFound):
        deployments.create_version(store, actor=SYSTEM, name="bot", model="no-such-model")
    with pytest.raises(InvalidInput):
        deployments.create_version(store, actor=SYSTEM, name="bot", model="minilm-l6-v2")  # an embedding model
    with pytest.raises(InvalidInput):
        deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT, defaults={"colour": "red"})
    with pytest.raises(NotFound):
        deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT, template="no-template@production")
    with pytest.raises(PermissionDenied):
        deployments.create_version(store, actor=people[Role.VIEWER].as_actor(), name="bot", model=CHAT)


def test_traffic_counts_come_from_the_event_log_and_lineage_reaches_the_model(models_store):
    store = models_store
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT)
    log_events(store, [EventIn(model=CHAT, input="hi", deployment="bot", deployment_version=1, arm="primary",
                               status="ok" if i % 4 else "error", feedback_score=1.0 if i % 2 else None)
                       for i in range(8)])
    assert deployments.traffic(store, actor=SYSTEM, name="bot") == [
        {"version": 1, "arm": "primary", "calls": 8, "errors": 2, "thumbs_up": 4, "feedback": 4}]
    lineage = deployments.lineage(store, actor=SYSTEM, name="bot")
    assert (lineage["deployment"], lineage["model"], lineage["kind"]) == ("bot@1", CHAT, "bundled")
