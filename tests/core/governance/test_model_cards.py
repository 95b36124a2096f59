"""Model cards: built from the registry and evaluations, editable text audited, exports escape everything."""
import pytest

from core.errors import PermissionDenied
from core.evaluation import suites
from core.governance import audit, model_cards
from core.governance.roles import SYSTEM, Actor, Role
from core.models import registry


@pytest.fixture
def model(store):
    registry.register_model(store, actor=SYSTEM, name="helper", kind="openai", task="chat", source="http://x",
                            details={"info": {"license": "apache-2.0", "description": "A helper."}})
    return "helper"


def test_card_holds_registry_facts_and_edited_text(store, model):
    model_cards.set_card_text(store, actor=SYSTEM, model=model, intended_use="Support replies in English.",
                              limitations="<script>alert(1)</script> Not for legal advice | ever.")
    card = model_cards.build_card(store, actor=SYSTEM, model=model)
    assert card["licence"] == "apache-2.0" and card["intended_use"] == "Support replies in English."
    markdown = model_cards.to_markdown(card)
    assert "# Model card: helper" in markdown and "apache-2.0" in markdown
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    page = model_cards.to_html(card)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="model_card.edit"))


def test_only_model_managers_edit_cards(store, model):
    with pytest.raises(PermissionDenied):
        model_cards.set_card_text(store, actor=Actor("vic", Role.VIEWER), model=model, intended_use="x",
                                  limitations=None)
    assert model_cards.build_card(store, actor=Actor("vic", Role.VIEWER), model=model)["model"] == "helper"


def test_card_shows_gate_results_of_deployment_versions_and_guardrail_incident_rates(store, monkeypatch):
    from core.evaluation import gates
    from core.events.log import log_events
    from core.events.schema import EventIn
    from core.models import sources
    from core.serving import deployments
    from tests.core.models.helpers import SERVER_KEY, openai_server

    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    suites.create_suite(store, actor=SYSTEM, name="gate", checks=[{"check": "no_pii", "safety": True}],
                        cases=[suites.CaseIn({"input": "hello"}), suites.CaseIn({"input": "refund"})])
    guards = {"input": [{"guard": "injection", "action": "block"}], "output": [{"guard": "pii", "action": "redact"}]}
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        deployments.create_version(store, actor=SYSTEM, name="bot", model="remote")
        deployments.create_version(store, actor=SYSTEM, name="bot", model="remote", guardrails=guards)
        result = gates.run_gate(store, actor=SYSTEM, suite="gate", candidate="deployment:bot@2",
                                baseline="deployment:bot@1", deployment="bot", deployment_version=2)
    flag = [{"guard": "injection", "stage": "input", "action": "block", "span": [0, 6]}]
    log_events(store, [EventIn(model="remote", deployment="bot", deployment_version=2, guard_flags=flags)
                       for flags in (flag, None, [], None)])
    log_events(store, [EventIn(model="other", deployment="bot", guard_flags=flag)])  # another model's traffic
    card = model_cards.build_card(store, actor=SYSTEM, model="remote")
    assert [(g["id"], g["deployment"], g["deployment_version"], g["passed"]) for g in card["evaluation"]["gates"]] \
        == [(result.id, "bot", 2, True)]
    assert card["guardrails"] == [{"deployment": "bot", "events": 4, "flagged": 1, "incident_rate": 0.25,
                                   "guards": ["input injection (block)", "output pii (redact)"]}]
    markdown = model_cards.to_markdown(card)
    assert "## Guardrail incidents" in markdown and "1 of 4 requests flagged by a guard (25.0%)" in markdown
    assert f"Gate {result.id} (gate@1) on bot@2" in markdown and "deployment:bot@2 vs deployment:bot@1: passed" \
        in markdown
