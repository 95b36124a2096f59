"""The guarded support bot's demo traffic: a share of its events carry the hits of the deployment's own guards,
blocked requests are logged as the server logs them, and a second seed adds nothing."""
from collections import Counter

import pytest

from core.evaluation.demo import GUARDRAILS
from core.events.query import EventFilter, list_events
from core.governance.roles import SYSTEM
from core.guardrails import apply
from core.guardrails.demo import seed_guarded_traffic
from core.models import sources
from core.serving import deployments
from tests.core.models.helpers import SERVER_KEY, openai_server


@pytest.fixture
def guarded(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
    deployments.create_version(store, actor=SYSTEM, name="bot-guarded", model="remote", guardrails=GUARDRAILS)
    return "bot-guarded"


def test_guarded_demo_traffic_carries_the_guards_real_hits(store, guarded):
    flagged = seed_guarded_traffic(store, actor=SYSTEM, deployment=guarded)
    events = list_events(store, actor=SYSTEM, filters=EventFilter(deployment=guarded, limit=5000))
    assert 0.05 < flagged / len(events) < 0.25  # a share, not all
    kinds = Counter((e.metadata["probe"], frozenset((h["guard"], h["action"]) for h in e.guard_flags or []))
                    for e in events)
    assert kinds[("injection", frozenset({("injection", "block")}))] > 0
    assert kinds[("pii", frozenset({("pii", "redact")}))] > 0
    assert not any(flags for (probe, flags) in kinds if probe == "benign")
    for event in events:
        user = next(m["content"] for m in event.input if m["role"] == "user")
        if event.finish_reason == "content_filter":  # blocked: the original request, the blocked reply
            assert event.output == GUARDRAILS["blocked_reply"] and event.tokens_out == 0
            assert apply.guard_text(GUARDRAILS["input"], "input", user)[2] is True
        else:  # what was logged is what the guards let through: redacted PII never reaches the log
            assert apply.guard_text(GUARDRAILS["input"], "input", user)[1] == []
    assert seed_guarded_traffic(store, actor=SYSTEM, deployment=guarded) == 0
    assert len(list_events(store, actor=SYSTEM, filters=EventFilter(deployment=guarded, limit=5000))) == len(events)
